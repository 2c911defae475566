"""``lora.fast_dropout``: LoRA dropout on the CPU from few random draws, both of its ways.

The gap way (``p <= GAPS_MAX_P``) draws the dropped positions as geometric gaps; the 16-bit way
uses 16-bit slices of 64-bit draws. Either must be dropout: each element dropped independently
with probability ``effective_p`` (``p`` itself for gaps, ``round(p * 65536) / 65536`` within
7.6e-6 of ``p`` for 16-bit), no position dropped more or less often than another, no random
number reused across positions or calls, kept ones scaled so the expected output is the input,
the gradient masked the same way, nothing done in eval mode, masks fixed by the seed. A run on
the CPU swaps peft's LoRA dropouts for it, ``off`` keeps torch's, and both train to the same loss
within 1%.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest
import torch

import framework.dropout as dropout_module
from framework.dropout import GAPS_MAX_P, BitsDropout, install_bits_dropout

from .conftest import ALL_PROJECTIONS

WAYS = pytest.mark.parametrize("gaps", [True, False], ids=["gaps", "16-bit"])


def _sigma(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def test_the_default_way_follows_p() -> None:
    assert BitsDropout(0.05).gaps and BitsDropout(GAPS_MAX_P).gaps
    assert not BitsDropout(0.3).gaps and not BitsDropout(0.9).gaps
    assert BitsDropout(0.3).effective_p == round(0.3 * 65536) / 65536 and BitsDropout(0.05).effective_p == 0.05


@WAYS
@pytest.mark.parametrize("p", [0.05, 0.3, 0.9])
def test_drop_rate_and_scale(p: float, gaps: bool) -> None:
    torch.manual_seed(1)
    dropout = BitsDropout(p, gaps=gaps)
    assert abs(dropout.effective_p - p) <= 0.5 / 65536
    out = dropout(torch.ones(4_000_003))  # not a multiple of the four slices of a draw
    dropped = float((out == 0).double().mean())
    sigma = _sigma(p, out.numel())
    assert abs(dropped - dropout.effective_p) < 6 * sigma
    kept = out[out != 0]
    assert torch.all(kept == torch.tensor(dropout.scale, dtype=torch.float32))
    assert abs(float(out.double().mean()) - 1.0) < 6 * sigma / (1 - p)  # unbiased


@WAYS
def test_masks_are_uniform_over_positions(gaps: bool) -> None:
    """Even and odd elements, each quarter of the tensor and each of the four 16-bit slices of a
    draw drop at the same rate (no position is favoured, the gaps do not drift along a tensor)."""
    torch.manual_seed(2)
    p, n = 0.1, 1_000_000
    dropped = (BitsDropout(p, gaps=gaps)(torch.ones(1000, 1000)) == 0).double().reshape(-1)
    groups = [dropped[0::2], dropped[1::2], *dropped.chunk(4), *dropped.reshape(-1, 4).t()]
    rates = torch.stack([g.mean() for g in groups])
    assert torch.all((rates - p).abs() < 6 * _sigma(p, n // 4)), rates


@WAYS
@pytest.mark.parametrize("p", [0.05, 0.3])
def test_no_random_number_is_reused_across_positions_or_calls(p: float, gaps: bool) -> None:
    """Neighbours (along a row and down a column) and the same element in two successive calls
    are both dropped with probability p**2, as independent draws give; a reused number would give p."""
    torch.manual_seed(5)
    dropout = BitsDropout(p, gaps=gaps)
    first = dropout(torch.ones(1000, 1000)) == 0
    second = dropout(torch.ones(1000, 1000)) == 0
    q = dropout.effective_p
    pairs = {"row neighbours": first[:, 1:] & first[:, :-1], "column neighbours": first[1:] & first[:-1],
             "two calls": first & second, "two apart": first[:, 2:] & first[:, :-2]}
    for name, both in pairs.items():
        rate = float(both.double().mean())
        assert abs(rate - q * q) < 6 * _sigma(q * q, both.numel()), (name, rate, q * q)


def test_gap_draws_top_up_when_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """With too few gaps drawn at first, further rounds continue from the last position: the
    positions stay sorted, distinct and in range, and the rate stays p."""
    monkeypatch.setattr(dropout_module, "_SPARE_SIGMAS", -20.0)  # every first round falls short
    torch.manual_seed(6)
    p, n = 0.05, 1_000_000
    positions = BitsDropout(p).dropped_positions(n, torch.device("cpu"))
    assert positions.dtype == torch.int64 and int(positions[0]) >= 0 and int(positions[-1]) < n
    assert torch.all(positions[1:] > positions[:-1])
    assert abs(positions.numel() / n - p) < 6 * _sigma(p, n)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[positions] = True
    assert abs(float((mask[1:] & mask[:-1]).double().mean()) - p * p) < 6 * _sigma(p * p, n)


def test_a_zero_uniform_ends_the_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    """u = 0 (a 2**-53 chance per draw) is an infinite gap: what came before stays, nothing breaks."""
    def uniforms(size: int, **kwargs: object) -> torch.Tensor:
        values = torch.full((size,), 0.5, dtype=torch.float64)
        values[3] = 0.0
        return values

    monkeypatch.setattr(torch, "rand", uniforms)
    gap = math.ceil(math.log(0.5) / math.log1p(-0.05))  # 14
    positions = BitsDropout(0.05).dropped_positions(1000, torch.device("cpu"))
    assert positions.tolist() == [gap - 1, 2 * gap - 1, 3 * gap - 1]


@WAYS
def test_gradient_is_masked_and_scaled_like_the_output(gaps: bool) -> None:
    torch.manual_seed(3)
    dropout = BitsDropout(0.2, gaps=gaps)
    x = torch.rand(33, 17, requires_grad=True) + 0.5  # no zeros, so out == 0 marks a dropped element
    x.retain_grad()
    out = dropout(x)
    upstream = torch.randn_like(out)
    out.backward(upstream)
    kept = out != 0
    assert 0 < int(kept.sum()) < kept.numel()
    assert torch.equal(x.grad, upstream * kept * dropout.scale)
    assert torch.allclose(out[kept], x[kept] * dropout.scale)


@WAYS
def test_eval_mode_p_zero_and_empty_input_are_identity(gaps: bool) -> None:
    x = torch.randn(8, 8)
    assert BitsDropout(0.5, gaps=gaps).eval()(x) is x
    assert BitsDropout(0.0, gaps=gaps)(x) is x
    assert BitsDropout(0.5, gaps=gaps)(torch.empty(0, 3)).shape == (0, 3)
    with pytest.raises(ValueError):
        BitsDropout(1.0, gaps=gaps)


@WAYS
def test_seed_fixes_the_masks_and_calls_differ(gaps: bool) -> None:
    dropout = BitsDropout(0.1, gaps=gaps)
    x = torch.ones(64, 64)
    torch.manual_seed(7)
    first, second = dropout(x), dropout(x)
    torch.manual_seed(7)
    assert torch.equal(dropout(x), first) and not torch.equal(first, second)
    state = torch.get_rng_state()  # a resumed run restores the generator: the next masks follow
    third = dropout(x)
    torch.set_rng_state(state)
    assert torch.equal(dropout(x), third)


@WAYS
def test_other_dtypes_and_layouts(gaps: bool) -> None:
    """bf16 keeps its dtype; a non-contiguous input gets the mask of its logical order (the same
    as its contiguous copy under the same seed)."""
    x = torch.randn(60, 100, dtype=torch.bfloat16).t()  # non-contiguous, bf16
    dropout = BitsDropout(0.5 if not gaps else 0.1, gaps=gaps)
    torch.manual_seed(4)
    out = dropout(x)
    torch.manual_seed(4)
    assert torch.equal(out, dropout(x.contiguous()))
    assert out.dtype == torch.bfloat16 and out.shape == x.shape
    kept = out != 0
    scale = torch.tensor(dropout.scale, dtype=torch.bfloat16)
    assert torch.equal(out[kept], (x * scale)[kept])


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
             "training.logging_steps=1", "training.report_to=[]", "data.val_size=0", "lora.dropout=0.1",
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
