"""The frozen-head loss (``framework.loss.frozen_head_loss``): the CPU flash-attention kernel as a
vocabulary-tiled cross entropy. It must give the logits path's loss and gradients exactly (fp32),
at every row and vocabulary size the kernel tiles unevenly, and never allocate [rows x vocab]."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import framework.loss as loss_module
from framework.loss import LinearCrossEntropy, chunked_causal_lm_loss, frozen_head_loss, head_copy

from .conftest import tiny_lora_llama


def _reference(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and hidden gradient through full fp64 logits and autograd."""
    leaf = hidden.double().requires_grad_()
    loss = F.cross_entropy(leaf @ weight.double().t(), targets, reduction="sum")
    loss.backward()
    return loss.detach(), leaf.grad


def _frozen(rows: int, vocab: int, hidden: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    h = torch.randn(rows, hidden, generator=generator)
    w = torch.randn(vocab, hidden, generator=generator) * 0.5  # logits of spread ~3: a peaked softmax
    return h, w, torch.randint(0, vocab, (rows,), generator=generator)


# rows: below the kernel's 32-row block, across it, its 64-row blocks (from 192 rows) and its
# 256-row blocks (from 768), none a multiple; vocabularies: below, across and not a multiple of its 512-key tiles
@pytest.mark.parametrize("rows", [1, 37, 200, 801])
@pytest.mark.parametrize("vocab", [7, 517, 1301])
def test_loss_and_gradient_equal_full_logits(rows: int, vocab: int) -> None:
    h, w, targets = _frozen(rows, vocab)
    total, grad = frozen_head_loss(h, w, targets, torch.float32)
    expected, expected_grad = _reference(h, w, targets)
    assert total.dtype == torch.float32 and grad.dtype == torch.float32
    assert abs(float(total) - float(expected)) <= 1e-5 * float(expected)
    torch.testing.assert_close(grad.double(), expected_grad, atol=1e-5, rtol=1e-4)


def test_linear_cross_entropy_takes_it_for_a_frozen_head_and_keeps_no_logits_buffer() -> None:
    h, w, targets = _frozen(300, 1301)
    loss_module._WORKSPACE.clear()
    leaf = h.clone().requires_grad_()
    ours = LinearCrossEntropy.apply(leaf, w, None, targets, 64, None, True)
    (ours * 0.37).backward()  # a non-unit upstream gradient reaches the saved gradient
    assert not loss_module._WORKSPACE  # no [chunk x vocab] buffers were made
    logits_leaf = h.clone().requires_grad_()
    with pytest.MonkeyPatch.context() as patch:  # the chunked logits path, as before
        patch.setattr(loss_module, "attention_applies", lambda *_: False)
        theirs = LinearCrossEntropy.apply(logits_leaf, w, None, targets, 64, None, True)
        (theirs * 0.37).backward()
    assert loss_module._WORKSPACE  # that path did use them
    assert abs(float(ours.detach()) - float(theirs.detach())) <= 1e-6 * float(theirs.detach())
    torch.testing.assert_close(leaf.grad, logits_leaf.grad, atol=1e-6, rtol=1e-5)


def test_a_frozen_bias_or_softcap_or_trained_head_keeps_the_logits_path() -> None:
    h, w, targets = _frozen(50, 517)
    bias = torch.randn(517) * 0.1
    calls: list[int] = []
    real = loss_module.frozen_head_loss
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loss_module, "frozen_head_loss", lambda *a: calls.append(1) or real(*a))
        for weight, b, cap in ((w, bias, None), (w, None, 30.0), (w.clone().requires_grad_(), None, None)):
            leaf = h.clone().requires_grad_()
            got = LinearCrossEntropy.apply(leaf, weight, b, targets, 16, cap, True)
            logits = F.linear(h, w, b)
            logits = torch.tanh(logits / cap) * cap if cap else logits
            assert torch.allclose(got, F.cross_entropy(logits, targets, reduction="sum"), rtol=1e-5)
        assert not calls
        LinearCrossEntropy.apply(h.clone().requires_grad_(), w, None, targets, 16, None, True)
        assert calls == [1]  # and the plain frozen head does take it


