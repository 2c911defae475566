"""Plan -> inputs: the tokenizer with the plugin's fixes and the data prepared with its template.

Shared by every recipe; ``framework check`` and ``framework render`` stop here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from framework import distributed
from framework.fixes import FixReport, apply_tokenizer_fixes, load_tokenizer
from framework.hookdata import ChatOptions, RenderedChat
from framework.seq_schedule import check_schedule

from framework.training.skeleton import Say

if TYPE_CHECKING:
    from framework.run_plan import RunPlan


def model_directory(plan: RunPlan) -> Path:
    assert plan.source.directory is not None, "training needs a model directory"
    return plan.source.directory


def fixed_tokenizer(plan: RunPlan) -> tuple[Any, FixReport]:
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


def read_data(plan: RunPlan, tokenizer: Any, *, with_kinds: bool = False) -> Any:
    """Read, validate, render, tokenize and mask the data (cached); ``with_kinds`` keeps each
    token's segment kind (reasoning, tool call, ...) for ``framework render``."""
    from datasets.utils.logging import disable_progress_bar

    from framework.data.pipeline import prepare_pretrain, prepare_preference, prepare_sft

    disable_progress_bar()  # the data report says what happened; per-shard save bars are noise

    cfg = plan.config
    common = dict(cutoff_len=cfg.data.cutoff_len, val_size=cfg.data.val_size, seed=cfg.training.seed,
                  dedupe=cfg.data.dedupe)
    fmt = None if cfg.data.format == "auto" else cfg.data.format
    if cfg.stage == "pt":
        return prepare_pretrain(plan.data_paths, tokenizer, **common)
    if cfg.stage == "grpo":
        if with_kinds:
            from framework.errors import ConfigError

            raise ConfigError("framework render shows the tokens a sample trains; --stage grpo trains on completions "
                              "it samples itself", hint="`framework check --stage grpo` reads and reports the prompts")
        from framework.data.prompts import prepare_prompts

        return prepare_prompts(plan.data_paths, tokenizer, renderer(plan, tokenizer, generation=True),
                               cutoff_len=cfg.data.cutoff_len, max_samples=cfg.data.max_samples)
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
        train_on_reasoning=cfg.data.train_on_reasoning, with_kinds=with_kinds, fast_encoder=cfg.data.fast_encoder,
        **chat_support(plan, tokenizer), **common,
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


def build_inputs(plan: RunPlan, say: Say, *, check_data: bool = True, brief: bool = True) -> RunInputs:
    """Tokenizer with the plugin's fixes, then the data, each reported as it is done.

    One process fills the preprocessing cache while the others wait and read it. ``brief``
    (a run) clips info findings to one short line; ``framework check`` prints them in full.
    """
    from framework.finding_lines import finding_line
    from framework.heap import release_freed_memory

    tokenizer, fixes = fixed_tokenizer(plan)
    release_freed_memory()  # the parsed tokenizer.json is garbage now: its pages go back before the data
    for line in fixes.lines(brief=brief):
        say(line)
    from framework.drift import template_drift

    drift = template_drift(plan.family, tokenizer)  # plugin format vs the shipped template, before any data
    for finding in drift:
        say(finding_line(finding, brief=brief))
    with distributed.main_process_first():
        data = read_data(plan, tokenizer)
    for line in data.report.lines():
        say(line)
    check_schedule(plan.config.data.seq_schedule, data.train, say)  # prompts longer than a phase's length
    findings = plan.family.check_data(tokenizer, list(data.sample_texts)) if check_data else []
    for finding in findings:
        say(finding_line(finding, brief=brief))
    release_freed_memory()  # rendering and encoding buffers, before the weights load on top
    return RunInputs(tokenizer, fixes, data, drift + findings)

