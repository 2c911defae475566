"""Discovery, isolation of broken plugins, selection and the naming of misbehaving plugins."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import pytest

from framework import hookimpl
from framework.errors import PluginError, SelectionError
from framework.facts import facts_from_config
from framework.hookdata import MatchResult
from framework.plugins import make_plugin_host

FACTS = facts_from_config({"model_type": "toy", "vocab_size": 10, "architectures": ["ToyForCausalLM"]}, "toy")


def _plugin(name: str, score: int | None, **hooks: object) -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def match_model(facts):  # type: ignore[no-untyped-def]
        return None if score is None else MatchResult(score=score, variant="v1", reasons=("model_type=toy",))

    module.match_model = match_model  # type: ignore[attr-defined]
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn))
    return module


def _fake_distribution(root: Path, dist: str, ep_name: str, module: str, source: str) -> None:
    """Install a real distribution (dist-info + entry point) onto a directory on sys.path."""
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-9.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 9.9\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[framework]\n{ep_name} = {module}\n", encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_broken_plugin_is_reported_and_others_keep_working(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_distribution(site, "framework-broken", "broken", "broken_plugin", "raise ImportError('missing dep xyz')\n")
    _fake_distribution(site, "framework-toy", "toy", "toy_plugin", """
        from framework import hookimpl
        from framework.hookdata import MatchResult
        @hookimpl
        def match_model(facts):
            return MatchResult(score=50, variant="1") if facts.model_type == "toy" else None
    """)
    host = make_plugin_host(strict=False)
    assert host.infos["broken"].status == "failed"
    assert "missing dep xyz" in (host.infos["broken"].error or "")
    assert host.infos["broken"].distribution == "framework-broken" and host.infos["broken"].version == "9.9"
    assert "framework-broken 9.9" in capsys.readouterr().err
    assert host.select(FACTS).name == "toy"


def test_strict_mode_raises(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(site, "framework-broken", "broken", "broken_plugin2", "raise RuntimeError('boom')\n")
    monkeypatch.setenv("FRAMEWORK_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken .*framework-broken 9.9.*boom"):
        make_plugin_host()


def test_disable_and_allow_lists(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(site, "framework-toy", "toy", "toy_plugin3", "from framework import hookimpl\n")
    monkeypatch.setenv("FRAMEWORK_DISABLE_PLUGINS", "toy")
    assert make_plugin_host().infos["toy"].status == "blocked"
    monkeypatch.delenv("FRAMEWORK_DISABLE_PLUGINS")
    monkeypatch.setenv("FRAMEWORK_LOAD_PLUGINS", "nothing-else")
    assert make_plugin_host().infos["toy"].status == "blocked"


def test_incompatible_hook_api_is_skipped(site: Path) -> None:
    _fake_distribution(site, "framework-future", "future", "future_plugin",
                       "FRAMEWORK_HOOK_API = '>=2,<3'\nfrom framework import hookimpl\n")
    info = make_plugin_host().infos["future"]
    assert info.status == "incompatible" and ">=2,<3" in (info.error or "")


def test_highest_score_wins_and_tie_is_an_error() -> None:
    host = make_plugin_host(load_entrypoints=False)
    host.register(_plugin("a", 50), "a")
    host.register(_plugin("b", 100), "b")
    assert host.select(FACTS).name == "b"
    host.register(_plugin("c", 100), "c")
    with pytest.raises(SelectionError, match=r"claimed equally by b \(score 100\), c \(score 100\).*--plugin b"):
        host.select(FACTS)
    assert host.select(FACTS, forced="c").name == "c"


def test_forcing_an_unknown_plugin_lists_installed_ones() -> None:
    host = make_plugin_host(load_entrypoints=False)
    host.register(_plugin("a", 50), "a")
    with pytest.raises(SelectionError, match="installed plugins: a, generic"):
        host.select(FACTS, forced="nope")


def test_no_claim_falls_back_to_generic() -> None:
    host = make_plugin_host(load_entrypoints=False)
    host.register(_plugin("a", None), "a")
    assert host.select(FACTS).name == "generic"


def test_raising_hook_names_plugin_distribution_version_and_hook() -> None:
    host = make_plugin_host(load_entrypoints=False)

    def rope_scaling(facts, target_length):  # type: ignore[no-untyped-def]
        raise KeyError("rope")

    host.register(_plugin("fam", 100, rope_scaling=rope_scaling), "fam", "framework-fam", "1.2.3")
    family = host.family(host.select(FACTS), FACTS)
    with pytest.raises(PluginError, match=r"fam \(framework-fam 1.2.3\) raised in hook rope_scaling"):
        family.rope_scaling(4096)


def test_malformed_return_is_validated_and_named() -> None:
    host = make_plugin_host(load_entrypoints=False)

    def lora_target_modules(facts):  # type: ignore[no-untyped-def]
        return {"target_modules": 5}

    host.register(_plugin("fam", 100, lora_target_modules=lora_target_modules), "fam", "framework-fam", "1.0")
    family = host.family(host.select(FACTS), FACTS)
    with pytest.raises(PluginError, match=r"fam \(framework-fam 1.0\) returned malformed data from hook lora_target_modules"):
        family.lora_targets("lora", False)


def test_only_selected_plugin_answers_family_hooks() -> None:
    host = make_plugin_host(load_entrypoints=False)
    host.register(_plugin("chosen", 100, stop_tokens=lambda facts: ["<chosen>"]), "chosen")
    host.register(_plugin("other", 10, stop_tokens=lambda facts: ["<other>"]), "other")
    family = host.family(host.select(FACTS), FACTS)
    assert family.stop_tokens(None) == ["<chosen>"]
    assert family.facts.variant == "v1"
