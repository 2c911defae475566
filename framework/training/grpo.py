"""The GRPO recipe (``--stage grpo``): online RL on verifiable rewards with TRL's ``GRPOTrainer``.

What differs from the skeleton: prompts instead of conversations (``framework.data.prompts``),
reward functions chosen from every plugin's ``reward_functions`` (``framework.rewards``), TRL's
trainer (with ``TrainerHabits``), generation that stops where the family's chat stops, and the
reward metrics, sample completions and reward plot (``framework.rewards.report``).

Generation. TRL samples ``grpo.num_generations`` completions per prompt with transformers'
``generate`` (CPU, tests) or, with ``grpo.generation`` vllm (auto: on CUDA when vllm is
installed), with vLLM colocated in the training process. It stops on the model's
``generation_config.eos_token_id``; the family's stop tokens (its end-of-turn token, e.g.
ChatML's ``<|im_end|>``) are put there, or completions would run past the end of the turn.

The model: LoRA-family methods hand TRL a peft config (the reference, when ``beta`` > 0, is the
model with its adapter disabled: no second copy); full and freeze train the loaded model, and
with ``beta`` > 0 a frozen copy of it is the reference (TRL would reload it from disk and lose
the plugin's fixes, such as resized embeddings). ``beta`` 0 keeps no reference (TRL's default).

Batches: ``training.micro_batch_size`` counts completions, and a generation batch (micro batch
× grad_accum × processes) must hold whole groups of ``num_generations``; this is checked before
the model loads.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from framework import distributed
from framework.config import ADAPTER_METHODS
from framework.errors import ConfigError
from framework.run_plan import RunPlan
from framework.training import skeleton
from framework.training.arguments import training_arguments
from framework.training.inputs import fixed_tokenizer, renderer
from framework.training.model import apply_dropout_choice, load_for_training
from framework.training.saving import clear_output_dir, finish
from framework.training.skeleton import RunResult, Say


def claims(config: Any) -> bool:
    return config.stage == "grpo"


def use_vllm(plan: RunPlan) -> bool:
    """vLLM colocated when asked, or with ``auto`` on CUDA when vllm is installed."""
    from framework.planning.rl import generation_by_vllm

    return generation_by_vllm(plan.config.grpo.generation, plan.hardware.device)


def check_batches(plan: RunPlan) -> None:
    """A generation batch holds whole groups of completions (TRL's rule, said before any load)."""
    cfg = plan.config
    world = plan.distributed.world_size if plan.distributed is not None else 1
    batch = cfg.training.micro_batch_size * cfg.training.grad_accum * world
    if batch % cfg.grpo.num_generations:
        raise ConfigError(
            f"a generation batch of {batch} completions (micro_batch_size {cfg.training.micro_batch_size} × grad_accum "
            f"{cfg.training.grad_accum} × {world} processes) does not hold whole groups of grpo.num_generations="
            f"{cfg.grpo.num_generations}", where="training.micro_batch_size",
            hint=f"make micro_batch_size × grad_accum × processes a multiple of {cfg.grpo.num_generations}")


def grpo_arguments(plan: RunPlan, output_dir: Path, weights: list[float]) -> Any:
    """The run's training arguments as a ``GRPOConfig`` with the ``grpo.*`` settings."""
    from transformers import TrainingArguments
    from trl import GRPOConfig

    g = plan.config.grpo
    base = training_arguments(plan, output_dir, False)
    values = {f.name: getattr(base, f.name) for f in fields(TrainingArguments) if f.init and hasattr(base, f.name)}
    values["prediction_loss_only"] = False
    vllm = use_vllm(plan)
    return GRPOConfig(
        **values, num_generations=g.num_generations, max_completion_length=g.max_completion_length, beta=g.beta,
        epsilon=g.epsilon, epsilon_high=g.epsilon_high, loss_type=g.loss_type, scale_rewards=g.scale_rewards,
        num_iterations=g.num_iterations, temperature=g.temperature, top_p=g.top_p, reward_weights=weights,
        use_vllm=vllm, **({"vllm_mode": "colocate"} if vllm else {}), log_completions=False, shuffle_dataset=True,
    )


class _Counter:
    """Real tokens of each GRPO batch (prompt and completion, without padding)."""

    def __init__(self) -> None:
        self.seen = 0

    def add(self, batch: Any) -> None:
        """TrainerHabits hands over the raw prompt rows; the tokens are counted once generated (``count``)."""

    def count(self, batch: dict[str, Any]) -> None:
        for key in ("prompt_mask", "completion_mask"):
            mask = batch.get(key)
            if mask is not None:
                self.seen += int(mask.sum())


def _trainer_class() -> type:
    from trl import GRPOTrainer

    from framework.training.trainer import TrainerHabits

    class FrameworkGRPOTrainer(TrainerHabits, GRPOTrainer):
        """TRL's GRPO trainer with every recipe's trainer habits (atomic checkpoints, guard, tokens)."""

        def _prepare_inputs(self, generation_batch: Any) -> Any:
            inputs = super()._prepare_inputs(generation_batch)
            if self.model.training and isinstance(self.tokens, _Counter):
                self.tokens.count(inputs)
            return inputs

    return FrameworkGRPOTrainer


def _model_and_peft(plan: RunPlan, model: Any) -> tuple[Any, Any, Any]:
    """(model, peft_config, reference copy or None) for the method."""
    from framework.methods import apply_method, lora_config

    cfg = plan.config
    if cfg.method == "hybrid":
        raise ConfigError("--method hybrid is a supervised fine-tuning schedule and does not apply to --stage grpo",
                          hint="train the hybrid SFT run first, then run GRPO with --method lora on its output")
    if cfg.method in ADAPTER_METHODS:
        if cfg.method in ("qlora", "qlora8"):
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.training.gradient_checkpointing)
        return model, lora_config(cfg, plan.family.lora_targets(cfg.method, cfg.lora.train_embeddings)), None
    if cfg.method not in ("full", "freeze"):
        raise ConfigError(f"--method {cfg.method} does not apply to --stage grpo",
                          hint="use lora, qlora, dora, rslora, full or freeze")
    reference = None
    if cfg.grpo.beta > 0:
        reference = copy.deepcopy(model).eval()
        for param in reference.parameters():
            param.requires_grad_(False)
    return apply_method(model, cfg, None), None, reference  # type: ignore[arg-type]


