"""Shared pieces of the fast-path tests (imported as ``from .conftest import ...``)."""

from __future__ import annotations

from typing import Any

from framework.training.trainer import FrameworkTrainer


class RecordingTrainer(FrameworkTrainer):
    """Keeps the loss of every training micro-batch, unrounded, so two loss paths can be compared step by step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.losses: list[float] = []

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if model.training:
            self.losses.append(float((loss[0] if return_outputs else loss).detach()))
        return loss
