"""Supervised fine-tuning data: files in, token ids and labels out.

read -> detect format -> convert -> validate -> render (the plugin's template) -> tokenize and
mask (``framework.chat.tokenize_chats``, one tokenizer call per batch) -> drop samples with
no trained token -> cutoff policy -> seeded shuffle -> evaluation split -> mixture.

With ``num_proc`` above 1, ``.jsonl`` data is prepared in shares (``framework.data.shares``): each
process, this one included, takes a run of lines from JSON to tokens, and this one judges what
the others found about their samples (``framework.data.validate.judge``) in file order. Other data
is read, converted and validated here while ``num_proc`` forked workers render and tokenize
contiguous shares of the samples, which they inherit (with the plugin's renderer, which holds the
plugin manager) through ``fork`` instead of receiving a pickled copy; they send back only their
Arrow tables. Either way rows, labels, report and errors are those of one process.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from framework.chat import TokenizedChat, special_token_strings, tokenize_chats
from framework.data import cache
from framework.data.encode import (
    CHECK_SAMPLES,
    FAST_MIN_SAMPLES,
    FastEncoder,
    batch_encoder,
    probe_chats,
    special_text_finder,
)
from framework.data.content_checks import check_reasoning_marked, features_note, refuse_undeclared, undeclared_error
from framework.data.flat_chats import KEEP, NO_LABEL, TOO_LONG, TRUNCATED, FlatChats, concat_rows, cut
from framework.data.formats import Example, Format
from framework.data.prepared import PreparedData, Renderer, render_sample
from framework.data.problems import Problem
from framework.data.sources import PathLike, as_paths, convert_sources, sample_texts, source_files, validate_sources
from framework.data.shares import (
    PartJob,
    SharePlan,
    first_texts,
    first_undeclared,
    mapped_table,
    merged_ignored,
    part_offsets,
    picklable,
    plan_shares,
    run_parts,
    split_parts,
    write_table,
)
from framework.data.tiktoken_encoder import TiktokenChats, fast_vocab
from framework.data.split import check_val_size, check_weights, split_and_mix
from framework.data.validate import DataReport, judge, raise_if_empty, raise_problem, sample_problem
from framework.errors import ConfigError, ModelError
from framework.heap import collector_paused
from framework.hookdata import ChatFeatures, RenderedChat, TrainOn

__all__ = ["PreparedData", "Renderer", "prepare_preference", "prepare_pretrain", "prepare_sft"]

Truncation = Literal["drop", "truncate"]


_STATE: dict[str, _SftState] = {}


_NO_SPECIALS: frozenset[str] = frozenset()


@dataclass
class _SftState:
    examples: list[Example]
    render: Renderer
    tokenizer: Any
    train_on: TrainOn
    cutoff_len: int
    truncate: bool
    specials: frozenset[str]
    allow_special: bool
    train_reasoning: bool = True
    with_kinds: bool = False
    renderer_name: str = "the chat renderer"
    fast_encoder: FastEncoder = "auto"
    cache_dir: Path | None = None  # keeps the tiktoken form between runs (framework.data.tiktoken_cache)
    fingerprint: str | None = None  # the tokenizer's, which finds that form there

    def __post_init__(self) -> None:
        self.encoder = batch_encoder(self.tokenizer, self.specials)
        self.has_special = special_text_finder(self.specials)
        self.fast: TiktokenChats | None = None

    @property
    def masks(self) -> dict[str, bool]:
        """The loss-mask options every tokenizing call takes."""
        return {"train_reasoning": self.train_reasoning, "with_kinds": self.with_kinds}

    def with_examples(self, examples: list[Example]) -> _SftState:
        """The same state for other samples (a part of the data), the encoder choice kept."""
        other = copy.copy(self)
        other.examples = examples
        return other

    def choose_encoder(self, checked: Sequence[Example], total: int | None = None) -> str:
        """Use tiktoken when the tokenizer allows it and it gives the present path's ids, labels
        and kinds on the probes and on the first ``CHECK_SAMPLES`` of ``checked`` (samples that
        pass validation); the report says which. ``total``: the samples there are (default: the
        state's)."""
        if self.fast_encoder == "off":
            return "tokenizers (data.fast_encoder off)"
        if (len(self.examples) if total is None else total) < FAST_MIN_SAMPLES:
            return f"tokenizers (tiktoken pays off from {FAST_MIN_SAMPLES:,} samples)"
        vocab = fast_vocab(self.tokenizer, self.cache_dir, self.fingerprint)
        if isinstance(vocab, str):
            return f"tokenizers (no tiktoken form: {vocab})"
        candidate = TiktokenChats(vocab)
        count = min(CHECK_SAMPLES, len(checked))
        try:
            sample = probe_chats(self.specials) + [render_sample(self.render, ex.messages, ex) for ex in checked[:count]]
        except Exception:  # the tokenizing step reports the sample that cannot be rendered
            return "tokenizers"
        try:
            quick = self.tokenize(sample, candidate).to_chats()
        except Exception as exc:  # whatever tiktoken cannot do, the present path does
            return f"tokenizers (tiktoken failed on the probes or the first {count} samples: {exc})"
        if quick != self.tokenize(sample, None).to_chats():
            return f"tokenizers (tiktoken differed on the probes or the first {count} samples)"
        self.fast = candidate
        return f"tiktoken (checked on {count} samples)"

    def _plain(self, rendered: list[RenderedChat]) -> list[TokenizedChat]:
        """Chats without control-token text in data (or with it parsed): one backend call."""
        return tokenize_chats(
            self.encoder, rendered, self.train_on, specials=_NO_SPECIALS, allow_special_in_data=True, **self.masks
        )

    def _plain_flat(self, rendered: list[RenderedChat], fast: TiktokenChats | None) -> FlatChats:
        if fast is None:
            return FlatChats.from_chats(self._plain(rendered), self.with_kinds)
        return fast.tokenize_flat(rendered, self.train_on, self._plain, **self.masks)

    def tokenize(self, rendered: list[RenderedChat], fast: TiktokenChats | None | bool = True) -> FlatChats:
        """``tokenize_chats`` for a batch, with the rare samples holding control-token text sent apart.

        Only those need the protected path; the rest are tokenized in one encoder call (``fast``:
        True for the chosen encoder, a ``TiktokenChats``, or None for the Rust backend) with the
        control-token scan already done (same ids, same labels).
        """
        encoder = self.fast if fast is True else fast or None
        if self.allow_special:
            return self._plain_flat(rendered, encoder)
        find = self.has_special
        flagged = [i for i, chat in enumerate(rendered) if any(s.from_data and find(s.text) for s in chat.segments)]
        if not flagged:
            return self._plain_flat(rendered, encoder)
        marked = set(flagged)
        plain = [i for i in range(len(rendered)) if i not in marked]
        parts = [(plain, self._plain_flat([rendered[i] for i in plain], encoder))] if plain else []
        special = tokenize_chats(
            self.tokenizer, [rendered[i] for i in flagged], self.train_on, specials=self.specials, **self.masks
        )
        parts.append((flagged, FlatChats.from_chats(special, self.with_kinds)))
        return concat_rows(parts, len(rendered))


def _tokenize_rows(st: _SftState, rows: np.ndarray, batch_size: int, defer: bool) -> tuple[Any, dict[int, Exception]]:
    """The examples at ``rows`` (indices into the state's examples) rendered, tokenized and cut,
    as one Arrow table (index, ids, labels, length, status, special[, kinds]); here or in a
    forked worker. With ``defer`` a sample that fails is left out and its error returned by
    index instead of raised: it may be a sample validation drops (the workers start before
    validation ends), and only a kept one's error is the run's."""
    import pyarrow as pa

    tables = []
    failed: dict[int, Exception] = {}
    for first in range(0, len(rows), batch_size):
        index = rows[first : first + batch_size].tolist()
        try:
            tables.append(_batch_table(st, index))
        except Exception:
            if not defer:
                raise
            for i in index:  # find the samples that fail; the rest as one-row tables
                try:
                    tables.append(_batch_table(st, [i]))
                except Exception as exc:  # noqa: BLE001 - raised later if validation keeps the sample
                    failed[i] = exc
    empty = _features(st.with_kinds).arrow_schema.remove_metadata().empty_table()
    return (pa.concat_tables(tables) if tables else empty), failed


def _batch_table(st: _SftState, index: list[int]) -> Any:
    rendered = []
    for i in index:
        example = st.examples[i]
        chat = render_sample(st.render, example.messages, example)
        if not st.train_reasoning:
            check_reasoning_marked(example, chat, st.renderer_name)
        rendered.append(chat)
    flat, status, lengths = cut(st.tokenize(rendered), st.cutoff_len, st.truncate)
    return _table(index, flat, status, lengths)


def _int32_lists(values: np.ndarray, bounds: np.ndarray) -> Any:
    """A list<int32> Arrow column straight from a flat buffer and row bounds (no Python list per
    row, which matters at tens of millions of token ids)."""
    import pyarrow as pa

    return pa.ListArray.from_arrays(pa.array(bounds.astype(np.int32)), pa.array(values.astype(np.int32, copy=False)))


def _table(index: list[int], flat: FlatChats, status: np.ndarray, lengths: np.ndarray) -> Any:
    import pyarrow as pa

    table = {
        "index": pa.array(index, type=pa.int64()),
        "input_ids": _int32_lists(flat.ids, flat.bounds),
        "labels": _int32_lists(flat.labels, flat.bounds),
        "length": pa.array(lengths, type=pa.int32()),
        "status": pa.array(status, type=pa.int8()),
        "special": pa.array(flat.special, type=pa.bool_()),
    }
    if flat.kinds is not None:
        table["kinds"] = _int32_lists(flat.kinds, flat.bounds)
    return pa.table(table)


def _features(with_kinds: bool = False) -> Any:
    from datasets import Features, List, Value

    features = {
        "index": Value("int64"),
        "input_ids": List(Value("int32")),
        "labels": List(Value("int32")),
        "length": Value("int32"),
        "status": Value("int8"),
        "special": Value("bool"),
    }
    if with_kinds:
        features["kinds"] = List(Value("int32"))
    return Features(features)


def _check_common(cutoff_len: int, truncation: str, val_size: float, num_proc: int, max_samples: int | None) -> None:
    if cutoff_len < 2:
        raise ConfigError(
            f"cutoff_len {cutoff_len} is too small",
            where="cutoff_len",
            hint="use the sequence length to train at, e.g. 2048",
        )
    if truncation not in ("drop", "truncate"):
        raise ConfigError(
            f"truncation '{truncation}' is not drop or truncate", where="truncation", hint="use drop or truncate"
        )
    if num_proc < 1:
        raise ConfigError(
            f"num_proc {num_proc} must be at least 1", where="num_proc", hint="use 1 or the number of CPU cores"
        )
    if max_samples is not None and max_samples < 1:
        raise ConfigError(
            f"max_samples {max_samples} must be at least 1",
            where="max_samples",
            hint="leave it unset to use every sample",
        )
    check_val_size(val_size)


def prepare_sft(
    paths: Sequence[PathLike] | PathLike,
    tokenizer: Any,
    render: Renderer,
    *,
    fmt: Format | None = None,
    cutoff_len: int,
    train_on: TrainOn = "all_assistant",
    truncation: Truncation = "drop",
    val_size: float = 0.0,
    max_samples: int | None = None,
    seed: int = 42,
    strict: bool = False,
    allow_special_in_data: bool = False,
    mix_weights: Sequence[float] | None = None,
    cache_dir: Path | None = None,
    overwrite_cache: bool = False,
    num_proc: int | None = None,
    task_system_prompts: Mapping[str, str] | None = None,
    template_fingerprint: str | None = None,
    batch_size: int = 1000,
    train_on_reasoning: bool = True,
    features: ChatFeatures | None = None,
    renderer_name: str = "the chat renderer",
    with_kinds: bool = False,
    dedupe: str = "exact",
    fast_encoder: FastEncoder = "auto",
) -> PreparedData:
    """Prepare conversation data for supervised fine-tuning.

    Args:
        paths: data files or directories; several paths form a mixture.
        tokenizer: the model's fast tokenizer.
        render: the selected plugin's template (messages -> ``RenderedChat``).
        fmt: the data format; detected per path when None.
        cutoff_len: the longest sample in tokens.
        train_on: which tokens carry loss: every assistant turn, the last one, everything.
        truncation: a sample over ``cutoff_len`` is dropped, or cut to it.
        val_size: evaluation split: a fraction, or a number of samples when >= 1.
        max_samples: use at most this many records in all (the first ones of each path; a
            mixture shares them by its weights).
        seed: shuffle, split and mixture seed.
        strict: stop on the first bad sample instead of dropping it.
        allow_special_in_data: control-token text inside data is parsed as control tokens.
        mix_weights: one weight per path: the share of the training set it makes up.
        cache_dir: where prepared data is stored and found again.
        overwrite_cache: rebuild even when a stored copy exists.
        num_proc: processes rendering and tokenizing; None picks (``auto_num_proc``).
        task_system_prompts: system prompt per ``task`` field value.
        template_fingerprint: identifies the template for the cache (a probe render is
            hashed when None).
        batch_size: samples per tokenizer call.
        train_on_reasoning: reasoning segments carry loss (off: only the rest of each reply).
        features: what the renderer declares it renders (``chat_features``); a sample with
            reasoning or tool content it does not declare stops the run. None: plain text only.
        renderer_name: who renders, for that error (``plugin acme (framework-acme 1.0)``).
        with_kinds: add a ``kinds`` column: per token, the index in ``framework.chat.KINDS``
            of its segment's kind, and keep ``index`` (the sample's place in file order) with a
            ``source`` column (``file:line``), for ``framework render``.
        dedupe: ``data.dedupe``: exact, near or off (``framework.data.dedupe``), within each path.
        fast_encoder: ``data.fast_encoder``: auto uses tiktoken for a byte-level BPE whose merges
            follow its ranks once it gives the same ids and labels on probes and the first
            samples (``framework.data.tiktoken_encoder``); off always uses the tokenizer's backend.

    Columns: ``input_ids``, ``labels`` (``IGNORE_INDEX`` where no loss), ``length``.
    """
    started = time.perf_counter()
    path_list = as_paths(paths)
    _check_common(cutoff_len, truncation, val_size, 1 if num_proc is None else num_proc, max_samples)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(
            f"the tokenizer ({type(tokenizer).__name__}) is not a fast tokenizer; loss masking needs its character offsets",
            hint="load the model's tokenizer.json (a fast tokenizer), or let the family plugin convert it",
        )
    weights = check_weights(mix_weights, len(path_list), names=[str(p) for p in path_list])
    key = fingerprint = None
    if cache_dir is not None:
        fingerprint = cache.tokenizer_fingerprint(tokenizer)
        settings = {
            "files": cache.files_signature(source_files(path_list)),
            "paths": [str(p) for p in path_list],
            "tokenizer": fingerprint,
            "template": template_fingerprint or cache.render_fingerprint(render),
            "fmt": fmt,
            "cutoff_len": cutoff_len,
            "train_on": train_on,
            "truncation": truncation,
            "val_size": val_size,
            "max_samples": max_samples,
            "seed": seed,
            "strict": strict,
            "allow_special": allow_special_in_data,
            "weights": weights,
            "tasks": dict(task_system_prompts) if task_system_prompts is not None else None,
            "train_on_reasoning": train_on_reasoning,
            "features": features.model_dump(mode="json") if features is not None else None,
            "kinds": with_kinds,
            "dedupe": dedupe,
        }
        key = cache.cache_key("sft", settings)
        stored = None if overwrite_cache else cache.load(cache_dir, key)
        if stored is not None:
            return PreparedData(*stored)

    with collector_paused():  # millions of long-lived objects, no cycles: nothing to collect
        state = _SftState([], render, tokenizer, train_on, cutoff_len, truncation == "truncate",
                          special_token_strings(tokenizer), allow_special_in_data, train_on_reasoning, with_kinds,
                          renderer_name, fast_encoder, cache_dir, fingerprint)
        common = {"fmt": fmt, "task_system_prompts": task_system_prompts, "features": features, "strict": strict,
                  "dedupe": dedupe, "batch_size": batch_size}
        judged = None
        if max_samples is None and not with_kinds and (num_proc is None or num_proc > 1) and _can_fork():
            judged = _in_shares(state, path_list, num_proc, key, **common)
        if judged is None:
            judged = _in_one_pass(state, path_list, num_proc, key, max_samples=max_samples, weights=weights, **common)
        report, tokenized = judged.report, judged.tokenized
        report.cutoff_len = cutoff_len
        if features is not None:
            report.notes.insert(0, features_note(features, renderer_name))
        index = tokenized.data.column("index").to_numpy()
        rows = _apply_status(tokenized, index, judged.kept, judged.places, report, strict, cutoff_len)
        source_of = judged.source_of[index]
        train_rows, eval_rows, counts = split_and_mix(rows, source_of[rows], val_size=val_size, weights=weights,
                                                      seed=seed, names=report.files, report=report)
    report.eval = len(eval_rows)
    if len(path_list) > 1:
        report.mixture = {name: int(counts.get(i, 0)) for i, name in enumerate(report.files)}
    columns = ["status", "special"] if with_kinds else ["index", "status", "special"]
    train = tokenized.select(train_rows).remove_columns(columns)
    evaluation = tokenized.select(eval_rows).remove_columns(columns) if len(eval_rows) else None
    if with_kinds:  # framework render shows each sample under its file:line
        places = [f"{ex.source}:{ex.line}" for ex in judged.places]
        train = train.add_column("source", [places[i] for i in train["index"]])
        if evaluation is not None:
            evaluation = evaluation.add_column("source", [places[i] for i in evaluation["index"]])
    texts = judged.texts
    if key is not None:
        cache.save(cache_dir, key, train, evaluation, report, texts)
    report.prepared_s, report.num_proc = time.perf_counter() - started, judged.num_proc  # after saving: not cached
    report.encoder = judged.encoder
    return PreparedData(train, evaluation, report, texts)


SFT_FORMATS = ("alpaca", "sharegpt", "messages")


@dataclass
class _Judged:
    """Samples tokenized and judged, whichever way (``_in_shares`` or ``_in_one_pass``)."""

    tokenized: Any  # datasets.Dataset; its ``index`` column: the sample's place among ``places``
    kept: np.ndarray  # bool per sample: validation kept it
    places: Sequence[Any]  # per sample, something with its ``source`` and ``line``
    source_of: np.ndarray  # int64 per sample: its --data path
    report: DataReport  # its ``files``: the --data paths, in the order ``source_of`` counts them
    texts: list[str]  # for the check_data hook
    encoder: str | None
    num_proc: int


def _in_shares(state: _SftState, paths: list[Path], num_proc: int | None, key: str | None, *, fmt: Format | None,
               task_system_prompts: Mapping[str, str] | None, features: ChatFeatures | None, strict: bool,
               dedupe: str, batch_size: int) -> _Judged | None:
    """Every process, this one included, takes a part of the lines from JSON to tokens
    (``framework.data.shares``); this one judges the facts they found. None where that does not
    apply (not all ``.jsonl`` files, one process)."""
    plan = plan_shares(paths, fmt=fmt, allowed=SFT_FORMATS, task_system_prompts=task_system_prompts)
    if plan is None:
        return None
    try:
        return _judge_shares(state, plan, paths, num_proc, key, task_system_prompts=task_system_prompts,
                             features=features, strict=strict, dedupe=dedupe, batch_size=batch_size)
    finally:
        plan.close()


def _judge_shares(state: _SftState, plan: SharePlan, paths: list[Path], num_proc: int | None, key: str | None, *,
                  task_system_prompts: Mapping[str, str] | None, features: ChatFeatures | None, strict: bool,
                  dedupe: str, batch_size: int) -> _Judged | None:
    """``_in_shares`` on a plan: the encoder chosen on the first samples, the parts run, their
    facts judged in file order, then, in the order one process meets them, undeclared content and
    render errors of kept samples raised; None when one process is enough."""
    encoder = state.choose_encoder(_valid_head(plan.head, CHECK_SAMPLES), total=plan.records)
    num_proc = num_proc or auto_num_proc(plan.records, state.fast is not None)
    if num_proc < 2:
        return None
    plan.parts = split_parts(plan, num_proc)

    def tokenize(examples: list[Example]) -> tuple[Any, dict[int, Exception]]:
        return _tokenize_rows(state.with_examples(examples), np.arange(len(examples)), batch_size, True)

    job = PartJob(plan, tokenize, task_system_prompts, features or ChatFeatures())
    results = run_parts(job, _scratch(plan.size))
    facts = [fact for result in results for fact in result.facts]
    report = DataReport(format="+".join(dict.fromkeys(plan.formats)), files=[str(p) for p in paths],
                        read=sum(n for r in results for n in r.records.values()))
    unused = merged_ignored(results).note()
    if unused is not None:
        report.notes.append(unused)
    sources = [s for result in results for s in result.sources]
    kept = np.zeros(len(facts), dtype=bool)
    kept[judge(facts, strict=strict, problems=[p for r in results for p in r.problems], report=report,
               dedupe=dedupe, sources=sources)] = True
    found = first_undeclared(results, kept)
    if found is not None:
        raise undeclared_error(found[1], f"{found[0].source}:{found[0].line}", state.renderer_name)
    offsets = part_offsets(results)
    _raise_failed({offset + i: exc for offset, r in zip(offsets, results) for i, exc in r.failed.items()}, kept)
    table = _with_index([r.table for r in results], offsets)
    return _Judged(_dataset(table, state.with_kinds, key), kept, facts, np.asarray(sources, dtype=np.int64), report,
                   first_texts(results, kept), encoder, num_proc)


def _with_index(tables: list[Any], offsets: list[int]) -> Any:
    """The parts' tables joined, each ``index`` moved from the part's samples to all samples."""
    import pyarrow as pa

    table = pa.concat_tables(tables)
    shift = np.repeat(np.asarray(offsets[:-1], dtype=np.int64), [len(t) for t in tables])
    index = table.column("index").to_numpy() + shift
    return table.set_column(table.schema.get_field_index("index"), "index", pa.array(index, type=pa.int64()))


def _in_one_pass(state: _SftState, paths: list[Path], num_proc: int | None, key: str | None, *, fmt: Format | None,
                 task_system_prompts: Mapping[str, str] | None, features: ChatFeatures | None, strict: bool,
                 dedupe: str, batch_size: int, max_samples: int | None, weights: Sequence[float] | None) -> _Judged:
    """Read and convert everything here, then validate here while forked workers tokenize every
    converted sample (``num_proc`` above 1), or tokenize the kept ones here."""
    converted = convert_sources(paths, fmt=fmt, allowed=SFT_FORMATS, stage="sft", max_samples=max_samples,
                                weights=weights, task_system_prompts=task_system_prompts)
    state.examples = converted.examples
    encoder = None
    if num_proc is None or num_proc > 1:  # the workers may start before validation: decide first
        encoder = state.choose_encoder(_valid_head(converted.examples, CHECK_SAMPLES))
        num_proc = num_proc or auto_num_proc(len(converted.examples), state.fast is not None)
    ahead = num_proc > 1 and _can_fork()  # every converted sample is tokenized while this process validates
    every = np.arange(len(converted.examples), dtype=np.int64)
    with _Tokenizing(state, key, every, num_proc, batch_size, defer=True) if ahead else nullcontext() as early:
        loaded = validate_sources(converted, strict=strict, dedupe=dedupe)
        refuse_undeclared(loaded.examples, features, state.renderer_name)
        if early is not None:
            tokenized, failed = early.result()
    if not ahead:  # one process: only what validation kept
        encoder = encoder or state.choose_encoder(loaded.examples)
        with _Tokenizing(state, key, np.asarray(loaded.positions, dtype=np.int64), 1, batch_size,
                         defer=False) as job:
            tokenized, failed = job.result()
    kept = np.zeros(len(converted.examples), dtype=bool)
    kept[loaded.positions] = True
    _raise_failed(failed, kept)
    return _Judged(tokenized, kept, converted.examples, np.asarray(converted.source_of, dtype=np.int64),
                   loaded.report, sample_texts(loaded.examples), encoder, num_proc)


def auto_num_proc(samples: int, fast: bool) -> int:
    """``data.num_proc`` when unset: with the tiktoken encoder (used from 10,000 samples) one
    process per 5,000 samples up to the cores; with the tokenizers backend 1, whose Rust encoder
    already runs on every core. One process against two, alternately, on 2 idle cores
    (bench/preprocess.py, workers tokenizing while this process validates): 10,000 samples 0.92 s
    against 0.70-0.73 s, 20,000 samples 1.74 s against 1.24-1.27 s; the tokenizers backend at
    20,000 samples 3.97-4.03 s against 3.65-3.66 s, at 5,000 0.97 s against 1.10 s (a gain too
    small to bet on against other jobs on the cores). docs/benchmarks.md §2 has the runs."""
    return max(1, min(_cores(), samples // 5_000)) if fast else 1


def _cores() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Tokenizing:
    """Rendering and tokenizing the examples at ``rows``, in file order, into an in-memory
    ``datasets.Dataset`` (``result``), with the errors of samples that could not be rendered.

    With ``num_proc > 1`` (and ``fork``, which every Linux has) ``num_proc`` workers start at once,
    so this process can validate while they work; each takes contiguous shares, four per
    worker so an uneven share does not leave a core idle, writes each share's table as an Arrow
    file into shared memory (``/dev/shm``) and returns its name; this process maps the files (no
    copy) and joins them in order. The workers inherit the examples and the renderer (which holds
    the plugin manager) through ``fork``; without ``fork`` everything runs here. ``datasets.map``
    did this before; its shard bookkeeping and pickled tables cost about a second per 100k
    samples (bench/preprocess.py). Use as a context manager: leaving it stops the workers.
    """

    def __init__(self, state: _SftState, key: str | None, rows: np.ndarray, num_proc: int, batch_size: int,
                 *, defer: bool) -> None:
        import multiprocessing
        import tempfile

        self.token, self.key = key or f"run-{id(state)}", key
        self.rows, self.batch_size, self.defer = rows, batch_size, defer
        self.with_kinds = state.with_kinds
        _STATE[self.token] = state
        self.pool: Any = None
        workers = num_proc if num_proc > 1 and _can_fork() else 1
        parts = min(workers * 4, max(1, len(rows) // batch_size))
        if workers == 1 or parts == 1:
            return
        self.folder = tempfile.TemporaryDirectory(prefix="framework-tokenized-", dir=_scratch(_text_chars(state.examples)))
        edges = [len(rows) * i // parts for i in range(parts + 1)]
        shares = [(self.token, rows[a:b], batch_size, defer, os.path.join(self.folder.name, f"{i}.arrow"))
                  for i, (a, b) in enumerate(zip(edges, edges[1:]))]
        self.pool = multiprocessing.get_context("fork").Pool(workers)
        self.pending = self.pool.starmap_async(_tokenize_rows_to_file, shares, chunksize=1)

    def result(self) -> tuple[Any, dict[int, Exception]]:
        import pyarrow as pa

        if self.pool is None:
            table, failed = _tokenize_rows(_STATE[self.token], self.rows, self.batch_size, self.defer)
        else:
            done = self.pending.get()
            self.pool.close()
            failed = {i: exc for _, errors in done for i, exc in errors.items()}
            table = pa.concat_tables([mapped_table(file) for file, _ in done])
        return _dataset(table, self.with_kinds, self.key), failed

    def __enter__(self) -> _Tokenizing:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.folder.cleanup()
        _STATE.pop(self.token, None)


def _can_fork() -> bool:
    """Whether workers can inherit this process's examples and renderer (Linux, not Windows)."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _text_chars(examples: Sequence[Example]) -> int:
    """Characters of message text in the examples (what the tables' size follows)."""
    return sum(len(m.get("content") or "") for ex in examples for m in ex.messages)


def _scratch(chars: int) -> str | None:
    """``/dev/shm`` when it surely has room for the tables of ``chars`` characters of text, else
    None (the system's temporary directory): containers often mount a 64 MiB ``/dev/shm``."""
    shm = "/dev/shm"
    if not (os.path.isdir(shm) and os.access(shm, os.W_OK)):
        return None
    free = os.statvfs(shm)
    return shm if free.f_bavail * free.f_frsize > _TABLE_BYTES_PER_CHAR * chars + (64 << 20) else None


#: Bytes of Arrow table per character of text at worst: four tokens (a 4-byte UTF-8 character
#: as single bytes), each an id, a label and a kind (int32). Typical text needs a tenth of it.
_TABLE_BYTES_PER_CHAR = 48


def _tokenize_rows_to_file(key: str, rows: np.ndarray, batch_size: int, defer: bool,
                           file: str) -> tuple[str, dict[int, Exception]]:
    """``_tokenize_rows`` in a forked worker, its table written to ``file`` (Arrow IPC)."""
    table, failed = _tokenize_rows(_STATE[key], rows, batch_size, defer)
    return write_table(table, file), {i: picklable(exc) for i, exc in failed.items()}


def _dataset(table: Any, with_kinds: bool, key: str | None) -> Any:
    """An in-memory ``datasets.Dataset`` over a tokenized table (no copy).

    Its fingerprint is given (the data cache's key, or a random one as ``datasets`` itself falls
    back to): without one ``datasets`` pickles the whole table to hash it, 0.4-0.7 s per 100k
    samples (bench/preprocess.py). Nothing here reuses a ``datasets`` cache by fingerprint."""
    from datasets import Dataset
    from datasets.fingerprint import generate_random_fingerprint
    from datasets.table import InMemoryTable

    fingerprint = f"{key}-sft-tokens" if key else generate_random_fingerprint()
    return Dataset(InMemoryTable(table), info=_info(with_kinds), fingerprint=fingerprint)


def _info(with_kinds: bool) -> Any:
    from datasets import DatasetInfo

    return DatasetInfo(features=_features(with_kinds))


def _valid_head(examples: Sequence[Example], count: int) -> list[Example]:
    """The first ``count`` examples with nothing wrong by themselves (``sample_problem``)."""
    found: list[Example] = []
    for ex in examples:
        if len(found) == count:
            break
        if sample_problem(ex) is None:
            found.append(ex)
    return found


def _raise_failed(failed: dict[int, Exception], kept: np.ndarray) -> None:
    """Raise the error of the first sample that validation kept but could not be rendered."""
    for i in sorted(failed):
        if kept[i]:
            raise failed[i]


def _apply_status(tokenized: Any, index: np.ndarray, kept: np.ndarray, places: Sequence[Any], report: DataReport,
                  strict: bool, cutoff_len: int) -> np.ndarray:
    """Count dropped and truncated rows among those validation kept; the rows that stay.

    ``index`` holds each row's sample (an index into ``places``, the converted samples or their
    facts: whatever has their ``source`` and ``line``), ``kept`` whether validation kept it."""
    status = tokenized.data.column("status").to_numpy()
    valid = kept[index]
    report.special_text = int(tokenized.data.column("special").to_numpy()[valid].sum())
    report.truncated = int(((status == TRUNCATED) & valid).sum())
    report.too_long = int(((status == TOO_LONG) & valid).sum())
    bad = np.flatnonzero(((status == TOO_LONG) | (status == NO_LABEL)) & valid)
    if len(bad):
        lengths = tokenized.data.column("length").to_numpy()
        for row in bad:
            ex = places[int(index[row])]
            if status[row] == TOO_LONG:
                problem = Problem(
                    "too-long",
                    f"the sample is {int(lengths[row])} tokens, over cutoff_len {cutoff_len}",
                    ex.source,
                    ex.line,
                    "raise cutoff_len, shorten the sample, or set truncation to truncate",
                )
            else:
                problem = Problem(
                    "no-trained-token",
                    "no token of the sample carries loss (the reply is empty or cut off)",
                    ex.source,
                    ex.line,
                    "check the reply, or raise cutoff_len",
                )
            if strict:
                raise_problem(problem)
            report.add(problem)
    rows = np.flatnonzero(((status == KEEP) | (status == TRUNCATED)) & valid)
    report.kept = len(rows)
    raise_if_empty(report)
    return rows


# The other stages live in their own modules; importing them here keeps one entry point.
from framework.data.preference import prepare_preference  # noqa: E402
from framework.data.pretrain import prepare_pretrain  # noqa: E402
