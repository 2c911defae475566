"""A misbehaving plugin, installed as a real distribution, as the user meets it on the command line.

tests/test_plugin_host.py proves the host's side at function level (raising hook, malformed
return, tie, broken import, incompatible hook API). Here the same faults come from installed
distributions (dist-info + entry point on sys.path) and go through ``framework plan``: one
line naming plugin, distribution, version and hook; exit 1 for a plugin fault, 2 for a tie
the user settles with --plugin.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from framework.cli import main

CLAIM = """
from framework import hookimpl
from framework.hookdata import MatchResult

@hookimpl
def match_model(facts):
    return MatchResult(score=500, variant="v1", reasons=("model_type=llama",)) if facts.model_type == "llama" else None
"""


def _install(site: Path, name: str, source: str) -> None:
    module = f"{name}_plugin_faults"
    (site / f"{module}.py").write_text(textwrap.dedent(CLAIM + source), encoding="utf-8")
    info = site / f"framework_{name}-9.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: framework-{name}\nVersion: 9.9\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[framework]\n{name} = {module}\n", encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and err.endswith(lines[0]) and "Traceback" not in err, err
    return lines[0]


def test_a_hook_that_raises_is_named(site: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _install(site, "boom", """
@hookimpl
def rope_scaling(facts, target_length):
    raise KeyError("rope_theta")
""")
    assert main(["plan", "--model", str(tiny_model_dir), "--cutoff-len", "128"]) == 1
    line = _error(capsys)
    assert "boom (framework-boom 9.9) raised in hook rope_scaling" in line and "rope_theta" in line


def test_malformed_data_from_a_hook_is_named(site: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _install(site, "garbled", """
@hookimpl
def rope_scaling(facts, target_length):
    return {"action": "explode"}
""")
    assert main(["plan", "--model", str(tiny_model_dir), "--cutoff-len", "128"]) == 1
    assert "garbled (framework-garbled 9.9) returned malformed data from hook rope_scaling" in _error(capsys)


def test_two_plugins_tying_is_a_user_choice(site: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _install(site, "twina", "")
    _install(site, "twinb", "")
    assert main(["plan", "--model", str(tiny_model_dir), "--cutoff-len", "128"]) == 2
    line = _error(capsys)
    assert "claimed equally by twina (score 500), twinb (score 500)" in line and "--plugin twina" in line
    assert main(["plan", "--model", str(tiny_model_dir), "--cutoff-len", "128", "--plugin", "twinb"]) == 0
