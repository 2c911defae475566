"""Stability guards: skip non-finite steps, stop on repeated ones, report loss spikes.

The seeds spend pages on exploding gradients and loss spikes; the usual symptom is a run that
turns to NaN at hour six and keeps "training" until the end. The guard looks at every
optimizer step: a step whose gradients are not finite is skipped (weights untouched), several
in a row stop the run with a message that names the likely causes, and a loss far above its
recent median is reported with its step.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Any, Callable

import torch
from transformers import TrainerCallback

from framework.errors import FrameworkError


class TrainingDiverged(FrameworkError):
    """Repeated non-finite steps: training stopped, the last good weights kept."""

    exit_code = 2


class StepGuard:
    """Wraps ``optimizer.step`` so a step with non-finite gradients leaves the weights untouched."""

    def __init__(self, optimizer: Any, max_consecutive: int = 3, say: Callable[[str], None] = print) -> None:
        self.optimizer = optimizer
        self.max_consecutive = max_consecutive
        self.say = say
        self.skipped = 0
        self.consecutive = 0
        self.step_index = 0
        self._original = optimizer.step
        optimizer.step = self.step  # type: ignore[method-assign]

    def _finite(self) -> bool:
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                if param.grad is not None and not torch.isfinite(param.grad).all():
                    return False
        return True

    def step(self, *args: Any, **kwargs: Any) -> Any:
        self.step_index += 1
        if self._finite():
            self.consecutive = 0
            return self._original(*args, **kwargs)
        self.skipped += 1
        self.consecutive += 1
        self.optimizer.zero_grad(set_to_none=True)
        self.say(f"[guard] step {self.step_index}: non-finite gradients, step skipped (weights unchanged)")
        return None

    @property
    def diverged(self) -> bool:
        return self.consecutive >= self.max_consecutive


class GuardCallback(TrainerCallback):
    """Stops the run when the step guard says so; reports loss spikes."""

    def __init__(self, say: Callable[[str], None] = print, window: int = 20, spike_factor: float = 3.0) -> None:
        self.say = say
        self.guard: StepGuard | None = None
        self.recent: deque[float] = deque(maxlen=window)
        self.spike_factor = spike_factor
        self.spikes: list[tuple[int, float]] = []
        self.stopped_reason: str | None = None

    def attach(self, optimizer: Any, max_consecutive: int = 3) -> None:
        self.guard = StepGuard(optimizer, max_consecutive, self.say)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.guard is not None and self.guard.diverged:
            self.stopped_reason = (
                f"{self.guard.consecutive} optimizer steps in a row had non-finite gradients (last at step "
                f"{state.global_step}); likely causes: learning rate too high, fp16 overflow (use bf16 or fp32), "
                "or broken samples in the data"
            )
            control.should_training_stop = True
            control.should_save = False

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or not math.isfinite(float(loss)):
            return
        loss = float(loss)
        if len(self.recent) >= 5:
            median = statistics.median(self.recent)
            if median > 0 and loss > self.spike_factor * median:
                self.spikes.append((state.global_step, loss))
                self.say(f"[guard] loss spike at step {state.global_step}: {loss:.4f} vs recent median {median:.4f}")
        self.recent.append(loss)
