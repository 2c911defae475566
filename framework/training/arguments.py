"""The plan as transformers ``TrainingArguments``, and where a run's output goes by default.

Imports nothing of the run's plan at module level: ``framework.run_plan`` checks the
save/evaluation schedule (``save_and_eval_schedule``) while planning.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import distributed
from framework.errors import ConfigError

if TYPE_CHECKING:
    from framework.run_plan import RunPlan


def default_output_dir(plan: RunPlan) -> Path:
    name = Path(plan.facts.name_or_path.rstrip("/")).name or "model"
    return Path("runs") / f"{name}-{plan.config.method}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def training_arguments(plan: RunPlan, output_dir: Path, has_eval: bool) -> Any:
    from transformers import TrainingArguments

    from framework.hardware import use_tf32

    cfg = plan.config
    t = cfg.training
    dtype = plan.dtype[0]
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=t.micro_batch_size,
        per_device_eval_batch_size=t.micro_batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        warmup_steps=t.warmup,
        lr_scheduler_type=t.lr_scheduler,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,  # 0 disables clipping; the Trainer compares it with 0, None fails
        optim=t.optim,
        logging_steps=t.logging_steps,
        **save_and_eval_schedule(t, has_eval),
        save_total_limit=t.save_total_limit,
        greater_is_better=False,
        seed=t.seed,
        data_seed=t.seed,
        bf16=dtype == "bf16",
        fp16=dtype == "fp16",
        tf32=True if use_tf32(plan.hardware) else None,  # fp32 matmuls left (QLoRA's upcast head) on tensor cores
        report_to=[r for r in t.report_to if r != "none"] or "none",
        remove_unused_columns=False,
        prediction_loss_only=True,
        activation_checkpointing=t.gradient_checkpointing,
        torch_compile=t.torch_compile,
        dataloader_num_workers=0,
        use_cpu=plan.hardware.device == "cpu",
        ddp_backend="gloo" if plan.hardware.device == "cpu" and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        disable_tqdm=False,
        save_only_model=False,
        **distributed.trainer_arguments(plan),  # DeepSpeed or FSDP settings of the planned strategy
    )


def save_and_eval_schedule(t: Any, has_eval: bool) -> dict[str, Any]:
    """When to evaluate and checkpoint, so that the best checkpoint is always an evaluated one.

    With validation data every checkpoint is evaluated and the best by validation loss is kept
    and loaded at the end (transformers' ``load_best_model_at_end``); giving only one of
    ``save_steps``/``eval_steps`` uses it for both.
    """
    if not has_eval:
        return dict(eval_strategy="no", save_strategy="epoch" if t.save_steps is None else "steps",
                    save_steps=t.save_steps or 500, load_best_model_at_end=False, metric_for_best_model=None)
    save_steps, eval_steps = t.save_steps or t.eval_steps, t.eval_steps or t.save_steps
    if save_steps is not None and eval_steps is not None and save_steps % eval_steps:
        raise ConfigError(f"training.save_steps={save_steps} is not a multiple of training.eval_steps={eval_steps}",
                          hint="the best checkpoint must be an evaluated one: make save_steps a multiple of eval_steps")
    strategy = "epoch" if save_steps is None else "steps"
    return dict(eval_strategy=strategy, eval_steps=eval_steps, save_strategy=strategy, save_steps=save_steps or 500,
                load_best_model_at_end=True, metric_for_best_model="eval_loss")

