"""Stability guard: non-finite steps are skipped, repeated ones stop the run, spikes are reported."""

from __future__ import annotations

import types

import torch
from transformers import TrainerControl, TrainerState

from framework.guards import GuardCallback, StepGuard


def _setup() -> tuple[torch.nn.Linear, torch.optim.Optimizer]:
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 4)
    return layer, torch.optim.AdamW(layer.parameters(), lr=0.1)


def _backward(layer: torch.nn.Linear, poison: bool) -> None:
    out = layer(torch.ones(2, 4)).sum()
    if poison:
        out = out * float("nan")
    out.backward()


def test_non_finite_step_leaves_weights_untouched() -> None:
    layer, opt = _setup()
    guard = StepGuard(opt, say=lambda _: None)
    before = layer.weight.detach().clone()
    _backward(layer, poison=True)
    opt.step()
    assert torch.equal(before, layer.weight) and guard.skipped == 1
    _backward(layer, poison=False)
    opt.step()
    assert not torch.equal(before, layer.weight) and guard.consecutive == 0


def test_repeated_non_finite_steps_stop_training_with_causes() -> None:
    layer, opt = _setup()
    callback = GuardCallback(say=lambda _: None)
    callback.attach(opt, max_consecutive=3)
    control, state = TrainerControl(), TrainerState()
    for step in range(3):
        opt.zero_grad()
        _backward(layer, poison=True)
        opt.step()
        state.global_step = step + 1
        callback.on_step_end(None, state, control)
    assert control.should_training_stop and not control.should_save
    assert "learning rate" in (callback.stopped_reason or "") and "fp16" in (callback.stopped_reason or "")


def test_loss_spike_is_reported_with_step() -> None:
    said: list[str] = []
    callback = GuardCallback(say=said.append)
    state, control = TrainerState(), TrainerControl()
    for step, loss in enumerate([2.0, 1.9, 1.8, 1.8, 1.7, 1.7, 9.5], start=1):
        state.global_step = step
        callback.on_log(None, state, control, logs={"loss": loss})
    assert callback.spikes == [(7, 9.5)]
    assert "step 7" in said[-1]


def test_finite_means_every_entry_of_every_gradient_whatever_its_size_or_dtype() -> None:
    """One infinite or NaN entry anywhere makes the step non-finite; huge finite entries (whose
    squares would overflow) and bf16/fp16 gradients do not."""
    big = torch.nn.Parameter(torch.zeros(3))
    half = torch.nn.Parameter(torch.zeros(2, dtype=torch.float16))
    bf16 = torch.nn.Parameter(torch.zeros(2, dtype=torch.bfloat16))
    frozen = torch.nn.Parameter(torch.zeros(1))  # no gradient
    guard = StepGuard(torch.optim.SGD([big, half, bf16, frozen], lr=0.1), say=lambda _: None)
    big.grad = torch.tensor([3e38, -3e38, 1.0])
    half.grad = torch.tensor([60000.0, -60000.0], dtype=torch.float16)
    bf16.grad = torch.tensor([1e38, 2.0], dtype=torch.bfloat16)
    assert guard._finite()
    for bad in (float("nan"), float("inf"), float("-inf")):
        half.grad = torch.tensor([1.0, bad], dtype=torch.float16)
        assert not guard._finite()
    half.grad = None
    big.grad = torch.tensor([1.0, float("nan"), 2.0])
    assert not guard._finite()
