"""docs/plugins.md documents every hook, and its generated reference matches framework/hookspecs.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_tool() -> ModuleType:
    """tools/ is not a package: load the generator from its file."""
    name = "gen_plugin_docs"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "gen_plugin_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


TOOL = load_tool()
HOOKS = TOOL.collect()


def test_every_hookspec_is_collected() -> None:
    from framework import hookspecs

    specs = {name for name, f in vars(hookspecs).items() if getattr(f, f"{hookspecs.NAME}_spec", None) is not None}
    assert {hook.name for hook in HOOKS} == specs


@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_hook_is_documented(hook) -> None:
    """A summary, an Args: entry for every argument, and Returns: unless the hook returns None."""
    assert TOOL.doc_problems(hook) == []


def test_generated_reference_is_up_to_date() -> None:
    document = TOOL.DOC.read_text(encoding="utf-8")
    assert TOOL.replace_section(document, TOOL.generate()) == document, (
        "docs/plugins.md is out of date with framework/hookspecs.py: run python tools/gen_plugin_docs.py")


def test_reference_has_a_section_per_hook() -> None:
    document = TOOL.DOC.read_text(encoding="utf-8")
    for hook in HOOKS:
        assert f"### `{hook.name}`" in document
        assert f"def {hook.signature()}" in document


def test_doc_problems_catch_missing_sections() -> None:
    bare = TOOL.HookDoc("fake", "Group", (("facts", "ModelFacts"), ("tokenizer", "Any")), "list[str] | None",
                        True, "Summary only.")
    assert TOOL.doc_problems(bare) == ["fake: no Args: section (arguments facts, tokenizer)",
                                       "fake: no Returns: section (returns list[str] | None)"]
    partial = TOOL.HookDoc("fake", "Group", (("facts", "ModelFacts"),), "None", False,
                           "Summary.\n\nArgs:\n    facts: the facts.\n    extra: not an argument.")
    assert TOOL.doc_problems(partial) == ["fake: Args: describes extra, which the hook does not take"]
    assert TOOL.doc_problems(TOOL.HookDoc("fake", "G", (), "None", False, "")) == ["fake: empty docstring"]


def test_check_mode_reports_a_stale_section_and_the_writer_fixes_it(tmp_path: Path, monkeypatch) -> None:
    stale = tmp_path / "plugins.md"
    stale.write_text(f"# Title\n\n{TOOL.BEGIN}\nold text\n{TOOL.END}\n\nafter\n", encoding="utf-8")
    monkeypatch.setattr(TOOL, "DOC", stale)
    monkeypatch.setattr(TOOL, "ROOT", tmp_path)
    monkeypatch.setattr(TOOL, "doc_problems", lambda hook: [])
    assert TOOL.main(["--check"]) == 1
    assert "old text" in stale.read_text(encoding="utf-8")
    assert TOOL.main([]) == 0
    text = stale.read_text(encoding="utf-8")
    assert "old text" not in text and text.startswith("# Title") and text.endswith("after\n")
    assert TOOL.main(["--check"]) == 0


def test_literal_blocks_become_fenced_code() -> None:
    text = TOOL._markdown(["Declare it::", "", "    [project.entry-points.framework]", "", "Then ``x``."])
    assert text == "Declare it:\n\n```\n[project.entry-points.framework]\n```\n\nThen `x`."
