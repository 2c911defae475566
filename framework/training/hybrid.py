"""The hybrid recipe (``--method hybrid``): full-parameter fine-tuning first, then LoRA on the updated weights.

The seeds' recipe: the first 10-30% of the optimizer steps change the weights the most and the
loss falls fastest, so train those in full to learn the instructions quickly; then switch to
LoRA, steadier than LoRA alone and cheaper than full fine-tuning to the end.

One run, two trainers in a row (so optimizers and distributed wrappers are built fresh for
each parameter set), made to behave as one:

- one sample order: the per-epoch shuffles of the whole run are drawn up front and the phases
  take consecutive stretches of it (sequential samplers), so the LoRA phase continues the data
  where the full phase stopped instead of starting the epoch again;
- one learning-rate schedule: both phases follow the schedule of the whole run, the second
  shifted by the switch step, so there is no second warm-up and no decay to zero at the switch;
- one loss curve: LoRA's B matrices start at zero, so attaching the adapter does not change the
  model's output; the run measures it on a probe sample and records the change in metrics.

Outputs: the full-phase model in ``OUTPUT/base`` (weights and tokenizer) and the LoRA adapter in
``OUTPUT`` whose ``base_model_name_or_path`` points at it; ``training_config.json`` records the
base as ``model.adapter_base`` (relative to the output) so ``framework chat/merge/eval`` load
the right base. ``metrics.json`` records ``switch_step``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from framework import distributed
from framework.errors import ConfigError
from framework.run_plan import IDENTITY_PROMPT, RunPlan
from framework.training import skeleton
from framework.training.arguments import training_arguments
from framework.training.inputs import build_inputs
from framework.training.model import before_answer, collator, generate_answer, load_for_training, loss_choice, sharded
from framework.training.saving import clear_output_dir, finish, save_model_directory
from framework.training.skeleton import RunResult, Say

#: Where the full-phase model is saved, relative to the run output.
BASE_SUBDIR = "base"


def claims(config: Any) -> bool:
    return config.method == "hybrid" and config.stage in ("sft", "pt")


def total_steps(max_steps: int, epochs: float, samples: int, samples_per_step: int) -> int:
    """Optimizer steps of the whole run: ``max_steps``, or the epochs over the samples."""
    if max_steps > 0:
        return max_steps
    return max(1, math.ceil(epochs * samples / samples_per_step))


def switch_step(steps: int, fraction: float) -> int:
    """The last full-parameter step: ``fraction`` of the run, at least one step of each phase."""
    if steps < 2:
        raise ConfigError(f"--method hybrid needs at least 2 optimizer steps, this run has {steps}",
                          hint="raise training.epochs or training.max_steps, or use --method full")
    return min(steps - 1, max(1, round(steps * fraction)))


def sample_order(samples: int, needed: int, seed: int) -> np.ndarray:
    """Row numbers for ``needed`` samples: one seeded shuffle per epoch, epochs back to back."""
    rng = np.random.default_rng(seed)
    epochs = math.ceil(needed / samples)
    return np.concatenate([rng.permutation(samples) for _ in range(epochs)])[:needed]


def attach_lora(model: Any, config: Any, targets: Any, base_dir: Path | None = None) -> Any:
    """LoRA over the (trained) full model; the adapter records ``base_dir`` as its base."""
    from framework.methods import apply_method

    peft_model = apply_method(model, config, targets, method="lora")
    if base_dir is not None:
        for adapter in peft_model.peft_config.values():
            adapter.base_model_name_or_path = str(base_dir.resolve())
    return peft_model


class _ShiftedSchedule:
    """A step -> LR factor function read ``offset`` steps later (picklable, for checkpoints)."""

    def __init__(self, factor: Any, offset: int) -> None:
        self.factor = factor
        self.offset = offset

    def __call__(self, step: int) -> float:
        return self.factor(step + self.offset)


def _phase_trainer_class() -> type:
    from torch.optim.lr_scheduler import LambdaLR

    from framework.training.trainer import FrameworkTrainer

    class PhaseTrainer(FrameworkTrainer):
        """A trainer that runs a stretch of a longer run's learning-rate schedule."""

        def __init__(self, *args: Any, schedule_steps: int, schedule_offset: int, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.schedule_steps = schedule_steps
            self.schedule_offset = schedule_offset

        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if self.lr_scheduler is None:
                whole = super().create_scheduler(self.schedule_steps, optimizer)
                factors = getattr(whole, "lr_lambdas", None)
                if factors is not None and self.schedule_offset:
                    self.lr_scheduler = LambdaLR(whole.optimizer, [_ShiftedSchedule(f, self.schedule_offset) for f in factors])
            return self.lr_scheduler

    return PhaseTrainer


@dataclass
class _Phase:
    trainer: Any
    result: Any
    train_history: list[tuple[int, float]]
    eval_history: list[tuple[int, float]]
    lr_history: list[tuple[int, float]]
    callbacks: skeleton.Callbacks
    tokens: Any


def _train_phase(plan: RunPlan, model: Any, tokenizer: Any, train: Any, evaluation: Any, output_dir: Path, *,
                 steps: int, offset: int, total: int, save: bool, say: Say) -> _Phase:
    from framework.loss import supports_chunked_loss
    from framework.progress import ProgressBar, TokenCounter, install
    from framework.seq_schedule import ScheduledCollator, scheduled

    cfg = plan.config
    args = training_arguments(plan, output_dir, evaluation is not None)
    changes: dict[str, Any] = {"max_steps": steps, "num_train_epochs": 1, "train_sampling_strategy": "sequential"}
    if not save:
        changes.update(save_strategy="no", load_best_model_at_end=False)
    args = replace(args, **changes)
    found = skeleton.callbacks(plan, say, has_eval=evaluation is not None)
    callbacks = found.all()
    data_collator = scheduled(collator(plan, tokenizer, model), cfg.data.seq_schedule, say,
                              step_offset=offset, total_steps=total)
    if isinstance(data_collator, ScheduledCollator):
        callbacks.append(data_collator)
    tokens = TokenCounter(tokenizer.pad_token_id)
    trainer = _phase_trainer_class()(
        model=model, args=args, train_dataset=train, eval_dataset=evaluation, data_collator=data_collator,
        processing_class=tokenizer, callbacks=callbacks,
        chunked_loss=loss_choice(plan).chunked and supports_chunked_loss(model),
        loss_chunk_size=cfg.training.loss_chunk_size, guard=found.guard, tokens=tokens,
        schedule_steps=total, schedule_offset=offset,
    )
    install(trainer, ProgressBar(tokens, say, world_size=trainer.args.world_size))
    result = trainer.train()
    skeleton.check_diverged(found, output_dir)
    log = trainer.state.log_history
    return _Phase(trainer, result, skeleton.history(log, "loss", offset), skeleton.history(log, "eval_loss", offset),
                  skeleton.history(log, "learning_rate", offset), found, tokens)


def _probe_loss(model: Any, batch: dict[str, Any]) -> float:
    """The loss of one collated batch in eval mode (no dropout): the switch's continuity check."""
    import torch

    from framework.loss import chunked_causal_lm_loss

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    # flash-attention batches carry max_length_q/k as Python ints, which transformers wants as ints
    moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    with torch.no_grad():
        loss = chunked_causal_lm_loss(model, moved)
    if was_training:
        model.train()
    return float(loss)


def _record_hybrid(switch: int, steps: int) -> Any:
    """The adapter's base named in training_config.json, relative to the output (the run can move).

    Added before training_config.json is moved into place, so no reader ever sees a hybrid
    output that points at the original model.
    """
    def edit(record: dict[str, Any]) -> None:
        record["model"]["adapter_base"] = BASE_SUBDIR
        record["hybrid"] = {"switch_step": switch, "total_steps": steps, "base": BASE_SUBDIR}

    return edit


def run(plan: RunPlan, say: Say) -> RunResult:
    """Full-parameter SFT for ``hybrid.switch_fraction`` of the steps, then LoRA, in one run."""
    from framework.methods import apply_method, count_parameters

    cfg = plan.config
    if cfg.output.resume:
        raise ConfigError("--method hybrid runs cannot be resumed from a checkpoint yet",
                          hint="start the run again with --overwrite, or use --method full or lora")
    if cfg.method != "hybrid" or cfg.stage == "dpo":
        raise ConfigError(f"the hybrid recipe got method {cfg.method} at stage {cfg.stage}", hint="use --method hybrid with sft or pt")
    begun = skeleton.start(plan, resumable=False)
    output_dir = begun.output_dir
    inputs = build_inputs(plan, say)
    tokenizer, fixes, data = inputs.tokenizer, inputs.fixes, inputs.data

    t = cfg.training
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = t.micro_batch_size * t.grad_accum * world
    steps = total_steps(t.max_steps, t.epochs, len(data.train), per_step)
    switch = switch_step(steps, cfg.hybrid.switch_fraction)
    order = sample_order(len(data.train), steps * per_step, t.seed)
    full_rows, lora_rows = order[: switch * per_step], order[switch * per_step :]
    say(f"method hybrid: full-parameter steps 1-{switch}, LoRA steps {switch + 1}-{steps} "
        f"(switch at {switch / steps:.0%} of {steps} steps)")

    model = load_for_training(plan, tokenizer, fixes)
    identity = IDENTITY_PROMPT if plan.demo is not None else None
    before = before_answer(model, tokenizer, plan, fixes.stop_tokens)
    model = apply_method(model, cfg, None, method="full")  # type: ignore[arg-type]
    full_params = count_parameters(model)
    say(f"method hybrid, full phase: {full_params.line()}")
    if distributed.is_main_process():
        clear_output_dir(output_dir, None, overwrite=cfg.output.overwrite)
    full = _train_phase(plan, model, tokenizer, data.train.select(full_rows), None, output_dir,
                        steps=switch, offset=0, total=steps, save=False, say=say)

    base_dir = output_dir / BASE_SUBDIR
    save_model_directory(full.trainer, model, tokenizer, base_dir)
    probe = collator(plan, tokenizer, model)([data.train[int(i)] for i in lora_rows[: t.micro_batch_size]])
    loss_before = _probe_loss(model, probe)
    model = attach_lora(model, cfg, plan.family.lora_targets("lora", cfg.lora.train_embeddings), base_dir)
    loss_after = _probe_loss(model, probe)
    lora_params = count_parameters(model)
    say(f"method hybrid, LoRA phase: {lora_params.line()}; probe loss {loss_before:.4f} -> {loss_after:.4f} at the switch")
    if full.callbacks.interrupt.requested:
        say(f"stopped by interrupt in the full phase; the full-phase model is in {base_dir}")
        return RunResult(output_dir, {"steps": switch, "interrupted": True, "switch_step": switch,
                                      "train_history": full.train_history}, before, None, model, tokenizer, interrupted=True)

    lora = _train_phase(plan, model, tokenizer, data.train.select(lora_rows), data.eval, output_dir,
                        steps=steps - switch, offset=switch, total=steps, save=True, say=say)
    train_history = full.train_history + lora.train_history
    eval_history = lora.eval_history
    if lora.callbacks.interrupt.requested:
        say(f"stopped by interrupt after step {switch + lora.result.global_step}; hybrid runs cannot resume yet")
        return RunResult(output_dir, {"steps": switch + lora.result.global_step, "interrupted": True, "switch_step": switch,
                                      "train_history": train_history}, before, None, model, tokenizer, interrupted=True)
    eval_loss = lora.trainer.evaluate()["eval_loss"] if data.eval is not None else None

    after = generate_answer(model, tokenizer, plan, identity, fixes.stop_tokens) if identity and not sharded(plan) else None
    runtime = (full.result.metrics.get("train_runtime") or 0) + (lora.result.metrics.get("train_runtime") or 0)
    last_full = full.train_history[-1][1] if full.train_history else None
    first_lora = lora.train_history[0][1] if lora.train_history else None
    metrics = {
        "train_loss_first": train_history[0][1] if train_history else None,
        "train_loss_last": train_history[-1][1] if train_history else None,
        "train_loss_mean": (full.result.training_loss * switch + lora.result.training_loss * (steps - switch)) / steps,
        "eval_loss": eval_loss,
        "eval_history": eval_history,
        "train_history": train_history,
        "learning_rate_history": full.lr_history + lora.lr_history,
        "steps": switch + lora.result.global_step,
        "max_steps": steps,
        "switch_step": switch,
        "switch_fraction": cfg.hybrid.switch_fraction,
        "switch_loss": {"last_full_step": last_full, "first_lora_step": first_lora,
                        "probe_before": loss_before, "probe_after": loss_after},
        "base_directory": BASE_SUBDIR,
        "best_checkpoint": lora.trainer.state.best_model_checkpoint,
        "stopped_early": lora.callbacks.stopped_early(),
        "train_samples": len(data.train),
        "eval_samples": len(data.eval) if data.eval is not None else 0,
        **skeleton.throughput(full.tokens.seen + lora.tokens.seen, lora.trainer.args.world_size, runtime),
        "trainable_parameters": lora_params.trainable,
        "trainable_parameters_full_phase": full_params.trainable,
        "total_parameters": lora_params.total,
        "wall_time_s": time.perf_counter() - begun.started,
        "identity_prompt": identity,
        "answer_before": before,
        "answer_after": after,
        "skipped_steps": sum(p.callbacks.guard.guard.skipped for p in (full, lora) if p.callbacks.guard.guard),
        "loss_spikes": full.callbacks.guard.spikes + [(switch + s, v) for s, v in lora.callbacks.guard.spikes],
        "interrupted": False,
        "world_size": lora.trainer.args.world_size,
        "strategy": plan.distributed.strategy if plan.distributed is not None else None,
    }
    finish(plan, lora.trainer, model, tokenizer, fixes, output_dir, metrics, train_history, eval_history,
           record=_record_hybrid(switch, steps))
    return RunResult(output_dir, metrics, before, after, model, tokenizer)
