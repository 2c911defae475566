"""Every SFT method trains the tiny model, lowers the loss, saves, and reloads to the same logits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch

IDS = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 12]])

#: method -> extra settings; learning rates are high because the model is random and tiny.
METHODS: dict[str, list[str]] = {
    "full": ["training.learning_rate=3e-3"],
    "freeze": ["training.learning_rate=1e-2", "freeze.trainable_layers=1"],
    "lora": ["training.learning_rate=3e-2"],
    "dora": ["training.learning_rate=3e-2"],
    "rslora": ["training.learning_rate=3e-2"],
    "qlora": ["training.learning_rate=1e-2"],
    "qlora8": ["training.learning_rate=1e-2"],
    "prefix": ["training.learning_rate=5e-2", "prompt.num_virtual_tokens=4"],
    "prompt": ["training.learning_rate=5e-2", "prompt.num_virtual_tokens=4"],
    "ptuning": ["training.learning_rate=5e-2", "prompt.num_virtual_tokens=4"],
}


def _logits(model: Any) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=IDS).logits.float()


def _share(said: list[str], method: str) -> float:
    line = next(s for s in said if s.startswith(f"method {method}: trainable params:"))
    match = re.search(r"trainable params: ([\d,]+) \|\| all params: ([\d,]+) \|\| trainable%: ([\d.]+)", line)
    assert match, line
    trainable, total = (int(g.replace(",", "")) for g in match.groups()[:2])
    assert 0 < trainable <= total
    return float(match.group(3))


@pytest.mark.parametrize("method", list(METHODS))
def test_method_trains_saves_and_reloads(method: str, train: Any, wide_model_dir: Path) -> None:
    from framework.inference import load_run

    quantized = method in ("qlora", "qlora8")
    run = train(method=method, sets=METHODS[method], model=wide_model_dir if quantized else None)
    m = run.metrics
    assert m["steps"] == 4
    assert m["train_loss_last"] < m["train_loss_first"], m["train_history"]
    share = _share(run.said, method)
    assert (share == 100.0) if method == "full" else (0 < share < 100.0)

    out = run.output_dir
    full_model = method in ("full", "freeze")
    assert (out / "model.safetensors").exists() == full_model
    assert (out / "adapter_config.json").exists() != full_model
    expected = _logits(run.model)
    reloaded = load_run(out)
    got = _logits(reloaded.model)
    if quantized:
        # load_run puts the adapter on the unquantized base: close, not equal
        assert (got - expected).abs().max() < 0.1
    else:
        assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


@pytest.mark.parametrize("method, layer", [("qlora", "Linear4bit"), ("qlora8", "Linear8bitLt")])
def test_quantized_methods_run_quantized_and_reload_exactly(method: str, layer: str, train: Any,
                                                           wide_model_dir: Path) -> None:
    """bitsandbytes 0.50 runs both 4-bit NF4 (double quant) and 8-bit layers on CPU."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from framework.methods import quantization_config

    run = train(method=method, sets=METHODS[method], model=wide_model_dir)
    kinds = {type(module).__name__ for module in run.model.modules()}
    assert layer in kinds
    if method == "qlora":
        quantized = next(mod for mod in run.model.modules() if type(mod).__name__ == "Linear4bit")
        assert quantized.weight.quant_type == "nf4" and quantized.weight.compress_statistics  # double quantization
    base = AutoModelForCausalLM.from_pretrained(wide_model_dir, dtype=torch.float32,
                                                quantization_config=quantization_config(method, "fp32"))
    reloaded = PeftModel.from_pretrained(base, run.output_dir)
    assert torch.allclose(_logits(reloaded), _logits(run.model), atol=1e-5)


def test_freeze_by_module_names_trains_only_those(train: Any) -> None:
    run = train(method="freeze", sets=["training.learning_rate=1e-2", "freeze.trainable_modules=[mlp]"])
    trained = {name for name, p in run.model.named_parameters() if p.requires_grad}
    assert trained and all("mlp" in name for name in trained)
    assert run.metrics["train_loss_last"] < run.metrics["train_loss_first"]


def test_freeze_top_layers_leaves_lower_layers_untouched(train: Any, tiny_model_dir: Path) -> None:
    from safetensors.torch import load_file

    run = train(method="freeze", sets=["training.learning_rate=1e-2", "freeze.trainable_layers=1"])
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(run.output_dir / "model.safetensors")
    lower = [k for k in before if ".layers.0." in k]
    upper = [k for k in before if ".layers.1." in k]
    assert lower and upper
    assert all(torch.equal(before[k], after[k]) for k in lower)
    assert any(not torch.equal(before[k], after[k]) for k in upper)
