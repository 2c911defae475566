"""Stages 4-8 of a run: tokenizer, data, model, training, saving.

Each stage is a function so ``check`` and ``render`` can stop early and tests can drive one
stage at a time. ``run`` strings them together and prints what a user needs to see.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from framework.errors import ConfigError
from framework.fixes import FixReport, apply_model_fixes, apply_tokenizer_fixes, load_tokenizer
from framework.hookdata import ChatOptions, RenderedChat
from framework.checkpointing import check_resume, checkpoint_step
from framework import distributed
from framework.outputs import check_output_dir, plot_losses, write_json
from framework.run_plan import IDENTITY_PROMPT, RunPlan, library_versions
from framework.seq_schedule import check_schedule

Say = Callable[[str], None]


def model_directory(plan: RunPlan) -> Path:
    assert plan.source.directory is not None, "training needs a model directory"
    return plan.source.directory


def prepare_tokenizer(plan: RunPlan) -> tuple[Any, FixReport]:
    tokenizer = load_tokenizer(model_directory(plan), trust_remote_code=plan.config.model.trust_remote_code)
    findings = plan.family.check_tokenizer(tokenizer)
    report = apply_tokenizer_fixes(tokenizer, findings, plan.family.stop_tokens(tokenizer))
    return tokenizer, report


def renderer(plan: RunPlan, tokenizer: Any, *, generation: bool = False) -> Callable[..., RenderedChat]:
    """The plugin's template bound for the data pipeline: ``render(messages[, tools, options])``.

    ``options`` are a sample's own template options (``enable_thinking``), passed to the
    plugin in ``ChatOptions.extra``.
    """
    render = plan.family.chat_renderer(tokenizer)
    plain = ChatOptions(add_generation_prompt=generation)

    def bound(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
              options: dict[str, Any] | None = None) -> RenderedChat:
        chosen = ChatOptions(generation, tuple(sorted(options.items()))) if options else plain
        return render(messages, chosen, tools)

    return bound


def chat_support(plan: RunPlan, tokenizer: Any) -> dict[str, Any]:
    """What the renderer declares (``chat_features``) and its name, for refusing undeclared data."""
    name = f"plugin {plan.selection.info.label()}"
    if plan.facts.chat_format == "shipped":
        via = "" if plan.selection.name == "generic" else f" (model claimed by {name})"
        name = f"the model's shipped chat template{via}"
    return {"features": plan.family.chat_features(tokenizer), "renderer_name": name}


def prepare_data(plan: RunPlan, tokenizer: Any, *, with_kinds: bool = False) -> Any:
    """Read, validate, render, tokenize and mask the data (cached); ``with_kinds`` keeps each
    token's segment kind (reasoning, tool call, ...) for ``framework render``."""
    from datasets.utils.logging import disable_progress_bar

    from framework.data.pipeline import prepare_pretrain, prepare_preference, prepare_sft

    disable_progress_bar()  # the data report says what happened; per-shard save bars are noise

    cfg = plan.config
    common = dict(cutoff_len=cfg.data.cutoff_len, val_size=cfg.data.val_size, seed=cfg.training.seed)
    fmt = None if cfg.data.format == "auto" else cfg.data.format
    if cfg.stage == "pt":
        return prepare_pretrain(plan.data_paths, tokenizer, **common)
    if cfg.stage == "dpo":
        return prepare_preference(plan.data_paths, tokenizer, renderer(plan, tokenizer),
                                  render_prompt=renderer(plan, tokenizer, generation=True),
                                  **chat_support(plan, tokenizer), **common)
    return prepare_sft(
        plan.data_paths, tokenizer, renderer(plan, tokenizer), fmt=fmt, train_on=cfg.data.train_on,
        truncation=cfg.data.truncation, max_samples=cfg.data.max_samples, strict=cfg.data.strict,
        allow_special_in_data=cfg.data.allow_special_in_data, mix_weights=cfg.data.mix_weights,
        cache_dir=_cache_dir(), overwrite_cache=cfg.data.overwrite_cache, num_proc=cfg.data.num_proc,
        task_system_prompts=cfg.data.task_system_prompts, template_fingerprint=_fingerprint(plan, tokenizer),
        train_on_reasoning=cfg.data.train_on_reasoning, with_kinds=with_kinds, **chat_support(plan, tokenizer),
        **common,
    )


def _cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("framework")) / "data"


