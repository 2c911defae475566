"""The SFT recipe (``--stage sft`` and ``pt``, every method but ``hybrid``).

What differs from the skeleton: the method is applied to the loaded model by the framework
(peft adapters, freezing, full), the trainer is ``FrameworkTrainer`` with the chunked loss and
the sequence-length schedule, and runs resume from checkpoints.
"""

from __future__ import annotations

from typing import Any

from framework.checkpointing import checkpoint_step
from framework.run_plan import IDENTITY_PROMPT, RunPlan
from framework.training import skeleton
from framework.training.arguments import training_arguments
from framework.training.inputs import build_inputs
from framework.training.model import (apply_dropout_choice, before_answer, collator, generate_answer,
                                      load_for_training, loss_choice, sharded)
from framework.training.saving import clear_output_dir, finish
from framework.training.skeleton import RunResult, Say


def claims(config: Any) -> bool:
    """Supervised fine-tuning and pretraining with one parameter set for the whole run."""
    return config.stage in ("sft", "pt") and config.method != "hybrid"


def run(plan: RunPlan, say: Say) -> RunResult:
    """Train and save; returns where the output went and the metrics."""
    import time

    import torch

    from framework import distributed
    from framework.loss import supports_chunked_loss
    from framework.methods import apply_method, count_parameters
    from framework.progress import ProgressBar, TokenCounter, install
    from framework.seq_schedule import ScheduledCollator, scheduled
    from framework.training.trainer import FrameworkTrainer

    cfg = plan.config
    begun = skeleton.start(plan)
    output_dir, resume_from = begun.output_dir, begun.resume_from
    inputs = build_inputs(plan, say)
    tokenizer, fixes, data = inputs.tokenizer, inputs.fixes, inputs.data

    # built before the weights load: under ZeRO-3 transformers then partitions them while loading
    training_args = training_arguments(plan, output_dir, data.eval is not None)
    model = load_for_training(plan, tokenizer, fixes)
    identity = IDENTITY_PROMPT if plan.demo is not None else None
    before = before_answer(model, tokenizer, plan, fixes.stop_tokens)
    targets = plan.family.lora_targets(cfg.method, cfg.lora.train_embeddings)
    model = apply_method(model, cfg, targets)
    apply_dropout_choice(plan, model)
    if plan.load.train_language_model_only:
        from framework.methods import restrict_to_language_model

        frozen = restrict_to_language_model(model)
        if frozen:
            say(f"multimodal wrapper: {frozen:,} parameters outside the language model stay frozen")
    params = count_parameters(model)
    say(f"method {cfg.method}: {params.line()}")

    found = skeleton.callbacks(plan, say, has_eval=data.eval is not None)
    callbacks = found.all()
    from framework.unfreeze import callback as unfreezing

    unfreeze = unfreezing(cfg, model, say)  # unfreeze.schedule: lower layers join as training goes
    if unfreeze is not None:
        callbacks.append(unfreeze)
    data_collator = scheduled(collator(plan, tokenizer, model), cfg.data.seq_schedule, say)
    if isinstance(data_collator, ScheduledCollator):
        callbacks.append(data_collator)  # it moves to the next sequence length as training progresses
    tokens = TokenCounter(tokenizer.pad_token_id)
    trainer = FrameworkTrainer(
        model=model,
        args=training_args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        data_collator=data_collator,
        processing_class=tokenizer,
        callbacks=callbacks,
        # decided with Liger's fused loss in make_plan (framework.kernels.choose_loss)
        chunked_loss=loss_choice(plan).chunked and supports_chunked_loss(model),
        loss_chunk_size=cfg.training.loss_chunk_size,
        frozen_head_dtype=torch.bfloat16 if loss_choice(plan).head_dtype == "bf16" else None,
        guard=found.guard,
        tokens=tokens,
        run_settings=plan.resolved.to_json(),
    )
    install(trainer, ProgressBar(tokens, say, world_size=trainer.args.world_size))
    if distributed.is_main_process():
        clear_output_dir(output_dir, resume_from, overwrite=cfg.output.overwrite)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    skeleton.check_diverged(found, output_dir)
    state = trainer.state
    train_history = skeleton.history(state.log_history, "loss")
    eval_history = skeleton.history(state.log_history, "eval_loss")
    if found.interrupt.requested:
        say(f"stopped by interrupt after step {result.global_step}; the checkpoint is saved. Continue with "
            f"`framework run ... --resume --output {output_dir}`")
        return RunResult(output_dir, {"steps": result.global_step, "interrupted": True,
                                      "train_history": train_history}, None, None, model, tokenizer, interrupted=True)
    eval_loss = skeleton.final_eval_loss(trainer) if data.eval is not None else None

    # sharded weights are whole only inside the engine's own forward: no greedy answer from them
    after = generate_answer(model, tokenizer, plan, identity, fixes.stop_tokens) if identity and not sharded(plan) else None
    metrics = {
        "train_loss_first": train_history[0][1] if train_history else None,
        "train_loss_last": train_history[-1][1] if train_history else None,
        "train_loss_mean": result.training_loss,
        "eval_loss": eval_loss,
        "eval_history": eval_history,
        "train_history": train_history,
        "steps": result.global_step,
        "max_steps": state.max_steps,
        "resumed_from_step": checkpoint_step(resume_from) if resume_from else None,
        "best_checkpoint": state.best_model_checkpoint,
        "stopped_early": found.stopped_early(),
        "train_samples": len(data.train),
        "eval_samples": len(data.eval) if data.eval is not None else 0,
        **skeleton.throughput(tokens.seen, trainer.args.world_size, result.metrics.get("train_runtime")),
        "trainable_parameters": params.trainable,
        "total_parameters": params.total,
        "wall_time_s": time.perf_counter() - begun.started,
        "identity_prompt": identity,
        "answer_before": before,
        "answer_after": after,
        "skipped_steps": found.guard.guard.skipped if found.guard.guard else 0,
        "loss_spikes": found.guard.spikes,
        "interrupted": found.interrupt.requested,
        "world_size": trainer.args.world_size,
        "strategy": plan.distributed.strategy if plan.distributed is not None else None,
        **(unfreeze.metrics() if unfreeze is not None else {}),
    }
    finish(plan, trainer, model, tokenizer, fixes, output_dir, metrics, train_history, eval_history)
    return RunResult(output_dir, metrics, before, after, model, tokenizer)
