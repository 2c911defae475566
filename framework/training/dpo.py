"""The DPO recipe (``--stage dpo``): Direct Preference Optimization with TRL's ``DPOTrainer``.

What differs from the skeleton: TRL's trainer (with ``TrainerHabits``), the preference rows
fitted to TRL's tokenization (below), the reference model, and reward metrics.

The data arrive as strings rendered by the family plugin (``prepare_preference``): ``prompt``
is the conversation up to the reply with the generation prompt, ``chosen``/``rejected`` what
each full conversation adds to it (the reply and its end-of-turn text). TRL tokenizes them
itself, and two of its habits would make DPO sequences differ from the ones SFT trained on:

- it tokenizes a plain string with ``tokenizer(text)``, i.e. with the tokenizer's own special
  tokens. A tokenizer that adds BOS, given a prompt whose template already starts with the BOS
  text, yields two BOS. The BOS text is taken off the prompt here (TRL's call adds it back), so
  the ids are the template's own. (A tokenizer adding something the template does not render is
  reported, not changed.)
- it appends ``tokenizer.eos_token`` to every chosen/rejected not ending with it. In chat formats
  whose end-of-turn token is not eos (a ChatML-like ``<|im_end|>`` with eos ``<|endoftext|>``
  or ``</s>``, an ``<end_of_turn>`` with eos ``<eos>``) TRL would train the model to say
  ``<|im_end|></s>``: an end-of-turn followed by an extra eos that no inference ever produces
  (generation stops at the end-of-turn). Here each completion ends at the family's end-of-turn
  (stop) token, as the plugins' SFT labels do (``prepare_preference`` already leaves out the
  template text after it, usually a newline; a completion that still has only whitespace after
  its stop token is cut there), and TRL is told that token is the one to end with, so it
  appends nothing. When no stop token ends the completions (a model without chat format, or
  completions ending differently), TRL's eos is appended as TRL does.

Control-token text inside the data is tokenized by TRL as control tokens (the SFT path keeps
it as plain text); ``prepare_preference`` counts such samples in its report.

The model: LoRA-family methods and prompt learning give TRL a peft config, so TRL wraps the
model and uses it with the adapter disabled as the reference (no second copy in memory); full
and freeze get a frozen copy of the loaded model as reference (fixes such as resized
embeddings included, which reloading from the path would lose). ``dpo.beta`` is DPO's
temperature; TRL logs ``rewards/margins`` (chosen minus rejected implicit reward), kept in
``metrics.json`` with the losses.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from framework import distributed
from framework.config import ADAPTER_METHODS, PROMPT_METHODS
from framework.errors import ConfigError
from framework.run_plan import RunPlan
from framework.training import skeleton
from framework.training.arguments import training_arguments
from framework.training.inputs import build_inputs
from framework.training.model import load_for_training
from framework.training.saving import clear_output_dir, finish
from framework.training.skeleton import RunResult, Say


def claims(config: Any) -> bool:
    return config.stage == "dpo"

_PROBE = "a"


def added_ids(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids ``tokenizer(text)`` puts before and after a text (its special tokens)."""
    plain = tokenizer(_PROBE, add_special_tokens=False)["input_ids"]
    full = tokenizer(_PROBE)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return list(full[:start]), list(full[start + len(plain) :])
    return [], []


def end_at_stop(text: str, stop_tokens: list[str]) -> tuple[str, str | None]:
    """``text`` cut after its last stop token when only whitespace follows it; and that token."""
    best, token = -1, None
    for stop in stop_tokens:
        at = text.rfind(stop)
        if at >= 0 and at + len(stop) > best:
            best, token = at + len(stop), stop
    if token is None or text[best:].strip():
        return text, None
    return text[:best], token


@dataclass
class TrlText:
    """What was changed so TRL's tokenization gives the template's ids."""

    rows: Any
    bos_stripped: int
    end_token: str | None
    notes: list[str]