def _fingerprint(plan: RunPlan, tokenizer: Any = None) -> str:
    """Plugin identity plus a probe render, so a template change never reuses a stale cache."""
    info = plan.selection.info
    identity = f"{info.name}-{info.version}-{plan.facts.variant}-{plan.facts.name_or_path}"
    if tokenizer is None:
        return identity
    from framework.data.cache import render_fingerprint
    from framework.errors import UserError

    try:
        probe = render_fingerprint(renderer(plan, tokenizer))[:16]
    except UserError:  # a template that refuses the probe (e.g. no system role): its text decides
        import hashlib

        text = f"{plan.facts.chat_format}\n{plan.facts.chat_template or ''}"
        probe = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{identity}-{probe}"


@dataclass
class RunInputs:
    """Stage 4-5 results every kind of run starts from: fixed tokenizer, prepared data, findings."""

    tokenizer: Any
    fixes: FixReport
    data: Any
    findings: list[Any]


def prepare_inputs(plan: RunPlan, say: Say, *, check_data: bool = True) -> RunInputs:
    """Tokenizer with the plugin's fixes, then the data, each reported as it is done.

    One process fills the preprocessing cache while the others wait and read it.
    """
    tokenizer, fixes = prepare_tokenizer(plan)
    for line in fixes.lines():
        say(line)
    from framework.drift import template_drift

    drift = template_drift(plan.family, tokenizer)  # plugin format vs the shipped template, before any data
    for finding in drift:
        say(f"[{finding.severity}] {finding.code}: {finding.message}")
    with distributed.main_process_first():
        data = prepare_data(plan, tokenizer)
    for line in data.report.lines():
        say(line)
    check_schedule(plan.config.data.seq_schedule, data.train, say)  # prompts longer than a phase's length
    findings = plan.family.check_data(tokenizer, list(data.sample_texts)) if check_data else []
    for finding in findings:
        say(f"[{finding.severity}] {finding.code}: {finding.message}")
    return RunInputs(tokenizer, fixes, data, drift + findings)


def load_for_training(plan: RunPlan, tokenizer: Any, fixes: FixReport) -> Any:
    from framework.methods import load_model

    rope = None
    if plan.rope.action == "scale":
        rope = {"rope_scaling": plan.rope.rope_scaling, "max_position_embeddings": plan.rope.max_position_embeddings}
    model = load_model(model_directory(plan), plan.config, dtype=plan.dtype[0], attn=plan.attention[0], rope=rope,
                       trust_remote_code=plan.config.model.trust_remote_code,
                       quant_storage=distributed.quant_storage(plan))
    apply_model_fixes(model, tokenizer, fixes, plan.family.check_model(model, tokenizer))
    if plan.config.training.liger_kernels:
        from framework.kernels import apply_liger

        apply_liger(model, device=plan.hardware.device, fused_loss=loss_choice(plan).liger_fused)
    # packed rows isolate samples through restarted position_ids only when no KV cache is built
    model.config.use_cache = False
    from framework.hardware import placement

    device = placement(plan.hardware, sharded=sharded(plan), quantized=plan.config.method in ("qlora", "qlora8"))
    if device is not None:  # on the GPU before the demo's before-answer: flash-attn has no CPU kernel
        model.to(device)
    return model


def sharded(plan: RunPlan) -> bool:
    """Whether each process holds only a shard of the weights (FSDP, ZeRO-3)."""
    return plan.distributed is not None and plan.distributed.sharded


def loss_choice(plan: RunPlan) -> Any:
    """The run's ``framework.kernels.LossChoice`` (decided in ``make_plan`` once the strategy is known)."""
    if plan.loss is not None:
        return plan.loss
    from framework.kernels import choose_loss

    return choose_loss(plan.config, raw_config=plan.facts.raw)


def before_answer(model: Any, tokenizer: Any, plan: RunPlan, stop_tokens: list[str]) -> str | None:
    """The demo's answer before training; none from sharded weights, which are whole only inside the engine."""
    if plan.demo is None or sharded(plan):
        return None
    return generate_answer(model, tokenizer, plan, IDENTITY_PROMPT, stop_tokens)


def generate_answer(model: Any, tokenizer: Any, plan: RunPlan, prompt: str, stop_tokens: list[str],
                    max_new_tokens: int = 48) -> str:
    """Greedy answer to one prompt, rendered with the plugin's template and its stop tokens."""
    import torch

    text = renderer(plan, tokenizer, generation=True)([{"role": "user", "content": prompt}]).text
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")
    stop_ids = [i for i in (tokenizer.convert_tokens_to_ids(t) for t in stop_tokens) if isinstance(i, int) and i >= 0]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model.generate(**{k: v.to(device) for k, v in ids.items()}, max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=stop_ids or None, pad_token_id=tokenizer.pad_token_id)
    if was_training:
        model.train()
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


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


