"""Hybrid: full-parameter steps, then LoRA on the updated weights, as one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from framework.errors import ConfigError
from framework.training.hybrid import attach_lora, sample_order, switch_step, total_steps

IDS = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 12]])
LR = 3e-3


@pytest.fixture(scope="module")
def hybrid(train: Any) -> Any:
    return train(method="hybrid", sets=["training.max_steps=10", "hybrid.switch_fraction=0.3",
                                        f"training.learning_rate={LR}", "training.warmup=2",
                                        "training.lr_scheduler=cosine", "lora.r=8", "lora.alpha=16"])


def test_switch_at_the_requested_step(hybrid: Any) -> None:
    m = hybrid.metrics
    assert m["switch_step"] == 3 and m["steps"] == 10 and m["max_steps"] == 10
    assert [s for s, _ in m["train_history"]] == list(range(1, 11))
    assert "method hybrid: full-parameter steps 1-3, LoRA steps 4-10 (switch at 30% of 10 steps)" in hybrid.said
    assert any(s.startswith("method hybrid, full phase: trainable params:") and "trainable%: 100.0000" in s
               for s in hybrid.said)
    assert any(s.startswith("method hybrid, LoRA phase: trainable params:") for s in hybrid.said)
    assert json.loads((hybrid.output_dir / "metrics.json").read_text())["switch_step"] == 3


def test_loss_is_continuous_across_the_switch(hybrid: Any) -> None:
    switch = hybrid.metrics["switch_loss"]
    # attaching LoRA (B = 0) leaves the output unchanged: the same probe batch, the same loss
    assert switch["probe_after"] == pytest.approx(switch["probe_before"], abs=1e-6)
    # the probe is the first LoRA batch: the first LoRA step trains from exactly that loss
    assert switch["first_lora_step"] == pytest.approx(switch["probe_before"], abs=1e-4)
    # between the two logged losses lies one full-parameter update (the last): the loss keeps
    # falling by about what the previous full step took off, no jump
    m = hybrid.metrics
    losses = dict(m["train_history"])
    previous_drop = losses[2] - losses[3]
    across = switch["last_full_step"] - switch["first_lora_step"]
    assert 0 < across < 2 * previous_drop, (across, previous_drop)
    assert m["train_loss_last"] < m["train_loss_first"] - 0.2


def test_one_learning_rate_schedule_across_the_switch(hybrid: Any) -> None:
    from torch.optim import SGD
    from transformers import get_cosine_schedule_with_warmup

    factor = get_cosine_schedule_with_warmup(SGD([torch.zeros(1)], lr=1.0), 2, 10).lr_lambdas[0]
    logged = dict(hybrid.metrics["learning_rate_history"])
    # step s is logged with the rate it trained at: factor(s - 1) of the whole run's schedule
    assert sorted(logged) == list(range(1, 11))
    for step, rate in logged.items():
        assert rate == pytest.approx(LR * factor(step - 1), rel=1e-6, abs=1e-12), step


def test_outputs_adapter_over_saved_full_phase_base(hybrid: Any, tiny_model_dir: Path) -> None:
    from safetensors.torch import load_file

    out = hybrid.output_dir
    base = out / "base"
    assert (base / "model.safetensors").exists() and (base / "tokenizer.json").exists()
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(base.resolve())
    record = json.loads((out / "training_config.json").read_text())
    assert record["model"]["adapter_base"] == "base" and record["hybrid"]["switch_step"] == 3

    original = load_file(tiny_model_dir / "model.safetensors")
    saved = load_file(base / "model.safetensors")
    assert any(not torch.equal(original[k], saved[k]) for k in original)  # the full phase trained
    # the LoRA phase left the base weights as they were at the switch
    inner = hybrid.model.get_base_model()
    for name, param in inner.named_parameters():
        if "lora_" in name:
            continue
        key = name.replace(".base_layer", "")
        assert torch.equal(param.detach(), saved[key]), key


def test_load_run_reloads_the_hybrid_output(hybrid: Any) -> None:
    from framework.inference import load_run

    reloaded = load_run(hybrid.output_dir)
    assert reloaded.base_directory == hybrid.output_dir / "base"
    model = hybrid.model.eval()
    with torch.no_grad():
        assert torch.allclose(reloaded.model(input_ids=IDS).logits, model(input_ids=IDS).logits, atol=1e-5)


def test_attaching_lora_leaves_the_logits_unchanged(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from framework.config import RunConfig
    from framework.hookdata import LoraTargets

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        before = model(input_ids=IDS).logits.clone()
        wrapped = attach_lora(model, RunConfig(method="hybrid"), LoraTargets(target_modules="all-linear"))
        wrapped.eval()
        after = wrapped(input_ids=IDS).logits
    assert torch.equal(before, after)
    assert any(p.requires_grad for n, p in wrapped.named_parameters() if "lora_" in n)
    assert not any(p.requires_grad for n, p in wrapped.named_parameters() if "lora_" not in n)


def test_step_arithmetic() -> None:
    assert total_steps(10, 3.0, 100, 4) == 10
    assert total_steps(-1, 2.0, 10, 4) == 5
    assert switch_step(10, 0.2) == 2 and switch_step(10, 0.3) == 3
    assert switch_step(2, 0.1) == 1 and switch_step(3, 0.9) == 2  # at least one step of each phase
    with pytest.raises(ConfigError):
        switch_step(1, 0.2)
    order = sample_order(4, 10, seed=1)
    assert len(order) == 10
    assert sorted(order[:4]) == [0, 1, 2, 3] and sorted(order[4:8]) == [0, 1, 2, 3]  # whole epochs in turn
    assert np.array_equal(order, sample_order(4, 10, seed=1))


def test_hybrid_refuses_resume(train: Any) -> None:
    with pytest.raises(ConfigError, match="cannot be resumed"):
        train(method="hybrid", sets=["training.max_steps=4"], resume=True)


def test_switch_probe_takes_a_flash_attention_batch(tiny_model_dir: Path) -> None:
    """The flash-attention packing batch holds max_length_q/k as Python ints (transformers wants
    ints): the probe at the switch must pass them through, not call ``.to`` on them."""
    from transformers import AutoModelForCausalLM

    from framework.data.collate import PackingCollator
    from framework.training.hybrid import _probe_loss

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="sdpa")
    rows = [{"input_ids": [5, 17, 42, 99, 7], "labels": [-100, -100, 42, 99, 7]},
            {"input_ids": [3, 250, 12, 8], "labels": [-100, 250, 12, 8]}]
    flash_batch = PackingCollator(flash_kwargs=True)(rows)
    assert isinstance(flash_batch["max_length_q"], int)
    flash = _probe_loss(model, flash_batch)
    plain = _probe_loss(model, PackingCollator()(rows))  # SDPA ignores the varlen keys: same loss
    assert flash == pytest.approx(plain, abs=1e-6) and 0 < flash < 20
