"""Progressive unfreezing (``unfreeze.schedule``): full fine-tuning that starts with the top
decoder layers and lets lower ones join on a schedule, top-down (seed 001 "渐进式解冻";
Howard & Ruder 2018, ULMFiT, arXiv:1801.06146, "gradual unfreezing").

Schedule: ``layers:when`` pairs, ``when`` a fraction of the run's steps (< 1) or a step
(>= 1), ``layers`` a count of top decoder layers or ``all`` (every parameter: all layers, the
embeddings, the final norm and the output head, i.e. full fine-tuning). The first pair starts
at 0. ``every:K`` (or ``every:K:N``) starts with N top layers and adds N every K steps until all
layers train, then everything. Until a stage is reached, a stage's layers train as ``--method
freeze`` would train them: their own weights only.

Optimizer: the Trainer builds AdamW over every parameter, then the lower layers are frozen
before the first step. A frozen parameter has no gradient, so AdamW neither updates it nor
creates state for it: memory grows as layers join, as the planner's start and peak estimates
say. A newly unfrozen parameter learns from the step it joins, at the schedule's current
learning rate (no separate warm-up); its Adam moments start at zero with its own step count,
so bias correction treats its first update like any parameter's first update.

Resume: the stage is a function of the global step, which the checkpoint restores; the
callback re-applies it before the first resumed step, and the optimizer state in the checkpoint
holds moments only for the parameters that had joined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from framework.errors import ConfigError

ALL = "all"


@dataclass(frozen=True)
class Stage:
    """From ``step`` (completed optimizer steps) on, the top ``layers`` layers train (None: everything)."""

    step: int
    layers: int | None


def parse(text: str) -> list[tuple[int | None, float]]:
    """The schedule's (layers or None for all, when) pairs, checked for form only."""
    where = "unfreeze.schedule"
    text = text.strip()
    if text.startswith("every:"):
        parts = text.split(":")
        try:
            every, step = int(parts[1]), int(parts[2]) if len(parts) > 2 else 1
        except (ValueError, IndexError):
            every = step = 0
        if len(parts) > 3 or every < 1 or step < 1:
            raise ConfigError(f"unfreeze.schedule={text!r} is not every:K or every:K:N with whole K, N >= 1",
                              where=where, hint="e.g. every:100 adds one layer every 100 steps")
        return [(-every, float(step))]  # expanded once the layer count is known (``stages``)
    pairs: list[tuple[int | None, float]] = []
    for item in text.split(","):
        layers, sep, when = item.strip().partition(":")
        try:
            count = None if layers.strip().lower() == ALL else int(layers)
            moment = float(when)
        except ValueError:
            count, moment = 0, -1.0
        if not sep or (count is not None and count < 1) or moment < 0 or (moment >= 1 and moment != int(moment)):
            raise ConfigError(f"unfreeze.schedule entry {item.strip()!r} is not layers:when",
                              where=where, hint="e.g. '2:0,4:0.25,all:0.5' (when: a fraction < 1 or a step >= 1)")
        pairs.append((count, moment))
    if not pairs or pairs[0][1] != 0:
        raise ConfigError("unfreeze.schedule must start at 0 (the layers that train from the first step)",
                          where=where, hint="e.g. '2:0,4:0.25,all:0.5'")
    return pairs


def stages(text: str, total_layers: int, max_steps: int) -> list[Stage]:
    """The schedule resolved for a model with ``total_layers`` layers and a run of ``max_steps``."""
    where = "unfreeze.schedule"
    pairs = parse(text)
    if pairs[0][0] is not None and pairs[0][0] < 0:  # every:K[:N]
        every, step = -pairs[0][0], int(pairs[0][1])
        counts = list(range(step, total_layers, step))
        out = [Stage(i * every, n) for i, n in enumerate(counts)]
        return out + [Stage(len(counts) * every, None)]
    out: list[Stage] = []
    for count, moment in pairs:
        at = int(moment) if moment >= 1 else math.ceil(moment * max_steps)
        if count is not None and count > total_layers:
            raise ConfigError(f"unfreeze.schedule names {count} layers but the model has {total_layers}",
                              where=where, hint=f"use at most {total_layers}, or 'all'")
        layers = None if count is None or count == total_layers else count
        if out and (at <= out[-1].step or out[-1].layers is None or (layers is not None and layers <= out[-1].layers)):
            raise ConfigError(f"unfreeze.schedule must add layers at later and later steps (entry {count or ALL}:{moment:g} "
                              f"resolves to step {at})", where=where, hint="e.g. '2:0,4:0.25,all:0.5'")
        out.append(Stage(at, layers))
    return out