def collator(plan: RunPlan, tokenizer: Any, model: Any) -> Any:
    from framework.data.collate import PackingCollator, PaddedCollator

    packing = plan.config.data.packing and plan.load.supports_packing and plan.config.method not in ("prefix", "prompt", "ptuning")
    if packing:
        # flash-attention's varlen kernel takes the sample boundaries from the batch (no per-layer sync)
        return PackingCollator(flash_kwargs=plan.attention[0].startswith("flash"))
    return PaddedCollator(pad_token_id=tokenizer.pad_token_id)


@dataclass
class RunResult:
    output_dir: Path
    metrics: dict[str, Any]
    before: str | None
    after: str | None
    model: Any = None
    tokenizer: Any = None
    interrupted: bool = False


def run(plan: RunPlan, say: Say) -> RunResult:
    """Train and save; returns where the output went and the metrics."""
    import torch
    from transformers import EarlyStoppingCallback

    from framework.guards import GuardCallback, TrainingDiverged
    from framework.interrupt import InterruptCallback
    from framework.methods import apply_method, count_parameters
    from framework.train import FrameworkTrainer, HistoryCallback

    cfg = plan.config
    if cfg.stage == "dpo":
        from framework.dpo import run_dpo

        return run_dpo(plan, say)
    if cfg.method == "hybrid":
        from framework.hybrid import run_hybrid

        return run_hybrid(plan, say)
    started = time.perf_counter()
    output_dir = Path(cfg.output.dir) if cfg.output.dir else default_output_dir(plan)
    resume_from = check_output_dir(output_dir, overwrite=cfg.output.overwrite, resume=cfg.output.resume)
    if resume_from is not None:
        check_resume(resume_from, plan.resolved.to_json())  # before anything loads
    torch.manual_seed(cfg.training.seed)

    inputs = prepare_inputs(plan, say)
    tokenizer, fixes, data = inputs.tokenizer, inputs.fixes, inputs.data

    # built before the weights load: under ZeRO-3 transformers then partitions them while loading
    training_args = training_arguments(plan, output_dir, data.eval is not None)
    model = load_for_training(plan, tokenizer, fixes)
    identity = IDENTITY_PROMPT if plan.demo is not None else None
    before = before_answer(model, tokenizer, plan, fixes.stop_tokens)
    targets = plan.family.lora_targets(cfg.method, cfg.lora.train_embeddings)
    model = apply_method(model, cfg, targets)
    if plan.load.train_language_model_only:
        from framework.methods import restrict_to_language_model

        frozen = restrict_to_language_model(model)
        if frozen:
            say(f"multimodal wrapper: {frozen:,} parameters outside the language model stay frozen")
    params = count_parameters(model)
    say(f"method {cfg.method}: {params.line()}")

    history = HistoryCallback()
    guard = GuardCallback(say)
    interrupt = InterruptCallback(say)
    callbacks: list[Any] = [history, guard, interrupt]
    if data.eval is not None and cfg.training.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(cfg.training.early_stopping_patience, cfg.training.early_stopping_threshold))
    for _, extra in plan.family.host.call_all("training_callbacks", config=cfg):
        callbacks.extend(extra or [])
    from framework.loss import supports_chunked_loss
    from framework.progress import ProgressBar, TokenCounter, install
    from framework.seq_schedule import ScheduledCollator, scheduled

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
        guard=guard,
        tokens=tokens,
        run_settings=plan.resolved.to_json(),
    )
    install(trainer, ProgressBar(tokens, say, world_size=trainer.args.world_size))
    if distributed.is_main_process():
        prepare_output_dir(output_dir, resume_from, overwrite=cfg.output.overwrite)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if guard.stopped_reason:
        raise TrainingDiverged(f"training stopped: {guard.stopped_reason}; the last good checkpoint in "
                               f"{output_dir} is kept")
    state = trainer.state
    train_history = [(int(e["step"]), float(e["loss"])) for e in state.log_history
                     if "loss" in e and math.isfinite(float(e["loss"]))]
    eval_history = [(int(e["step"]), float(e["eval_loss"])) for e in state.log_history if "eval_loss" in e]
    if interrupt.requested:
        say(f"stopped by interrupt after step {result.global_step}; the checkpoint is saved. Continue with "
            f"`framework run ... --resume --output {output_dir}`")
        return RunResult(output_dir, {"steps": result.global_step, "interrupted": True,
                                      "train_history": train_history}, None, None, model, tokenizer, interrupted=True)
    eval_loss = trainer.evaluate()["eval_loss"] if data.eval is not None else None

    # sharded weights are whole only inside the engine's own forward: no greedy answer from them
    after = generate_answer(model, tokenizer, plan, identity, fixes.stop_tokens) if identity and not sharded(plan) else None
    state_dict = distributed.full_state_dict(trainer)  # every process takes part in gathering shards
    if distributed.is_main_process():
        save_outputs(plan, model, tokenizer, fixes, output_dir, state_dict=state_dict)
    train_tokens = tokens.seen * trainer.args.world_size
    runtime = result.metrics.get("train_runtime")
    stopper = next((c for c in callbacks if isinstance(c, EarlyStoppingCallback)), None)
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
        "stopped_early": bool(stopper and stopper.early_stopping_patience_counter >= stopper.early_stopping_patience),
        "train_samples": len(data.train),
        "eval_samples": len(data.eval) if data.eval is not None else 0,
        "train_tokens": train_tokens,
        "train_runtime_s": runtime,
        "tokens_per_second": train_tokens / runtime if runtime else None,
        "trainable_parameters": params.trainable,
        "total_parameters": params.total,
        "wall_time_s": time.perf_counter() - started,
        "identity_prompt": identity,
        "answer_before": before,
        "answer_after": after,
        "skipped_steps": guard.guard.skipped if guard.guard else 0,
        "loss_spikes": guard.spikes,
        "interrupted": interrupt.requested,
        "world_size": trainer.args.world_size,
        "strategy": plan.distributed.strategy if plan.distributed is not None else None,
    }
    if distributed.is_main_process():
        write_json(output_dir / "metrics.json", metrics)
        plot_losses(output_dir / "loss.png", train_history, eval_history)
    distributed.barrier()  # every process returns once the outputs exist
    return RunResult(output_dir, metrics, before, after, model, tokenizer)