def fit_for_trl(rows: Any, tokenizer: Any, stop_tokens: list[str]) -> TrlText:
    """Strip the BOS text TRL's tokenizer call adds back; end completions at the stop token."""
    head, tail = added_ids(tokenizer)
    head_text = tokenizer.decode(head) if head else ""
    notes: list[str] = []
    if tail:
        notes.append(f"the tokenizer appends {tokenizer.decode(tail)!r} to every text, so TRL's prompt ids end with "
                     "it and its completions carry it twice")
    prompts, chosen, rejected = rows["prompt"], rows["chosen"], rows["rejected"]
    stripped = 0
    if head_text:
        fitted = []
        for prompt in prompts:
            if prompt.startswith(head_text):
                prompt = prompt[len(head_text) :]
                stripped += 1
            fitted.append(prompt)
        prompts = fitted
        if stripped < len(fitted):
            notes.append(f"the tokenizer adds {head_text!r} before every text but the chat template does not render it "
                         f"({len(fitted) - stripped} prompts): DPO sequences start with it, SFT ones do not")
    ends: set[str | None] = set()
    cut: dict[str, list[str]] = {"chosen": [], "rejected": []}
    for name, texts in (("chosen", chosen), ("rejected", rejected)):
        for text in texts:
            text, token = end_at_stop(text, stop_tokens)
            cut[name].append(text)
            ends.add(token)
    end_token = next(iter(ends)) if len(ends) == 1 else None
    if end_token is None:  # mixed or no end-of-turn: give TRL the texts as rendered, it appends eos
        cut = {"chosen": list(chosen), "rejected": list(rejected)}
    from datasets import Dataset

    table = Dataset.from_dict({"prompt": prompts, "chosen": cut["chosen"], "rejected": cut["rejected"]})
    return TrlText(table, stripped, end_token, notes)


class _EosAs:
    """The tokenizer as TRL's end-of-completion check should see it: ``eos_token`` replaced."""

    def __init__(self, tokenizer: Any, eos_token: str) -> None:
        self._tokenizer = tokenizer
        self.eos_token = eos_token

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


def _trainer_class() -> type:
    from trl import DPOTrainer

    from framework.training.trainer import TrainerHabits

    class FrameworkDPOTrainer(TrainerHabits, DPOTrainer):
        """TRL's trainer, told which token ends a completion, with every recipe's trainer habits."""

        end_token: str | None = None

        def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
            end = type(self).end_token
            if end is None or end == self._tokenizer.eos_token:
                return super()._prepare_dataset(dataset, processing_class, args, dataset_name)
            tokenizer = self._tokenizer
            self._tokenizer = _EosAs(tokenizer, end)  # read only by the end-of-completion check
            try:
                return super()._prepare_dataset(dataset, processing_class, args, dataset_name)
            finally:
                self._tokenizer = tokenizer

    return FrameworkDPOTrainer


def dpo_arguments(plan: RunPlan, output_dir: Path, has_eval: bool) -> Any:
    """The run's training arguments as a ``DPOConfig``, with ``dpo.beta`` and the length limit."""
    from transformers import TrainingArguments
    from trl import DPOConfig

    base = training_arguments(plan, output_dir, has_eval)
    values = {f.name: getattr(base, f.name) for f in fields(TrainingArguments) if f.init and hasattr(base, f.name)}
    return DPOConfig(**values, beta=plan.config.dpo.beta, max_length=plan.config.data.cutoff_len,
                     precompute_ref_log_probs=False)


def _model_and_reference(plan: RunPlan, model: Any) -> tuple[Any, Any, Any]:
    """(model, peft_config, ref_model) for the method: TRL wraps adapters itself."""
    from framework.methods import apply_method, lora_config, prompt_learning_config

    cfg = plan.config
    if cfg.method == "hybrid":
        raise ConfigError("--method hybrid is a supervised fine-tuning schedule and does not apply to --stage dpo",
                          hint="train the hybrid SFT run first, then run DPO with --method lora on its output")
    if cfg.method in ADAPTER_METHODS:
        if cfg.method in ("qlora", "qlora8"):
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.training.gradient_checkpointing)
        targets = plan.family.lora_targets(cfg.method, cfg.lora.train_embeddings)
        return model, lora_config(cfg, targets), None
    if cfg.method in PROMPT_METHODS:
        return model, prompt_learning_config(cfg), None
    reference = copy.deepcopy(model).eval()
    for param in reference.parameters():
        param.requires_grad_(False)
    return apply_method(model, cfg, None), None, reference  # type: ignore[arg-type]


@dataclass
class DpoSetup:
    """Everything built before ``train()``: tests inspect it without training."""

    trainer: Any
    tokenizer: Any
    fixes: Any
    data: Any
    fitted: TrlText
    output_dir: Path
    resume_from: Path | None
    params: Any
    started: float = 0.0


