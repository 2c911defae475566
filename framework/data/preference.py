"""Preference (DPO) data: prompt / chosen / rejected strings rendered by the plugin's template.

TRL's DPO trainer takes strings and tokenizes them itself; what it cannot know is the chat
format. So the prompt is the conversation up to the reply rendered with the generation prompt
(``render_prompt``), and chosen/rejected are what the full conversation adds to it: the reply
and its end-of-turn text. Taking the difference of two renders, instead of rendering the reply
alone, keeps every template detail (headers, separators) exactly where the template puts it.

TRL (1.x) appends ``tokenizer.eos_token`` to a chosen/rejected string that does not end with
it, so the runner should make the tokenizer's eos the template's end-of-turn token for DPO.

Replies with reasoning or tool calls work the same way: the prompt is the inference prompt
(what the model sees before it starts to think), and chosen/rejected hold the reasoning, the
answer and the end-of-turn text as the template renders them. TRL takes strings, so the
reasoning of a DPO reply is always part of what is compared (``train_on_reasoning`` is SFT's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from framework.chat import special_token_strings
from framework.data import cache
from framework.data.content_checks import features_note, refuse_undeclared
from framework.data.encode import special_text_finder
from framework.data.formats import Example, Format
from framework.data.prepared import PreparedData, Renderer, render_sample
from framework.data.problems import Problem
from framework.data.sources import PathLike, as_paths, load_sources, sample_texts, source_files
from framework.data.split import check_val_size, check_weights, split_and_mix
from framework.data.validate import raise_if_empty, raise_problem
from framework.errors import ConfigError, ModelError
from framework.hookdata import ChatFeatures, RenderedChat


def prompt_text(full: RenderedChat) -> str:
    """The text before the last assistant reply: what a generation prompt renders."""
    last = max((s.message_index for s in full.segments if s.trainable and s.message_index is not None), default=None)
    prefix = []
    for segment in full.segments:
        if segment.trainable and segment.message_index == last:
            break
        prefix.append(segment.text)
    return "".join(prefix)


def prepare_preference(
    paths: Sequence[PathLike] | PathLike,
    tokenizer: Any,
    render: Renderer,
    *,
    render_prompt: Renderer | None = None,
    cutoff_len: int,
    truncation: str = "drop",
    fmt: Format | None = None,
    val_size: float = 0.0,
    max_samples: int | None = None,
    seed: int = 42,
    strict: bool = False,
    mix_weights: Sequence[float] | None = None,
    task_system_prompts: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    overwrite_cache: bool = False,
    template_fingerprint: str | None = None,
    batch_size: int = 1000,
    features: ChatFeatures | None = None,
    renderer_name: str = "the chat renderer",
    dedupe: str = "exact",
) -> PreparedData:
    """Prepare preference pairs as ``prompt`` / ``chosen`` / ``rejected`` strings.

    Args:
        paths: data files or directories (format ``preference``).
        tokenizer: the model's tokenizer (lengths are measured with it).
        render: the plugin's template for a whole conversation.
        render_prompt: the template with the generation prompt, for the conversation without
            its reply; when None the prompt is the full render up to the reply's segment.
        cutoff_len: the longest prompt + reply in tokens.
        truncation: a pair over ``cutoff_len`` is dropped, or kept (the trainer cuts it).
        fmt: the data format (only ``preference`` is accepted); detected when None.
        val_size: evaluation split: a fraction, or a number of pairs when >= 1.
        max_samples: use at most this many records in all (the first ones of each path; a
            mixture shares them by its weights).
        seed: shuffle, split and mixture seed.
        strict: stop on the first bad pair instead of dropping it.
        mix_weights: one weight per path.
        task_system_prompts: system prompt per ``task`` field value.
        cache_dir: where prepared data is stored and found again.
        overwrite_cache: rebuild even when a stored copy exists.
        template_fingerprint: identifies the template for the cache.
        batch_size: pairs per tokenizer call.
        features: what the renderer declares it renders; reasoning or tool content it does
            not declare stops the run. None: plain text only.
        renderer_name: who renders, for that error.
    """
    if truncation not in ("drop", "truncate"):
        raise ConfigError(
            f"truncation '{truncation}' is not drop or truncate", where="truncation", hint="use drop or truncate"
        )
    check_val_size(val_size)
    path_list = as_paths(paths)
    weights = check_weights(mix_weights, len(path_list), names=[str(p) for p in path_list])
    key = None
    if cache_dir is not None:
        settings = {
            "files": cache.files_signature(source_files(path_list)),
            "paths": [str(p) for p in path_list],
            "tokenizer": cache.tokenizer_fingerprint(tokenizer),
            "template": template_fingerprint or cache.render_fingerprint(render),
            "prompt": render_prompt is not None,
            "cutoff_len": cutoff_len,
            "truncation": truncation,
            "fmt": fmt,
            "val_size": val_size,
            "max_samples": max_samples,
            "seed": seed,
            "strict": strict,
            "weights": weights,
            "tasks": dict(task_system_prompts) if task_system_prompts is not None else None,
            "features": features.model_dump(mode="json") if features is not None else None,
            "dedupe": dedupe,
        }
        key = cache.cache_key("dpo", settings)
        stored = None if overwrite_cache else cache.load(cache_dir, key)
        if stored is not None:
            return PreparedData(*stored)

    loaded = load_sources(
        path_list,
        fmt=fmt,
        allowed=("preference",),
        stage="dpo",
        strict=strict,
        max_samples=max_samples,
        weights=weights,
        task_system_prompts=task_system_prompts,
        dedupe=dedupe,
    )
    refuse_undeclared(loaded.examples, features, renderer_name)
    report = loaded.report
    if features is not None:
        report.notes.insert(0, features_note(features, renderer_name))
    report.cutoff_len = cutoff_len
    has_special = special_text_finder(special_token_strings(tokenizer))
    columns: dict[str, list[str]] = {"prompt": [], "chosen": [], "rejected": []}
    keep: list[int] = []
    for start in range(0, len(loaded.examples), batch_size):
        batch = loaded.examples[start : start + batch_size]
        triples = [_strings(ex, render, render_prompt) for ex in batch]
        chosen_len = _lengths(tokenizer, [p + c for p, c, _ in triples])
        rejected_len = _lengths(tokenizer, [p + r for p, _, r in triples])
        for offset, (ex, triple) in enumerate(zip(batch, triples)):
            longest = max(chosen_len[offset], rejected_len[offset])
            if longest > cutoff_len:
                if truncation == "drop":
                    problem = Problem(
                        "too-long",
                        f"the longer reply makes {longest} tokens, over cutoff_len {cutoff_len}",
                        ex.source,
                        ex.line,
                        "raise cutoff_len, shorten the sample, or set truncation to truncate",
                    )
                    if strict:
                        raise_problem(problem)
                    report.add(problem)
                    report.too_long += 1
                    continue
                report.truncated += 1
            if any(has_special(m["content"]) or has_special(m.get("reasoning_content", ""))
                   for m in (*ex.messages, ex.rejected[-1])):  # type: ignore[index]
                report.special_text += 1
            for name, text in zip(("prompt", "chosen", "rejected"), triple):
                columns[name].append(text)
            keep.append(start + offset)
    report.kept = len(keep)
    raise_if_empty(report)
    from datasets import Dataset

    table = Dataset.from_dict(columns)
    source_of = np.asarray(loaded.source_of, dtype=np.int64)[keep]
    train_rows, eval_rows, counts = split_and_mix(
        np.arange(len(keep)), source_of, val_size=val_size, weights=weights, seed=seed, names=loaded.names,
        report=report,
    )
    train = table.select(train_rows)
    evaluation = table.select(eval_rows) if len(eval_rows) else None
    report.eval = len(eval_rows)
    if len(path_list) > 1:
        report.mixture = {name: int(counts.get(i, 0)) for i, name in enumerate(loaded.names)}
    texts = sample_texts(loaded.examples)
    if key is not None:
        cache.save(cache_dir, key, train, evaluation, report, texts)
    return PreparedData(train, evaluation, report, texts)


def _strings(ex: Example, render: Renderer, render_prompt: Renderer | None) -> tuple[str, str, str]:
    chosen_full = render_sample(render, ex.messages, ex)
    rejected_full = render_sample(render, ex.rejected or (), ex)
    prompt = (
        render_sample(render_prompt, ex.messages[:-1], ex).text
        if render_prompt is not None
        else prompt_text(chosen_full)
    )
    chosen, rejected = chosen_full.text, rejected_full.text
    if not (chosen.startswith(prompt) and rejected.startswith(prompt)):
        raise ModelError(
            "the chat template's generation prompt is not the start of the rendered conversation, so the reply cannot "
            "be cut out of it",
            where=f"{ex.source}:{ex.line}",
            hint="the plugin's render_chat must render messages[:-1] with add_generation_prompt as a prefix of the full render",
        )
    return prompt, _reply(chosen_full, len(prompt)), _reply(rejected_full, len(prompt))


def _reply(full: RenderedChat, start: int) -> str:
    """The text from ``start`` to the end of the last trained segment.

    Template text after the reply's end-of-turn marker (a newline in ChatML-like templates)
    is left out: it is not trained in SFT either, and TRL appends the tokenizer's eos to a
    completion that does not end with it, which would train a second end-of-turn.
    """
    tail = 0
    for segment in reversed(full.segments):
        if segment.trainable:
            break
        tail += len(segment.text)
    text = full.text
    return text[start : len(text) - tail]


def _lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
