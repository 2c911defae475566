"""Plugins of one shape: every in-tree plugin and the ``framework new-plugin`` scaffold have the
same modules with the same roles, so a diff between two plugins shows only family facts.

``detect.match`` claims models, ``chat`` renders the format, ``checks`` finds pitfalls,
``presets`` holds defaults, load settings and LoRA targets, ``rope`` extends the context, and
``plugin`` holds the hook implementations. A plugin may add modules for its own facts.
"""

from __future__ import annotations

from pathlib import Path

from framework.scaffold import TEMPLATES

ROOT = Path(__file__).resolve().parents[1]
SHAPE = {"__init__.py", "detect.py", "chat.py", "checks.py", "presets.py", "rope.py", "plugin.py"}


def _packages() -> list[Path]:
    return sorted(p.parent for p in ROOT.glob("plugins/*/framework_*/__init__.py"))


def test_every_in_tree_plugin_has_the_shape() -> None:
    packages = _packages()
    assert len(packages) >= 5, packages
    for package in packages:
        missing = SHAPE - {p.name for p in package.glob("*.py")}
        assert not missing, f"{package.relative_to(ROOT)} lacks {sorted(missing)}"
        assert "def match(" in (package / "detect.py").read_text(encoding="utf-8"), package


def test_the_scaffold_generates_the_shape(tmp_path: Path) -> None:
    from framework.scaffold import create_plugin

    generated = {Path(t).name for t in TEMPLATES.values() if t.startswith("framework___NAME__/")}
    assert SHAPE <= generated
    package = create_plugin("shapefamily", tmp_path) / "framework_shapefamily"
    assert SHAPE <= {p.name for p in package.glob("*.py")}
    plugin = (package / "plugin.py").read_text(encoding="utf-8")
    assert "from framework_shapefamily import chat, checks, detect, presets, rope" in plugin
    assert "return detect.match(facts)" in plugin


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