def build_dpo(plan: RunPlan, say: Say) -> DpoSetup:
    from framework.methods import count_parameters
    from framework.progress import ProgressBar, TokenCounter, install

    cfg = plan.config
    if cfg.data.seq_schedule:
        raise ConfigError("data.seq_schedule applies to --stage sft and pt; TRL's DPO collator builds the batches here",
                          hint="drop --seq-schedule, or limit the pair length with --cutoff-len")
    begun = skeleton.start(plan)
    output_dir, resume_from = begun.output_dir, begun.resume_from
    inputs = build_inputs(plan, say, check_data=False)
    tokenizer, fixes, data = inputs.tokenizer, inputs.fixes, inputs.data
    fitted = fit_for_trl(data.train, tokenizer, fixes.stop_tokens)
    evaluation = fit_for_trl(data.eval, tokenizer, fixes.stop_tokens).rows if data.eval is not None else None
    for note in fitted.notes:
        say(f"[warning] dpo: {note}")
    if fitted.bos_stripped:
        say(f"dpo: BOS text taken off {fitted.bos_stripped} prompts (TRL's tokenizer call adds BOS itself)")
    if fitted.end_token is not None:
        say(f"dpo: completions end at {fitted.end_token!r}")

    model = load_for_training(plan, tokenizer, fixes)
    model, peft_config, reference = _model_and_reference(plan, model)
    trainer_class = _trainer_class()
    trainer_class.end_token = fitted.end_token
    trainer = trainer_class(
        model=model, ref_model=reference, args=dpo_arguments(plan, output_dir, evaluation is not None),
        train_dataset=fitted.rows, eval_dataset=evaluation, processing_class=tokenizer, peft_config=peft_config,
    )
    trainer.tokens = TokenCounter(tokenizer.pad_token_id)
    trainer.run_settings = plan.resolved.to_json()  # what --resume compares
    install(trainer, ProgressBar(trainer.tokens, say, world_size=trainer.args.world_size))
    params = count_parameters(trainer.model)
    say(f"method {cfg.method} (dpo, beta {cfg.dpo.beta}): {params.line()}")
    return DpoSetup(trainer, tokenizer, fixes, data, fitted, output_dir, resume_from, params, begun.started)


def run(plan: RunPlan, say: Say) -> RunResult:
    """Preference training on prompt/chosen/rejected pairs; saves like an SFT run."""
    cfg = plan.config
    setup = build_dpo(plan, say)
    trainer = setup.trainer
    found = skeleton.callbacks(plan, say, has_eval=setup.data.eval is not None)
    trainer.guard = found.guard
    for callback in found.all():
        trainer.add_callback(callback)
    if distributed.is_main_process():
        clear_output_dir(setup.output_dir, setup.resume_from, overwrite=cfg.output.overwrite)
    result = trainer.train(resume_from_checkpoint=str(setup.resume_from) if setup.resume_from else None)
    skeleton.check_diverged(found, setup.output_dir)
    log = trainer.state.log_history
    history = {key: skeleton.history(log, key)
               for key in ("loss", "rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected")}
    eval_history = skeleton.history(log, "eval_loss")
    if found.interrupt.requested:
        say(f"stopped by interrupt after step {result.global_step}; continue with --resume --output {setup.output_dir}")
        return RunResult(setup.output_dir, {"steps": result.global_step, "interrupted": True,
                                            "train_history": history["loss"]}, None, None, trainer.model,
                         setup.tokenizer, interrupted=True)
    eval_loss = skeleton.final_eval_loss(trainer) if setup.data.eval is not None else None
    model = trainer.model
    margins = history["rewards/margins"]
    metrics = {
        "stage": "dpo",
        "beta": cfg.dpo.beta,
        "train_loss_first": history["loss"][0][1] if history["loss"] else None,
        "train_loss_last": history["loss"][-1][1] if history["loss"] else None,
        "train_loss_mean": result.training_loss,
        "reward_margin_first": margins[0][1] if margins else None,
        "reward_margin_last": margins[-1][1] if margins else None,
        "reward_accuracy_last": history["rewards/accuracies"][-1][1] if history["rewards/accuracies"] else None,
        "eval_loss": eval_loss,
        "eval_history": eval_history,
        "train_history": history["loss"],
        "reward_margin_history": margins,
        "reward_accuracy_history": history["rewards/accuracies"],
        "steps": result.global_step,
        "max_steps": trainer.state.max_steps,
        "train_samples": len(setup.fitted.rows),
        "eval_samples": len(setup.data.eval) if setup.data.eval is not None else 0,
        "bos_stripped": setup.fitted.bos_stripped,
        "completion_end_token": setup.fitted.end_token,
        **skeleton.throughput(trainer.tokens.seen, trainer.args.world_size, result.metrics.get("train_runtime")),
        "trainable_parameters": setup.params.trainable,
        "total_parameters": setup.params.total,
        "wall_time_s": time.perf_counter() - setup.started,
        "skipped_steps": found.guard.guard.skipped if found.guard.guard else 0,
        "loss_spikes": found.guard.spikes,
        "stopped_early": found.stopped_early(),
        "interrupted": False,
        "world_size": trainer.args.world_size,
        "strategy": plan.distributed.strategy if plan.distributed is not None else None,
    }
    finish(plan, trainer, model, setup.tokenizer, setup.fixes, setup.output_dir, metrics, history["loss"], eval_history)
    return RunResult(setup.output_dir, metrics, None, None, model, setup.tokenizer)
