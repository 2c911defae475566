"""``lora.fast_dropout``: LoRA dropout on the CPU from 16-bit slices of 64-bit random draws.

It must be dropout: each element dropped with probability ``round(p * 65536) / 65536`` (within
7.6e-6 of ``p``), kept ones scaled so the expected output is the input, the gradient masked the
same way, nothing done in eval mode, masks fixed by the seed. A run on the CPU swaps peft's
LoRA dropouts for it, ``off`` keeps torch's, and both train to the same loss within 1%.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
import torch

from framework.dropout import BitsDropout, install_bits_dropout

from .conftest import ALL_PROJECTIONS


@pytest.mark.parametrize("p", [0.05, 0.3, 0.9])
def test_drop_rate_and_scale(p: float) -> None:
    torch.manual_seed(1)
    dropout = BitsDropout(p)
    assert abs(dropout.effective_p - p) <= 0.5 / 65536
    out = dropout(torch.ones(4_000_003))  # not a multiple of the four slices of a draw
    dropped = float((out == 0).double().mean())
    sigma = math.sqrt(p * (1 - p) / out.numel())
    assert abs(dropped - dropout.effective_p) < 6 * sigma
    kept = out[out != 0]
    assert torch.all(kept == torch.tensor(dropout.scale, dtype=torch.float32))
    assert abs(float(out.double().mean()) - 1.0) < 6 * sigma / (1 - p)  # unbiased


def test_masks_are_uniform_over_positions() -> None:
    """Each of the four 16-bit slices of a draw drops at the same rate (no slice is biased)."""
    torch.manual_seed(2)
    out = BitsDropout(0.25)(torch.ones(400, 1000)).reshape(-1, 4)
    rates = (out == 0).double().mean(dim=0)
    sigma = math.sqrt(0.25 * 0.75 / out.shape[0])
    assert torch.all((rates - 0.25).abs() < 6 * sigma), rates


def test_gradient_is_masked_and_scaled_like_the_output() -> None:
    torch.manual_seed(3)
    dropout = BitsDropout(0.2)
    x = torch.rand(33, 17, requires_grad=True) + 0.5  # no zeros, so out == 0 marks a dropped element
    x.retain_grad()
    out = dropout(x)
    upstream = torch.randn_like(out)
    out.backward(upstream)
    kept = out != 0
    assert torch.equal(x.grad, upstream * kept * dropout.scale)
    assert torch.allclose(out[kept], x[kept] * dropout.scale)


def test_eval_mode_p_zero_and_empty_input_are_identity() -> None:
    x = torch.randn(8, 8)
    assert BitsDropout(0.5).eval()(x) is x
    assert BitsDropout(0.0)(x) is x
    assert BitsDropout(0.5)(torch.empty(0, 3)).shape == (0, 3)
    with pytest.raises(ValueError):
        BitsDropout(1.0)


def test_seed_fixes_the_masks_and_calls_differ() -> None:
    dropout = BitsDropout(0.5)
    x = torch.ones(64, 64)
    torch.manual_seed(7)
    first, second = dropout(x), dropout(x)
    torch.manual_seed(7)
    assert torch.equal(dropout(x), first) and not torch.equal(first, second)


def test_other_dtypes_and_layouts() -> None:
    torch.manual_seed(4)
    x = torch.randn(6, 10, dtype=torch.bfloat16).t()  # non-contiguous, bf16
    out = BitsDropout(0.5)(x)
    assert out.dtype == torch.bfloat16 and out.shape == x.shape
    kept = out != 0
    assert torch.equal(out[kept], (x * 2.0)[kept])


def _lora_model(dropout: float) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model("llama", vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=8)
    model = AutoModelForCausalLM.from_config(config)
    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout,
                                            target_modules=list(ALL_PROJECTIONS)))


def test_install_swaps_every_lora_dropout_and_nothing_else() -> None:
    model = _lora_model(0.1)
    assert install_bits_dropout(model) == 2 * len(ALL_PROJECTIONS)
    kinds = {type(d) for m in model.modules() if hasattr(m, "lora_dropout") for d in m.lora_dropout.values()}
    assert kinds == {BitsDropout}
    assert all(m.p == 0.1 for m in model.modules() if isinstance(m, BitsDropout))
    assert install_bits_dropout(_lora_model(0.0)) == 0  # peft's Identity stays


def _run(model_dir: Path, data: Path, out: Path, switch: str) -> object:
    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run

    args = argparse.Namespace(
        model=str(model_dir), data=[str(data)], output=str(out), cutoff_len=64,
        set=["training.max_steps=6", "training.micro_batch_size=4", "training.learning_rate=2e-2",
             "training.logging_steps=1", "training.report_to=[]", "data.val_size=0", "lora.dropout=0.2",
             f"lora.fast_dropout={switch}"])
    return run(make_plan(args, make_plugin_host(), need_weights=True), lambda _: None)


def test_a_cpu_run_uses_it_off_keeps_torch_and_the_losses_agree(tiny_model_dir: Path, tmp_path: Path) -> None:
    rows = [{"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is."} for i in range(24)]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    fast = _run(tiny_model_dir, data, tmp_path / "fast", "auto")
    plain = _run(tiny_model_dir, data, tmp_path / "plain", "off")

    def dropouts(result: object) -> set[type]:
        model = result.model  # type: ignore[attr-defined]
        return {type(d) for m in model.modules() if hasattr(m, "lora_dropout") for d in m.lora_dropout.values()}

    assert dropouts(fast) == {BitsDropout}
    assert dropouts(plain) == {torch.nn.Dropout}
    first, last = (fast.metrics[k] for k in ("train_loss_first", "train_loss_last"))  # type: ignore[attr-defined]
    assert last < first  # it trains
    assert abs(last - plain.metrics["train_loss_last"]) / plain.metrics["train_loss_last"] < 0.01  # type: ignore[attr-defined]