def prepare_output_dir(output_dir: Path, resume_from: Path | None, *, overwrite: bool) -> None:
    """Just before training: drop what a crashed save left, and with --overwrite the old checkpoints.

    Done this late so that a run refused for bad data or a bad model never touches the directory.
    """
    import shutil

    from framework.checkpointing import remove_leftovers

    remove_leftovers(output_dir)
    if overwrite and resume_from is None and output_dir.is_dir():
        for old in output_dir.glob("checkpoint-*"):
            if old.is_dir():
                shutil.rmtree(old)


def save_outputs(plan: RunPlan, model: Any, tokenizer: Any, fixes: FixReport, output_dir: Path, *,
                 state_dict: dict[str, Any] | None = None) -> None:
    """Adapter (or model), tokenizer, generation config with stop tokens, resolved config.

    Written into a staging directory and moved into ``output_dir`` with ``training_config.json``
    last, so a crash never leaves something ``merge``/``chat``/``eval`` take for a finished run.
    """
    from framework.checkpointing import save_outputs_atomically

    save_outputs_atomically(output_dir, lambda staging: _write_outputs(plan, model, tokenizer, fixes, staging,
                                                                         state_dict))


def _write_outputs(plan: RunPlan, model: Any, tokenizer: Any, fixes: FixReport, output_dir: Path,
                   state_dict: dict[str, Any] | None = None) -> None:
    from transformers import GenerationConfig

    # state_dict: the weights gathered from FSDP/ZeRO-3 shards (framework.distributed.full_state_dict)
    model.save_pretrained(output_dir, safe_serialization=True, state_dict=state_dict)
    tokenizer.save_pretrained(output_dir)
    stop_ids = [tokenizer.convert_tokens_to_ids(t) for t in fixes.stop_tokens]
    gen = GenerationConfig(eos_token_id=[i for i in stop_ids if isinstance(i, int) and i >= 0],
                           pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    gen.save_pretrained(output_dir)
    write_json(output_dir / "training_config.json", {
        "config": plan.resolved.to_json(),
        "plugin": plan.plugin_record(),
        "model": {"name_or_path": plan.facts.name_or_path, "origin": plan.source.origin,
                  "directory": str(plan.source.directory)},
        "attention": {"implementation": plan.attention[0], "why": plan.attention[1]},
        "dtype": {"dtype": plan.dtype[0], "why": plan.dtype[1]},
        "rope": plan.rope.model_dump(),
        "distributed": plan.distributed.record() if plan.distributed is not None else None,
        "fixes": {"findings": [f.model_dump() for f in fixes.findings], "applied": fixes.applied,
                  "stop_tokens": fixes.stop_tokens},
        "versions": library_versions(),
        "created": datetime.now().isoformat(timespec="seconds"),
    })