def check_config(config: Any) -> None:
    """While the plan is made: the schedule's form, and a method and stage it applies to."""
    if not config.unfreeze.schedule:
        return
    if config.method != "full" or config.stage not in ("sft", "pt"):
        raise ConfigError(f"unfreeze.schedule applies to --method full with --stage sft or pt, not "
                          f"--method {config.method} --stage {config.stage}",
                          where="unfreeze.schedule", hint="use --method full, or remove unfreeze.schedule")
    if config.distributed.strategy in ("zero3", "zero3-offload", "fsdp"):
        raise ConfigError(f"unfreeze.schedule cannot change which weights train under {config.distributed.strategy} "
                          f"sharding (the engine fixes them when it wraps the model)",
                          where="unfreeze.schedule", hint="use distributed.strategy=ddp or zero2")
    parse(config.unfreeze.schedule)


def layer_count(model: Any) -> int:
    from framework.methods import _decoder_layers

    return len(_decoder_layers(model))


def apply(model: Any, layers: int | None) -> int:
    """Make the top ``layers`` decoder layers trainable and the rest frozen (None: everything);
    returns how many layers train."""
    from framework.methods import _decoder_layers

    blocks = list(_decoder_layers(model))
    if layers is None:
        for param in model.parameters():
            param.requires_grad_(True)
        return len(blocks)
    for param in model.parameters():
        param.requires_grad_(False)
    for block in blocks[len(blocks) - layers:]:
        for param in block.parameters():
            param.requires_grad_(True)
    return layers


def _callback_base() -> Any:
    from transformers import TrainerCallback

    return TrainerCallback


@dataclass
class Progress:
    """What the run reports: the schedule, and (step, trainable layers) each time it changed."""

    total_layers: int
    schedule: list[Stage] = field(default_factory=list)
    history: list[tuple[int, int]] = field(default_factory=list)
    current: int = 0

    def metrics(self) -> dict[str, Any]:
        return {"trainable_layers": self.current, "total_layers": self.total_layers,
                "trainable_layers_history": self.history,
                "unfreeze_schedule": [(s.step, s.layers if s.layers is not None else ALL) for s in self.schedule]}


def callback(config: Any, model: Any, say: Callable[[str], None]) -> Any:
    """The Trainer callback that applies the schedule (None without ``unfreeze.schedule``).

    Build the Trainer with every parameter trainable (``--method full``): its AdamW then holds
    every parameter, and this callback freezes the lower layers before the first step.
    """
    if not config.unfreeze.schedule:
        return None
    check_config(config)
    total = layer_count(model)
    text = config.unfreeze.schedule
    progress = Progress(total)

    class Unfreezing(_callback_base()):  # type: ignore[misc]
        """Applies the stage of the current global step before each optimizer step."""

        def __init__(self) -> None:
            self.progress = progress
            self.stages: list[Stage] = []

        def metrics(self) -> dict[str, Any]:
            return self.progress.metrics()

        def _apply(self, state: Any, model: Any) -> None:
            stage = [s for s in self.stages if s.step <= state.global_step][-1]
            layers = apply(model, stage.layers)
            if layers != progress.current:
                progress.current = layers
                progress.history.append((state.global_step, layers))

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            self.stages = stages(text, total, state.max_steps)
            progress.schedule = self.stages
            if args.gradient_checkpointing and hasattr(model, "enable_input_require_grads"):
                model.enable_input_require_grads()  # frozen embeddings: checkpointed blocks still need grads
            self._apply(state, model)
            plan = ", ".join(f"{s.layers if s.layers is not None else 'all'} from step {s.step}" for s in self.stages)
            say(f"progressive unfreezing of {total} layers, top-down: {plan} "
                f"(now {progress.current} trainable at step {state.global_step})")

        def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            self._apply(state, model)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs is not None and "loss" in logs:
                logs["trainable_layers"], logs["total_layers"] = progress.current, total  # the progress line

    return Unfreezing()
