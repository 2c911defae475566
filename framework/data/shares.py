"""Preparing JSON Lines in shares: every process takes a run of lines from JSON to tokens.

Why: reading and converting every sample in one process before workers could render and tokenize
left the second core idle for the first second of each 100k samples, and the process validating
while two workers tokenized put three processes on two cores (bench/preprocess.py --timeline).
Here each of ``num_proc`` processes, this one included, parses, converts, finds the facts of
(``framework.data.validate.sample_facts``), renders and tokenizes one contiguous part of the
lines; this process then judges the facts in file order (repeats, strict mode, counts), exactly
as one process judging every sample would, and joins the parts' tables.

It covers data given as ``.jsonl`` files, where a line is a record and lines can be split
anywhere. Directories, other formats, ``max_samples`` and anything planning cannot read cleanly
(an error is then raised by the one-process path, which names it as it always has) go the
sequential way.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framework.data.content_checks import undeclared
from framework.data.formats import Example, Format, IgnoredFields, detect_format, to_examples
from framework.data.problems import Problem
from framework.data.records import file_text, jsonl_records
from framework.data.sources import sample_texts
from framework.data.validate import SampleFacts, sample_facts
from framework.errors import DataError
from framework.hookdata import ChatFeatures

#: Records looked at to detect a file's format (``detect_format``'s probe).
_PROBE = 2000

#: Message texts the family's ``check_data`` hook gets (``sources.sample_texts``' limit).
TEXT_LIMIT = 2000


@dataclass
class LinesFile:
    """One ``.jsonl`` file of the data: its lines, its source (``--data`` path) and format."""

    name: str  # str(path): how records and messages name the file
    source: int
    fmt: Format
    lines: list[str]


@dataclass(frozen=True)
class Share:
    """Lines ``start:stop`` (0-based) of ``files[file]``."""

    file: int
    start: int
    stop: int


@dataclass
class SharePlan:
    """The files read, split into ``parts`` (one per process, each a list of shares in order)."""

    files: list[LinesFile]
    parts: list[list[Share]]
    records: int  # non-blank lines: the records there are
    chars: int
    formats: list[str]  # per file in order, for the report
    head: list[Example]  # the first file's first examples, for choosing the encoder


def plan_shares(paths: Sequence[Path], *, fmt: Format | None, allowed: Collection[str],
                task_system_prompts: Mapping[str, str] | None) -> SharePlan | None:
    """Read the files (their parts come from ``split_parts``); None when the data is not all
    ``.jsonl`` files, or when reading the first records of a file or telling its format fails
    (the one-process path then raises that error where it always has)."""
    if not all(p.suffix.lower() == ".jsonl" and p.is_file() for p in paths):
        return None
    files: list[LinesFile] = []
    head: list[Example] = []
    try:
        for source, path in enumerate(paths):
            lines = file_text(path).split("\n")  # on "\n" only, as records.read_records does
            probe = _first_records(lines, str(path))
            found = fmt or detect_format(probe)
            if found not in allowed:
                return None
            if not head:
                head, _ = to_examples(probe, found, task_system_prompts=task_system_prompts)
            files.append(LinesFile(str(path), source, found, lines))
    except DataError:
        return None
    records = sum(sum(1 for line in f.lines if line and not line.isspace()) for f in files)
    chars = sum(len(line) + 1 for f in files for line in f.lines)
    return SharePlan(files, [], records, chars, [f.fmt for f in files], head)


def _first_records(lines: list[str], name: str) -> list[Any]:
    """The first ``_PROBE`` records of a file (or all it has)."""
    records: list[Any] = []
    start = 0
    while len(records) < _PROBE and start < len(lines):
        stop = start + _PROBE - len(records)
        records += jsonl_records(lines[start:stop], name, start + 1)
        start = stop
    return records[:_PROBE]


def split_parts(plan: SharePlan, parts: int) -> list[list[Share]]:
    """``parts`` runs of lines of about equal characters: part ``p`` holds the lines ending in its
    ``p``-th of all text (a file boundary inside a part starts a new share)."""
    sizes = [np.fromiter(map(len, f.lines), np.int64, len(f.lines)) + 1 for f in plan.files]
    ends = np.cumsum(np.concatenate(sizes)) if sizes else np.zeros(0, np.int64)
    total = int(ends[-1]) if len(ends) else 0
    firsts = list(itertools.accumulate((len(s) for s in sizes), initial=0))  # global index of each file's line 0
    # the first line of part p: the first line ending after p/parts of the text
    cuts = [0] + [int(np.searchsorted(ends, total * p // parts, side="right")) for p in range(1, parts)] + [firsts[-1]]
    out: list[list[Share]] = []
    for a, b in zip(cuts, cuts[1:]):
        shares = []
        for index in range(len(sizes)):
            lo, hi = max(a, firsts[index]), min(b, firsts[index + 1])
            if lo < hi:
                shares.append(Share(index, lo - firsts[index], hi - firsts[index]))
        out.append(shares)
    return out


@dataclass
class PartResult:
    """What one part gives back: everything judging and joining needs, but not its samples."""

    records: int = 0
    problems: list[Problem] = field(default_factory=list)  # records that could not be converted
    facts: list[SampleFacts] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)  # per sample: its --data path
    ignored: IgnoredFields = field(default_factory=IgnoredFields)
    undeclared: dict[int, tuple[str, str]] = field(default_factory=dict)  # sample -> what, fix
    texts: list[list[str]] = field(default_factory=list)  # the message texts of its first samples
    table: Any = None  # pyarrow.Table, or the path of its Arrow file when a worker wrote it
    failed: dict[int, Exception] = field(default_factory=dict)  # sample -> why it could not be rendered


@dataclass
class PartJob:
    """What every part needs, inherited by the forked workers."""

    plan: SharePlan
    tokenize: Callable[[list[Example]], tuple[Any, dict[int, Exception]]]
    task_system_prompts: Mapping[str, str] | None
    features: ChatFeatures


_JOBS: dict[str, PartJob] = {}


def run_part(job: PartJob, index: int) -> PartResult:
    """Parse, convert, find the facts of, render and tokenize part ``index`` of the plan."""
    result = PartResult()
    examples: list[Example] = []
    for share in job.plan.parts[index]:
        file = job.plan.files[share.file]
        records = jsonl_records(file.lines[share.start : share.stop], file.name, share.start + 1)
        converted, problems = to_examples(records, file.fmt, task_system_prompts=job.task_system_prompts,
                                          ignored=result.ignored)
        result.records += len(records)
        result.problems += problems
        result.sources += [file.source] * len(converted)
        examples += converted
    result.facts = [sample_facts(ex) for ex in examples]
    if not (job.features.reasoning and job.features.tools):
        for i, ex in enumerate(examples):
            found = undeclared(ex, job.features) if result.facts[i].content else None  # content 0: nothing to declare
            if found is not None:
                result.undeclared[i] = found
    texts = 0
    for ex, fact in zip(examples, result.facts):
        if texts >= TEXT_LIMIT:
            break
        own = sample_texts([ex])
        result.texts.append(own)
        texts += len(own) if fact.problem is None else 0
    result.table, result.failed = job.tokenize(examples)
    return result


def _run_part_to_file(token: str, index: int, folder: str) -> PartResult:
    """``run_part`` in a forked worker, its table written to an Arrow file in ``folder``."""
    import pyarrow as pa

    from framework.data.pipeline import _picklable

    result = run_part(_JOBS[token], index)
    file = os.path.join(folder, f"{index}.arrow")
    with pa.OSFile(file, "wb") as sink, pa.ipc.new_file(sink, result.table.schema) as writer:
        writer.write_table(result.table)
    result.table = file
    result.failed = {i: _picklable(exc) for i, exc in result.failed.items()}
    return result


def run_parts(job: PartJob, scratch: str | None) -> list[PartResult]:
    """Every part of the plan: the first here, the others in forked workers at the same time.

    A part that cannot be read (a line that is not a JSON object) raises; the error of the first
    such part in file order is raised, the one a single process reading the lines in order
    would meet first."""
    import tempfile

    import pyarrow as pa

    token = f"parts-{id(job)}"
    _JOBS[token] = job
    workers = len(job.plan.parts) - 1
    folder = tempfile.TemporaryDirectory(prefix="framework-tokenized-", dir=scratch)
    pool = multiprocessing.get_context("fork").Pool(workers)
    try:
        pending = [pool.apply_async(_run_part_to_file, (token, i, folder.name)) for i in range(1, workers + 1)]
        outcomes: list[PartResult | BaseException] = []
        try:
            outcomes.append(run_part(job, 0))
        except Exception as exc:  # noqa: BLE001 - raised below if no earlier part failed
            outcomes.append(exc)
        for waiting in pending:
            try:
                outcomes.append(waiting.get())
            except Exception as exc:  # noqa: BLE001
                outcomes.append(exc)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        results: list[PartResult] = outcomes  # type: ignore[assignment]
        for result in results[1:]:  # mapped, then unlinked with the folder: the mapping keeps the pages
            result.table = pa.ipc.open_file(pa.memory_map(result.table)).read_all()
        return results
    finally:
        pool.terminate()
        pool.join()
        folder.cleanup()
        _JOBS.pop(token, None)


def part_offsets(results: Sequence[PartResult]) -> list[int]:
    """The index of each part's first sample among all samples."""
    return list(itertools.accumulate((len(r.facts) for r in results), initial=0))


