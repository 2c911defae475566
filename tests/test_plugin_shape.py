"""Plugins of one shape: every in-tree plugin and the ``framework new-plugin`` scaffold have the
same modules with the same roles and hooks with the hookspecs' own signatures, so a diff between
two plugins shows only family facts.

``detect.match`` claims models (config.json and the shipped template), ``chat`` renders the
format, ``tools`` writes tool syntax, ``vocab`` names control tokens, ``tokenizer`` builds an
offline tokenizer for tests and tiny models, ``checks`` finds pitfalls, ``presets`` holds
defaults, load settings and LoRA targets, ``checkpoints`` the published configs, ``rope``
extends the context, and ``plugin`` holds the hook implementations.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from framework import hookspecs
from framework.scaffold import TEMPLATES

ROOT = Path(__file__).resolve().parents[1]
SHAPE = {"__init__.py", "plugin.py", "detect.py", "chat.py", "tools.py", "vocab.py", "tokenizer.py", "checks.py",
         "presets.py", "checkpoints.py", "rope.py"}
#: Every plugin's tests have one module per knowledge module, plus the contract and the oracle checks.
TEST_SHAPE = {f"test_{name}" for name in ("detect.py", "chat.py", "tools.py", "vocab.py", "tokenizer.py",
                                         "checks.py", "presets.py", "checkpoints.py", "rope.py", "contract.py")}


def _packages() -> list[Path]:
    """The in-tree plugins and the tutorial's worked example of a third-party plugin."""
    found = [*ROOT.glob("plugins/*/framework_*/__init__.py"), *ROOT.glob("examples/*/framework_*/__init__.py")]
    return sorted(p.parent for p in found)


def _modules(package: Path) -> set[str]:
    return {p.name for p in package.glob("*.py")}


def test_every_in_tree_plugin_has_exactly_the_shape() -> None:
    packages = _packages()
    assert len(packages) >= 6, packages
    for package in packages:
        modules = _modules(package)
        assert modules == SHAPE, (f"{package.relative_to(ROOT)}: missing {sorted(SHAPE - modules)}, "
                                  f"not in the shape {sorted(modules - SHAPE)}")
        assert "def match(" in (package / "detect.py").read_text(encoding="utf-8"), package


def test_every_in_tree_plugin_tests_each_module() -> None:
    for package in _packages():
        tests = {p.name for p in (package.parent / "tests").glob("test_*.py")}
        assert TEST_SHAPE <= tests, f"{package.parent.relative_to(ROOT)}/tests lacks {sorted(TEST_SHAPE - tests)}"


@pytest.mark.parametrize("package", _packages(), ids=lambda p: p.name)
def test_hookimpls_take_the_hookspecs_parameters(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pluggy accepts a subset; in-tree plugins take the full list so two plugin.py files diff by family only."""
    monkeypatch.syspath_prepend(str(package.parent))  # the example is not installed in the test environment
    module = importlib.import_module(f"{package.name}.plugin")
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if getattr(function, f"{hookspecs.NAME}_impl", None) is None:
            continue
        spec = list(inspect.signature(getattr(hookspecs, name)).parameters)
        assert list(inspect.signature(function).parameters) == spec, f"{package.name}.plugin.{name}"


#: Which module answers each hook, under which name, in every plugin.
DELEGATES = {
    "match_model": "detect.match(", "model_load_settings": "presets.load_settings(",
    "default_hyperparameters": "presets.default_hyperparameters(", "rope_scaling": "rope.decide(",
    "known_model_configs": "checkpoints.known_model_configs(", "check_tokenizer": "checks.check_tokenizer(",
    "render_chat": "chat.render(", "chat_features": "chat.features", "stop_tokens": "chat.stop_tokens(",
    "check_data": "checks.check_data(", "lora_target_modules": "presets.lora_targets(",
    "check_model": "checks.check_model(", "provide_demo_model": "checkpoints.provide_demo_model(",
}


def _answered_by_its_module(hook: str, body: str) -> bool:
    """A constant answer counts too: ``chat.FEATURES`` for a format whose features never change."""
    return body.startswith(DELEGATES[hook]) or (hook == "chat_features" and body == "chat.FEATURES")


def _delegations(source: str) -> dict[str, str]:
    """hook name -> the body of its one-line implementation, read from plugin.py's text."""
    found, hook = {}, None
    for line in source.splitlines():
        if line.startswith("def "):
            hook = line[4:].split("(")[0]
        elif hook and line.strip().startswith("return "):
            found[hook], hook = line.strip()[len("return "):], None
    return found


@pytest.mark.parametrize("package", _packages(), ids=lambda p: p.name)
def test_each_hook_is_answered_by_the_same_module_in_every_plugin(package: Path) -> None:
    delegations = _delegations((package / "plugin.py").read_text(encoding="utf-8"))
    assert delegations.keys() <= DELEGATES.keys(), sorted(delegations.keys() - DELEGATES.keys())
    wrong = {hook: body for hook, body in delegations.items() if not _answered_by_its_module(hook, body)}
    assert not wrong, f"{package.name}.plugin: hooks not answered by their module: {wrong}"


def test_the_scaffold_generates_the_shape(tmp_path: Path) -> None:
    from framework.scaffold import create_plugin

    generated = {Path(t).name for t in TEMPLATES.values() if t.startswith("framework___NAME__/")}
    assert generated == SHAPE
    root = create_plugin("shapefamily", tmp_path)
    package = root / "framework_shapefamily"
    assert _modules(package) == SHAPE
    assert TEST_SHAPE <= {p.name for p in (root / "tests").glob("test_*.py")}
    plugin = (package / "plugin.py").read_text(encoding="utf-8")
    assert "from framework_shapefamily import chat, checkpoints, checks, detect, presets, rope" in plugin
    assert "return detect.match(facts)" in plugin
    assert _delegations(plugin) and all(_answered_by_its_module(hook, body)
                                        for hook, body in _delegations(plugin).items())
def test_the_contracts_packing_check_sees_samples_that_attend_to_each_other() -> None:
    """``PluginContract.test_packing_is_exact_where_allowed`` runs this on every plugin's tiny model."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from framework.testing.problems import packing_problems

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2))
    assert packing_problems(model) == []

    class IgnoresPositions(torch.nn.Module):
        """One causal sequence for the whole row: the second sample sees the first."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def get_input_embeddings(self) -> torch.nn.Module:
            return self.inner.get_input_embeddings()

        def forward(self, input_ids: torch.Tensor, **kwargs: object) -> object:
            return self.inner(input_ids, use_cache=False)

    problems = packing_problems(IgnoresPositions())
    assert len(problems) == 1 and problems[0].startswith("packed sample 1 (11 tokens) differs")