def stop_ids(tokenizer: Any, stop_tokens: list[str]) -> list[int]:
    """Token ids of the family's stop tokens (each a single token), eos first."""
    ids: list[int] = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for token in stop_tokens:
        found = tokenizer.convert_tokens_to_ids(token)
        if isinstance(found, int) and found != tokenizer.unk_token_id and found not in ids:
            ids.append(found)
    return ids


@dataclass
class GrpoSetup:
    """Everything built before ``train()``: tests inspect it without training."""

    trainer: Any
    tokenizer: Any
    fixes: Any
    prompts: Any
    rewards: list[Any]
    sink: Any
    progress: Any
    completions: Any
    output_dir: Path
    resume_from: Path | None
    params: Any
    started: float = 0.0


def build_grpo(plan: RunPlan, say: Say) -> GrpoSetup:
    from framework.data.prompts import prepare_prompts
    from framework.methods import count_parameters
    from framework.progress import ProgressBar, install
    from framework.rewards import Scored, check_columns, choose, guarded
    from framework.rewards.builtin import DEFAULT_TAGS, detect_tags
    from framework.rewards.report import CompletionsLog, RewardProgress

    cfg = plan.config
    if cfg.data.seq_schedule:
        raise ConfigError("data.seq_schedule applies to --stage sft and pt; GRPO samples its completions",
                          hint="drop --seq-schedule; grpo.max_completion_length limits the completions")
    check_batches(plan)
    begun = skeleton.start(plan)
    tokenizer, fixes = fixed_tokenizer(plan)
    for line in fixes.lines(brief=True):
        say(line)
    tags = tuple(cfg.grpo.reasoning_tags or ()) or detect_tags(renderer(plan, tokenizer)) or DEFAULT_TAGS
    if len(tags) != 2:
        raise ConfigError(f"grpo.reasoning_tags needs an opening and a closing marker, got {list(tags)}",
                          where="grpo.reasoning_tags", hint="e.g. --set 'grpo.reasoning_tags=[<think>, </think>]'")
    seen = cfg.model_copy(deep=True)
    seen.grpo.reasoning_tags = list(tags)
    rewards = choose(plan.family.host, seen, cfg.grpo.rewards)
    with distributed.main_process_first():
        prompts = prepare_prompts(plan.data_paths, tokenizer, renderer(plan, tokenizer, generation=True),
                                  cutoff_len=cfg.data.cutoff_len, max_samples=cfg.data.max_samples)
    for line in prompts.lines():
        say(line)
    check_columns(rewards, prompts.columns, prompts.first_file)
    say("rewards: " + ", ".join(f"{r.name}×{r.weight:g} ({r.plugin})" for r in rewards)
        + f"; reasoning markers {tags[0]} {tags[1]}")

    model = load_for_training(plan, tokenizer, fixes)
    model.generation_config.eos_token_id = stop_ids(tokenizer, fixes.stop_tokens)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model, peft_config, reference = _model_and_peft(plan, model)
    sink = Scored()
    args = grpo_arguments(plan, begun.output_dir, [r.weight for r in rewards])
    trainer = _trainer_class()(
        model=model, reward_funcs=[guarded(r, sink) for r in rewards], args=args, train_dataset=prompts.rows,
        processing_class=tokenizer, peft_config=peft_config,
    )
    if reference is not None and trainer.ref_model is not None:
        trainer.ref_model = trainer.accelerator.prepare_model(reference, evaluation_mode=True)
    apply_dropout_choice(plan, trainer.model)  # TRL wrapped the model in its LoRA layers just now
    trainer.tokens = _Counter()
    trainer.run_settings = plan.resolved.to_json()  # what --resume compares
    install(trainer, ProgressBar(trainer.tokens, say, world_size=trainer.args.world_size))
    names = [r.name for r in rewards]
    progress = RewardProgress(names, say)
    completions = CompletionsLog(begun.output_dir / "completions.jsonl", sink, cfg.grpo.log_completions_steps)
    trainer.add_callback(progress)
    params = count_parameters(trainer.model)
    say(f"method {cfg.method} (grpo, {cfg.grpo.num_generations} completions per prompt, beta {cfg.grpo.beta}, "
        f"loss {cfg.grpo.loss_type}, generation {'vllm colocate' if args.use_vllm else 'transformers'}): "
        f"{params.line()}")
    return GrpoSetup(trainer, tokenizer, fixes, prompts, rewards, sink, progress, completions, begun.output_dir,
                     begun.resume_from, params, begun.started)


