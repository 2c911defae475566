"""The planner knows bottleneck adapters: exact trainable counts, measured CPU peaks, plan's notes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.planning.test_cpu_peaks import BENCH, REPO


@pytest.mark.parametrize("name", ["adapter-plain", "adapter-ckpt-chunked"])
def test_adapter_estimate_is_within_20_percent_of_a_measured_cpu_peak(name: str) -> None:
    case = next(c for c in BENCH.CASES if c.name == name)
    result = BENCH.run_case(case)
    assert result.measured_resident == pytest.approx(result.estimated_resident, rel=0.02)
    assert result.estimated == pytest.approx(result.measured, rel=0.20)


@pytest.mark.parametrize("placement, per_layer", [("both", 2), ("mlp", 1)])
def test_adapter_trainables_equal_the_attached_parameters(placement: str, per_layer: int) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from framework.bottleneck import attach
    from framework.facts import facts_from_config
    from framework.planning.shapes import shape_from_facts
    from framework.planning.trainables import trainables_for

    config = LlamaConfig(hidden_size=96, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=300)
    model = LlamaForCausalLM(config)
    attach(model, dim=24, placement=placement, nonlinearity="silu", dropout=0.0)
    actual = sum(p.numel() for n, p in model.named_parameters() if ".bottleneck_" in n)
    shape = shape_from_facts(facts_from_config(config.to_dict(), "tiny"))
    planned = trainables_for(shape, method="adapter", compute_dtype="bf16", adapted=frozenset(), lora_r=8,
                             adapter_dtype="fp32", freeze_layers=2, num_virtual_tokens=16, adapter_dim=24,
                             adapters_per_layer=per_layer)
    assert planned.count == actual
    assert planned.param_bytes == 4 and all(p.dtype == torch.float32 for n, p in model.named_parameters()
                                             if ".bottleneck_" in n)


def test_adapter_is_cheaper_than_full_and_chosen_when_allowed(official) -> None:
    from framework.planning import choose_method, parse_size

    facts = official("Meta-Llama-3-8B")
    choice = choose_method(facts, gpu_bytes=parse_size("24GB"), seq_len=2048, allowed=("full", "adapter"))
    assert choice.fits and choice.method == "adapter"
    assert dict((m, fits) for m, _, fits in choice.alternatives) == {"full": False, "adapter": True}


def test_plan_shows_adapter_memory_and_the_many_tasks_note(tiny_model_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from framework.cli import main

    assert main(["plan", "--model", str(tiny_model_dir), "--method", "adapter", "--cutoff-len", "256", "--set", "adapter.dim=16",
                 "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["method"] == "adapter"
    assert any("many tasks" in note and "LoRA" in note for note in plan["method_notes"])
    small = plan["memory"]["breakdown"]["adapter_weights"]
    assert main(["plan", "--model", str(tiny_model_dir), "--method", "adapter", "--cutoff-len", "256", "--set", "adapter.dim=32",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["memory"]["breakdown"]["adapter_weights"] > small
    assert main(["plan", "--model", str(tiny_model_dir), "--method", "lora", "--cutoff-len", "256"]) == 0
    assert "note       many tasks served from one base -> adapter" in capsys.readouterr().out


def test_plan_gpu_says_whether_the_named_adapter_method_fits(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`plan --gpu` beside its own choice says whether --method adapter fits (Llama 3 8B shapes, offline)."""
    from framework.cli import main

    model = tmp_path / "llama3-8b-shapes"
    model.mkdir()
    (model / "config.json").write_text((REPO / "tests" / "oracles" / "configs" / "Meta-Llama-3-8B.config.json")
                                       .read_text())
    assert main(["plan", "--model", str(model), "--method", "adapter", "--gpu", "24GB", "--cutoff-len", "2048",
                 "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    own = plan["gpu_method"]
    assert own["method"] == "adapter" and own["fits"] and "adapter fits" in own["reason"]
    assert main(["plan", "--model", str(model), "--method", "adapter", "--gpu", "8GB", "--cutoff-len", "2048"]) == 0
    assert "gpu 8GB: --method adapter does not fit" in capsys.readouterr().out
