"""``chunked_causal_lm_loss(head_dtype=torch.bfloat16)``: the head/loss chunks in bf16 on the CPU.

The exact fp32 path stays the default; the bf16 head must give the fp32 loss within bf16
rounding, fp32 LoRA gradients pointing the same way, and the same loss after a few SGD steps.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from framework.data.collate import PackingCollator
from framework.loss import chunked_causal_lm_loss

from .conftest import tiny_lora_llama

VOCAB = 2048


def _model() -> Any:
    return tiny_lora_llama(VOCAB, 64)


def _batch(seed: int) -> dict[str, torch.Tensor]:
    rng = random.Random(seed)
    rows = []
    for _ in range(4):
        ids = [rng.randrange(1, VOCAB) for _ in range(rng.randint(20, 80))]
        rows.append({"input_ids": ids, "labels": [-100] * (len(ids) // 3) + ids[len(ids) // 3 :]})
    return PackingCollator()(rows)


def _loss_and_grads(model: Any, batch: dict[str, torch.Tensor], head_dtype: Any) -> tuple[float, list[torch.Tensor]]:
    loss = chunked_causal_lm_loss(model, batch, chunk_size=64, head_dtype=head_dtype)
    loss.backward()
    grads = [p.grad.detach().clone() for p in model.parameters() if p.requires_grad]
    model.zero_grad(set_to_none=True)
    return float(loss.detach()), grads


def test_default_is_the_exact_fp32_path() -> None:
    model, batch = _model(), _batch(0)
    plain, plain_grads = _loss_and_grads(model, batch, None)
    again, again_grads = _loss_and_grads(model, batch, torch.float32)
    assert plain == again and all(torch.equal(a, b) for a, b in zip(plain_grads, again_grads))


def test_bf16_head_gives_the_fp32_loss_and_gradients_within_bf16_rounding() -> None:
    model, batch = _model(), _batch(1)
    exact, exact_grads = _loss_and_grads(model, batch, None)
    fast, fast_grads = _loss_and_grads(model, batch, torch.bfloat16)
    assert fast != exact  # the head really ran in bf16
    assert abs(fast - exact) / exact < 1e-3
    for a, b in zip(exact_grads, fast_grads):
        assert b.dtype == torch.float32  # LoRA weights and their gradients stay fp32
        if not a.any():  # lora_A while lora_B is still zero: no gradient either way
            assert not b.any()
            continue
        cosine = torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0)
        assert cosine > 0.99, float(cosine)


def test_a_few_sgd_steps_end_at_the_same_loss() -> None:
    ends = {}
    for head_dtype in (None, torch.bfloat16):
        model = _model()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        for step in range(6):
            loss = chunked_causal_lm_loss(model, _batch(10 + step % 2), chunk_size=64, head_dtype=head_dtype)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            ends[head_dtype] = float(chunked_causal_lm_loss(model, _batch(10), chunk_size=64))
    first = float(chunked_causal_lm_loss(_model(), _batch(10), chunk_size=64).detach())
    assert ends[None] < first - 0.05  # it learned
    assert abs(ends[torch.bfloat16] - ends[None]) / ends[None] < 0.01