def first_texts(results: Sequence[PartResult], kept: np.ndarray) -> list[str]:
    """Up to ``TEXT_LIMIT`` message texts of the first kept samples (``sources.sample_texts``)."""
    texts: list[str] = []
    for offset, result in zip(part_offsets(results), results):
        for i, own in enumerate(result.texts):
            if kept[offset + i]:
                texts += own
            if len(texts) >= TEXT_LIMIT:
                return texts[:TEXT_LIMIT]
    return texts


def first_undeclared(results: Sequence[PartResult], kept: np.ndarray) -> tuple[SampleFacts, tuple[str, str]] | None:
    """The first kept sample with content its renderer does not declare, and what it is."""
    for offset, result in zip(part_offsets(results), results):
        for i in sorted(result.undeclared):
            if kept[offset + i]:
                return result.facts[i], result.undeclared[i]
    return None


def merged_ignored(results: Sequence[PartResult]) -> IgnoredFields:
    """The parts' unused-field counts as one (each field's first sample: the earliest)."""
    merged = IgnoredFields()
    for result in results:
        for name, count in result.ignored.counts.items():
            merged.counts[name] = merged.counts.get(name, 0) + count
            merged.first.setdefault(name, result.ignored.first[name])
    return merged


__all__ = ["PartJob", "PartResult", "SharePlan", "TEXT_LIMIT", "first_texts", "first_undeclared",
           "merged_ignored", "part_offsets", "plan_shares", "run_parts", "split_parts"]
