"""The fused linear cross-entropy equals autograd through logits: values and every gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from framework.loss import LinearCrossEntropy, effective_chunk_size


def _reference(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor,
               softcap: float | None) -> torch.Tensor:
    logits = F.linear(hidden, weight, bias).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return F.cross_entropy(logits, targets, reduction="sum")


def _leaves(dtype: torch.dtype, with_bias: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    torch.manual_seed(0)
    hidden = torch.randn(37, 16, dtype=dtype, requires_grad=True)
    weight = (torch.randn(101, 16) * 0.3).to(dtype).requires_grad_()
    bias = (torch.randn(101) * 0.1).to(dtype).requires_grad_() if with_bias else None
    return hidden, weight, bias, torch.randint(0, 101, (37,))


def _grads(loss: torch.Tensor, *leaves: torch.Tensor | None) -> list[torch.Tensor]:
    present = [t for t in leaves if t is not None]
    return list(torch.autograd.grad(loss * 0.37, present))  # a non-unit upstream gradient


@pytest.mark.parametrize("chunk", [1, 5, 37, 100])
@pytest.mark.parametrize("softcap", [None, 2.0])
@pytest.mark.parametrize("with_bias", [False, True])
def test_values_and_gradients_match_autograd(chunk: int, softcap: float | None, with_bias: bool) -> None:
    hidden, weight, bias, targets = _leaves(torch.float32, with_bias)
    ours = LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk, softcap, True)
    reference = _reference(hidden, weight, bias, targets, softcap)
    assert torch.allclose(ours, reference, rtol=1e-5)
    for a, b in zip(_grads(ours, hidden, weight, bias), _grads(reference, hidden, weight, bias)):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_bf16_gradients_match_autograd_within_bf16_rounding() -> None:
    hidden, weight, _, targets = _leaves(torch.bfloat16, False)
    ours = LinearCrossEntropy.apply(hidden, weight, None, targets, 8, None, True)
    reference = _reference(hidden, weight, None, targets, None)
    assert ours.dtype == torch.float32 and torch.allclose(ours, reference, rtol=1e-3)
    for a, b in zip(_grads(ours, hidden, weight), _grads(reference, hidden, weight)):
        assert a.dtype == torch.bfloat16
        assert torch.allclose(a.float(), b.float(), atol=2e-2, rtol=2e-2)


def test_frozen_head_gets_no_gradient_and_only_hidden_is_kept() -> None:
    hidden, weight, _, targets = _leaves(torch.float32, False)
    weight.requires_grad_(False)
    loss = LinearCrossEntropy.apply(hidden, weight, None, targets, 8, None, True)
    assert len(loss.grad_fn.saved_tensors) == 1 and loss.grad_fn.saved_tensors[0].shape == hidden.shape
    loss.backward()
    assert hidden.grad is not None and weight.grad is None


def test_without_grad_mode_nothing_is_computed_or_kept() -> None:
    hidden, weight, _, targets = _leaves(torch.float32, False)
    with torch.no_grad():
        loss = LinearCrossEntropy.apply(hidden, weight, None, targets, 8, None, torch.is_grad_enabled())
    assert loss.grad_fn is None
    assert torch.allclose(loss, _reference(hidden, weight, None, targets, None).detach(), rtol=1e-5)


def test_chunks_are_capped_by_vocabulary_size() -> None:
    assert effective_chunk_size(1024, 128_256) == 2**25 // 128_256  # ~128 MiB of fp32 logits
    assert effective_chunk_size(1024, 1000) == 1024
    assert effective_chunk_size(16, 10**9) == 64


@pytest.mark.parametrize("with_bias", [False, True])
def test_fp32_head_under_bf16_autocast_runs_its_gemms_in_bf16(with_bias: bool) -> None:
    """QLoRA's upcast fp32 head under the Trainer's bf16 autocast: the head GEMMs run in bf16 (the
    same rounding as autocast's own ``F.linear``), gradients come back fp32, as the leaves are."""
    hidden, weight, bias, targets = _leaves(torch.float32, with_bias)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reference = _reference(hidden, weight, bias, targets, None)  # autocast's bf16 F.linear
        ours = LinearCrossEntropy.apply(hidden, weight, bias, targets, 5, None, True, torch.bfloat16)
    assert ours.dtype == torch.float32
    assert torch.allclose(ours, reference, rtol=1e-3)
    fp32 = _reference(hidden, weight, bias, targets, None)
    assert not torch.equal(ours, fp32)  # bf16 rounding shows: the GEMM really ran in bf16
    ours_grads = _grads(ours, hidden, weight, bias)
    reference_grads = _grads(fp32, hidden, weight, bias)
    for mine, theirs in zip(ours_grads, reference_grads):
        assert mine.dtype == torch.float32
        assert torch.allclose(mine, theirs, rtol=5e-2, atol=2e-2)
