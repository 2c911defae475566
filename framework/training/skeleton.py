"""The steps every recipe shares, in the order a run takes them.

plan -> ``start`` (output directory, resume check, seed) -> ``inputs.build_inputs`` ->
``model.load_for_training`` -> ``callbacks`` -> the recipe's trainer -> ``saving.finish``.
A recipe calls these in that order and adds only what differs (its trainer, its metrics).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from framework.outputs import check_output_dir
from framework.training.arguments import default_output_dir

if TYPE_CHECKING:
    from framework.run_plan import RunPlan

#: What a run says to its user (the CLI's printer on the main process, a no-op on the others).
Say = Callable[[str], None]


@dataclass
class RunResult:
    output_dir: Path
    metrics: dict[str, Any]
    before: str | None
    after: str | None
    model: Any = None
    tokenizer: Any = None
    interrupted: bool = False


@dataclass(frozen=True)
class Start:
    """Where the run writes, the checkpoint it resumes from, and when it started."""

    output_dir: Path
    resume_from: Path | None
    started: float


def start(plan: RunPlan, *, resumable: bool = True) -> Start:
    """Check the output directory (and the checkpoint's settings on resume) before anything loads, then seed."""
    import torch

    cfg = plan.config
    output_dir = Path(cfg.output.dir) if cfg.output.dir else default_output_dir(plan)
    resume_from = check_output_dir(output_dir, overwrite=cfg.output.overwrite, resume=cfg.output.resume and resumable)
    if resume_from is not None:
        from framework.checkpointing import check_resume

        check_resume(resume_from, plan.resolved.to_json())
    torch.manual_seed(cfg.training.seed)
    return Start(output_dir, resume_from, time.perf_counter())


@dataclass
class Callbacks:
    """The callbacks of every recipe: divergence guard, interrupt, early stopping, the plugins' own."""

    guard: Any
    interrupt: Any
    stopper: Any = None
    extra: list[Any] = field(default_factory=list)

    def all(self) -> list[Any]:
        return [self.guard, self.interrupt, *([self.stopper] if self.stopper is not None else []), *self.extra]

    def stopped_early(self) -> bool:
        s = self.stopper
        return bool(s and s.early_stopping_patience_counter >= s.early_stopping_patience)


def callbacks(plan: RunPlan, say: Say, *, has_eval: bool) -> Callbacks:
    from transformers import EarlyStoppingCallback

    from framework.guards import GuardCallback
    from framework.interrupt import InterruptCallback

    cfg = plan.config
    stopper = None
    if has_eval and cfg.training.early_stopping_patience:
        stopper = EarlyStoppingCallback(cfg.training.early_stopping_patience, cfg.training.early_stopping_threshold)
    extra: list[Any] = []
    for _, more in plan.family.host.call_all("training_callbacks", config=cfg):
        extra.extend(more or [])
    return Callbacks(GuardCallback(say), InterruptCallback(say), stopper, extra)


def check_diverged(found: Callbacks, output_dir: Path) -> None:
    """Stop with the guard's reason (exit 2); the last good checkpoint stays."""
    if found.guard.stopped_reason:
        from framework.guards import TrainingDiverged

        raise TrainingDiverged(f"training stopped: {found.guard.stopped_reason}; the last good checkpoint in "
                               f"{output_dir} is kept")


def history(log_history: list[dict[str, Any]], key: str, offset: int = 0) -> list[tuple[int, float]]:
    """``(step, value)`` of every finite ``key`` the trainer logged, steps shifted by ``offset``."""
    return [(offset + int(e["step"]), float(e[key])) for e in log_history
            if e.get(key) is not None and math.isfinite(float(e[key]))]


def final_eval_loss(trainer: Any) -> float:
    """The validation loss of the weights training ended with, evaluated only when no evaluation
    during training measured those very weights.

    With validation data the best checkpoint (by validation loss) is loaded at the end
    (``arguments.save_and_eval_schedule``), and it was saved right after its evaluation: the loss
    is that evaluation's. Evaluating again cost a whole pass over the validation set (67 s of a
    two-step CPU run with 5,443 validation samples). Runs of several processes are evaluated
    again: every process must take the same way (an evaluation is collective), and a node may
    not see the checkpoints of another."""
    state, args = trainer.state, trainer.args
    best = state.best_model_checkpoint
    if (args.world_size == 1 and args.load_best_model_at_end and args.metric_for_best_model == "eval_loss"
            and best is not None and os.path.isdir(best) and state.best_metric is not None):
        return float(state.best_metric)
    return float(trainer.evaluate()["eval_loss"])


def throughput(tokens_seen: int, world_size: int, runtime: float | None) -> dict[str, Any]:
    """Tokens trained by all processes and their rate."""
    total = tokens_seen * world_size
    return {"train_tokens": total, "train_runtime_s": runtime, "tokens_per_second": total / runtime if runtime else None}