def run(plan: RunPlan, say: Say) -> RunResult:
    """Online RL on the prompts with the chosen rewards; saves like an SFT run, plus the reward outputs."""
    from framework.rewards.report import plot_rewards

    cfg = plan.config
    setup = build_grpo(plan, say)
    trainer = setup.trainer
    found = skeleton.callbacks(plan, say, has_eval=False)
    found.guard.spike_factor = float("inf")  # GRPO's loss hovers around 0 with either sign: no spike to see
    trainer.guard = found.guard
    for callback in found.all():
        trainer.add_callback(callback)
    if distributed.is_main_process():
        clear_output_dir(setup.output_dir, setup.resume_from, overwrite=cfg.output.overwrite)
    trainer.add_callback(setup.completions)  # after the directory is cleared: it appends there
    result = trainer.train(resume_from_checkpoint=str(setup.resume_from) if setup.resume_from else None)
    skeleton.check_diverged(found, setup.output_dir)
    log = trainer.state.log_history
    loss = skeleton.history(log, "loss")
    names = [r.name for r in setup.rewards]
    rewards = {name: skeleton.history(log, f"rewards/{name.replace(':', '.')}/mean") for name in names}
    total = skeleton.history(log, "reward")
    if found.interrupt.requested:
        say(f"stopped by interrupt after step {result.global_step}; continue with --resume --output {setup.output_dir}")
        return RunResult(setup.output_dir, {"steps": result.global_step, "interrupted": True, "train_history": loss,
                                            "reward_history": total}, None, None, trainer.model, setup.tokenizer,
                         interrupted=True)
    kl = skeleton.history(log, "kl")
    length = skeleton.history(log, "completions/mean_length")
    clip = skeleton.history(log, "clip_ratio/region_mean")
    metrics = {
        "stage": "grpo",
        "rewards": {r.name: {"weight": r.weight, "plugin": r.plugin} for r in setup.rewards},
        "reward_first": total[0][1] if total else None,
        "reward_last": total[-1][1] if total else None,
        "reward_history": total,
        "reward_std_history": skeleton.history(log, "reward_std"),
        "reward_histories": rewards,
        "kl_history": kl,
        "completion_length_history": length,
        "clip_ratio_history": clip,
        "train_loss_first": loss[0][1] if loss else None,
        "train_loss_last": loss[-1][1] if loss else None,
        "train_history": loss,
        "eval_loss": None,
        "eval_history": [],
        "steps": result.global_step,
        "max_steps": trainer.state.max_steps,
        "train_samples": len(setup.prompts.rows),
        "num_generations": cfg.grpo.num_generations,
        "completions_logged": setup.completions.written,
        **skeleton.throughput(trainer.tokens.seen, trainer.args.world_size, result.metrics.get("train_runtime")),
        "trainable_parameters": setup.params.trainable,
        "total_parameters": setup.params.total,
        "wall_time_s": time.perf_counter() - setup.started,
        "skipped_steps": found.guard.guard.skipped if found.guard.guard else 0,
        "loss_spikes": found.guard.spikes,
        "stopped_early": False,
        "interrupted": False,
        "world_size": trainer.args.world_size,
        "strategy": plan.distributed.strategy if plan.distributed is not None else None,
    }
    model = trainer.model
    finish(plan, trainer, model, setup.tokenizer, setup.fixes, setup.output_dir, metrics, loss, [])
    if distributed.is_main_process():
        plot_rewards(setup.output_dir / "reward.png", setup.progress.history, names)
    return RunResult(setup.output_dir, metrics, None, None, model, setup.tokenizer)
