"""Memory of progressive unfreezing (``unfreeze.schedule``, framework.unfreeze): where it starts
and where it peaks.

Until everything has joined, the run trains the top layers' own weights only, exactly as
``--method freeze`` with that many layers; frozen parameters have no gradients and no optimizer
state (framework.unfreeze). So the start is the ``freeze`` estimate at the first stage's layer
count and the peak is the ``full`` estimate, reached at the stage where all layers train.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework.planning.memory import MemoryEstimate, estimate


@dataclass(frozen=True)
class UnfreezeMemory:
    """The estimates at the first stage and with every layer trainable."""

    start_layers: int
    total_layers: int
    start: MemoryEstimate
    peak: MemoryEstimate

    def line(self) -> str:
        from framework.planning.sizes import format_bytes

        return (f"progressive unfreezing starts at {format_bytes(self.start.total)} (top {self.start_layers} of "
                f"{self.total_layers} layers trainable) and peaks at {format_bytes(self.peak.total)} once all "
                f"layers train")


def unfreeze_memory(facts: Any, schedule: str, **estimate_args: Any) -> UnfreezeMemory | None:
    """Start and peak of ``schedule`` on the model the facts describe (None: it starts with everything)."""
    from framework.planning.shapes import shape_from_facts
    from framework.unfreeze import parse

    total = shape_from_facts(facts).layers
    first = parse(schedule)[0]
    start_layers = int(first[1]) if first[0] is not None and first[0] < 0 else first[0]
    if start_layers is None or start_layers >= total:
        return None
    estimate_args = {k: v for k, v in estimate_args.items() if k not in ("method", "freeze_trainable_layers")}
    start = estimate(facts, method="freeze", freeze_trainable_layers=start_layers, **estimate_args)
    peak = estimate(facts, method="full", **estimate_args)
    return UnfreezeMemory(start_layers, total, start, peak)


def for_plan(plan: Any) -> UnfreezeMemory | None:
    """The run plan's start and peak (None without a schedule, or when the facts have no sizes)."""
    cfg = plan.config
    if not cfg.unfreeze.schedule or cfg.method != "full":
        return None
    cpu_fp32 = plan.dtype[0] == "fp32" and plan.hardware.device == "cpu"
    try:
        return unfreeze_memory(plan.facts, cfg.unfreeze.schedule, micro_batch=cfg.training.micro_batch_size,
                               seq_len=cfg.data.cutoff_len, grad_checkpointing=cfg.training.gradient_checkpointing,
                               compute_dtype="bf16" if cpu_fp32 else plan.dtype[0], packed=cfg.data.packing,
                               chunked_loss=cfg.training.chunked_loss)
    except (KeyError, ValueError, TypeError, AttributeError):  # a config without sizes cannot be estimated
        return None