def test_evaluation_takes_it_too_with_the_logits_paths_loss() -> None:
    """Without gradients (evaluation) any bias-free, uncapped head's loss runs as attention, a
    trained head's too: the logits path's loss, and no [chunk x vocab] buffers."""
    h, w, targets = _frozen(300, 1301)
    for weight in (w, w.clone().requires_grad_()):
        loss_module._WORKSPACE.clear()
        with torch.no_grad():
            ours = LinearCrossEntropy.apply(h, weight, None, targets, 64, None, False)
        assert not loss_module._WORKSPACE and not ours.requires_grad
        with torch.no_grad(), pytest.MonkeyPatch.context() as patch:
            patch.setattr(loss_module, "attention_applies", lambda *_: False)
            theirs = LinearCrossEntropy.apply(h, weight, None, targets, 64, None, False)
        assert abs(float(ours) - float(theirs)) <= 1e-6 * float(theirs)


def test_bf16_compute_is_within_bf16_rounding_and_returns_fp32_gradients() -> None:
    h, w, targets = _frozen(300, 1301)
    exact, exact_grad = frozen_head_loss(h, w, targets, torch.float32)
    fast, fast_grad = frozen_head_loss(h, w, targets, torch.bfloat16)
    assert fast.dtype == torch.float32 and fast_grad.dtype == torch.float32
    assert float(fast) != float(exact)  # the GEMMs really ran in bf16
    assert abs(float(fast) - float(exact)) / float(exact) < 1e-3
    assert F.cosine_similarity(fast_grad.flatten(), exact_grad.flatten(), dim=0) > 0.999


def test_the_bf16_copy_of_a_frozen_head_is_made_once_and_remade_after_a_write() -> None:
    _, w, _ = _frozen(1, 517)
    first = head_copy(w, torch.bfloat16)
    assert first.dtype == torch.bfloat16 and head_copy(w, torch.bfloat16) is first
    assert head_copy(w, torch.float32) is w  # no copy where the dtype already fits
    with torch.no_grad():
        w.mul_(2.0)  # an in-place write bumps the version: the stale copy is not served
    again = head_copy(w, torch.bfloat16)
    assert again is not first and torch.equal(again, w.to(torch.bfloat16))


def test_a_new_head_gets_its_own_copy_and_a_dead_one_leaves_none() -> None:
    import gc

    _, first, _ = _frozen(1, 517, seed=1)
    head_copy(first, torch.bfloat16)
    del first
    gc.collect()
    assert not loss_module._HEAD_COPY  # the copy went with its weight
    _, second, _ = _frozen(1, 517, seed=2)  # same shape, maybe the same address
    assert torch.equal(head_copy(second, torch.bfloat16), second.to(torch.bfloat16))


def _lora_model(vocab: int = 1301) -> Any:
    return tiny_lora_llama(vocab, 32, targets=("q_proj", "v_proj", "gate_proj", "down_proj"))


def test_lora_step_matches_the_models_own_loss_with_ignored_labels() -> None:
    model = _lora_model()
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 1301, (3, 40), generator=generator)
    labels = ids.clone()
    labels[:, :15] = -100  # prompts
    labels[1, 30:] = -100  # padding
    attention = torch.ones_like(ids)
    attention[1, 30:] = 0
    batch = {"input_ids": ids, "attention_mask": attention, "labels": labels}
    ours = chunked_causal_lm_loss(model, batch, chunk_size=7)  # chunk_size no longer matters on this path
    ours.backward()
    ours_grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    model.zero_grad(set_to_none=True)
    theirs = model(**batch).loss
    theirs.backward()
    theirs_grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert abs(float(ours) - float(theirs)) <= 1e-5 * float(theirs)
    for a, b in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
