"""Random and mutated YAML configs: reading and resolving them raises ConfigError or nothing.

Whatever a user types into a config file (valid keys with wrong values, unknown keys, broken
YAML, binary junk, deep nesting) must end in a ConfigError that the CLI prints as one line,
never in a traceback from yaml or pydantic. (The fuzzer found the one-line rule broken by a
YAML key holding a line break; the CLI now escapes line breaks in error messages.)
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.cli import _report
from framework.config import core_layer, load_yaml_layer, resolve, valid_keys
from framework.errors import ConfigError

KEYS = valid_keys()
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)
keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=20),
                 st.sampled_from(KEYS).map(lambda k: k + "x"), st.sampled_from(KEYS).map(lambda k: k.split(".")[-1]))


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[leaf] = value
    return tree


def _resolve_text(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            resolve([core_layer(), load_yaml_layer(path)])
        except ConfigError as exc:
            printed = io.StringIO()
            with contextlib.redirect_stderr(printed):
                assert _report(exc, debug=False) == 2
            assert printed.getvalue().startswith("error: ") and printed.getvalue().count("\n") == 1, printed.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, values, max_size=6))
def test_random_configs_raise_only_config_error(flat: dict[str, Any]) -> None:
    _resolve_text(yaml.safe_dump(_nest(flat), allow_unicode=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=4),
       st.lists(st.tuples(st.integers(min_value=0, max_value=400), st.binary(max_size=3)), max_size=4))
def test_mutated_configs_raise_only_config_error(flat: dict[str, Any], edits: list[tuple[int, bytes]]) -> None:
    raw = bytearray(yaml.safe_dump(_nest(flat)).encode("utf-8"))
    for position, junk in edits:
        at = position % (len(raw) + 1)
        raw[at:at + len(junk)] = junk
    _resolve_text(bytes(raw))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_config_error(text: str) -> None:
    _resolve_text(text)
