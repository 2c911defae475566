"""Preparing JSON Lines in shares: every process takes a run of lines from JSON to tokens.

Why: reading and converting every sample in one process before workers could render and tokenize
left the second core idle for the first second of each 100k samples, and the process validating
while two workers tokenized put three processes on two cores (bench/preprocess.py --timeline).
Here each of ``num_proc`` processes, this one included, parses, converts, finds the facts of
(``framework.data.validate.sample_facts``), renders and tokenizes one contiguous part of the
lines; this process then judges the facts in file order (repeats, strict mode, counts), exactly
as one process judging every sample would, and joins the parts' tables.

It covers data given as ``.jsonl`` files (or directories of them), where a line is a record and
lines can be split anywhere. Other file types, ``max_samples``, ``framework render``'s kinds and
anything planning cannot read cleanly (an error is then raised by the one-process path, which
names it as it always has) go the sequential way.
"""

from __future__ import annotations

import itertools
import mmap
import multiprocessing
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framework.data.content_checks import undeclared
from framework.data.formats import Example, Format, IgnoredFields, detect_format, to_examples
from framework.data.problems import Problem
from framework.data.records import data_files, jsonl_records, read_records
from framework.data.sources import sample_texts
from framework.data.validate import SampleFacts, sample_facts
from framework.errors import DataError
from framework.hookdata import ChatFeatures

#: Records looked at to detect a file's format (``detect_format``'s probe).
_PROBE = 2000

#: Message texts the family's ``check_data`` hook gets (``sources.sample_texts``' limit).
TEXT_LIMIT = 2000


@dataclass
class BytesFile:
    """One ``.jsonl`` file of the data: its bytes (mapped, not read: the workers inherit the
    mapping and copy only their part), its source (``--data`` path) and format."""

    name: str  # str(path): how records and messages name the file
    source: int
    fmt: Format
    raw: mmap.mmap


@dataclass(frozen=True)
class Share:
    """Bytes ``start:stop`` of ``files[file]``: whole lines."""

    file: int
    start: int
    stop: int


@dataclass
class SharePlan:
    """The files read, split into ``parts`` (one per process, each a list of shares in order)."""

    files: list[BytesFile] = field(default_factory=list)
    parts: list[list[Share]] = field(default_factory=list)
    records: int = 0  # about the records there are, for choosing the encoder and num_proc
    head: list[Example] = field(default_factory=list)  # the first file's first examples, for choosing the encoder

    @property
    def size(self) -> int:
        """Bytes of all the files."""
        return sum(len(file.raw) for file in self.files)

    @property
    def formats(self) -> list[str]:
        """Each file's format, in order (for the report)."""
        return [file.fmt for file in self.files]

    def close(self) -> None:
        """Unmap the files."""
        for file in self.files:
            file.raw.close()


def plan_shares(paths: Sequence[Path], *, fmt: Format | None, allowed: Collection[str],
                task_system_prompts: Mapping[str, str] | None) -> SharePlan | None:
    """Map the files (their parts come from ``split_parts``; each part decodes its own bytes);
    None when the data is not all ``.jsonl`` files (a directory's files included), or when
    decoding or reading a file's first records or telling its format fails, or a format does not
    fit the stage (the one-process path then raises that error, or skips the file with its note,
    where it always has)."""
    sources = [(source, _jsonl_files(path)) for source, path in enumerate(paths)]
    if any(files is None for _, files in sources):
        return None
    plan = SharePlan()
    for source, files in sources:
        for path in files:  # type: ignore[union-attr]
            raw = _mapped(path)
            if raw is None or not _probe(plan, str(path), source, raw, fmt, allowed, task_system_prompts):
                if raw is not None:
                    raw.close()
                plan.close()
                return None
    return plan


def _jsonl_files(path: Path) -> list[Path] | None:
    """The files a ``--data`` path stands for (``records.data_files``), None unless all are ``.jsonl``."""
    try:
        files = data_files(path) if path.is_dir() else [path]
    except DataError:
        return None
    return files if all(f.suffix.lower() == ".jsonl" and f.is_file() for f in files) else None


def _probe(plan: SharePlan, name: str, source: int, raw: mmap.mmap, fmt: Format | None, allowed: Collection[str],
           task_system_prompts: Mapping[str, str] | None) -> bool:
    """Tell a file's format from its first records and add the file to the plan; False when that fails."""
    try:
        probe, probe_bytes = _first_records(raw, name)
        found = fmt or detect_format(probe)
    except (DataError, UnicodeDecodeError):
        return False
    if found not in allowed:
        return False
    if not plan.head:
        plan.head, _ = to_examples(probe, found, task_system_prompts=task_system_prompts)
    plan.files.append(BytesFile(name, source, found, raw))
    plan.records += round(len(probe) * len(raw) / max(1, probe_bytes))
    return True


_NOT_SPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")


def _mapped(path: Path) -> mmap.mmap | None:
    """The file mapped, or None when it is empty or UTF-16 (the one-process reader says so)."""
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return None
        raw = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if _NOT_SPACE.search(raw) is None or raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raw.close()
        return None
    return raw


def _first_records(raw: mmap.mmap, name: str) -> tuple[list[Any], int]:
    """The first ``_PROBE`` records of a file (or all it has), and the bytes they took."""
    end = 0
    for _ in range(_PROBE):  # blank lines make a few less records; detect_format needs no more
        end = raw.find(b"\n", end) + 1
        if end == 0:
            end = len(raw)
            break
    return jsonl_records(raw[:end].decode("utf-8-sig").split("\n"), name), end


def split_parts(plan: SharePlan, parts: int) -> list[list[Share]]:
    """``parts`` runs of whole lines of about equal bytes (a file boundary inside a part starts a
    new share): part ``p`` ends after the line holding byte ``p / parts`` of all the data."""
    firsts = list(itertools.accumulate((len(f.raw) for f in plan.files), initial=0))  # each file's first byte
    cuts = [0]
    for p in range(1, parts):
        at = plan.size * p // parts
        index = max(i for i in range(len(plan.files)) if firsts[i] <= at)
        raw = plan.files[index].raw
        newline = raw.find(b"\n", at - firsts[index])
        cuts.append(firsts[index] + (len(raw) if newline < 0 else newline + 1))
    cuts.append(plan.size)
    out: list[list[Share]] = []
    for a, b in zip(cuts, cuts[1:]):
        shares = []
        for index in range(len(plan.files)):
            lo, hi = max(a, firsts[index]) - firsts[index], min(b, firsts[index + 1]) - firsts[index]
            if lo < hi:
                shares.append(Share(index, lo, hi))
        out.append(shares)
    return out


def share_lines(file: BytesFile, share: Share) -> tuple[list[str], int]:
    """The lines of a share, decoded (a byte-order mark at the start of the file dropped), and
    the file line of the first: counted here, in the part's own process (a newline count over
    half of 100 MB takes 30 ms)."""
    if share.start == 0:
        return file.raw[: share.stop].decode("utf-8-sig").split("\n"), 1
    step = 1 << 22  # counted in 4 MiB slices: no copy of everything before the share at once
    first = sum(file.raw[a : min(a + step, share.start)].count(b"\n") for a in range(0, share.start, step)) + 1
    return file.raw[share.start : share.stop].decode("utf-8").split("\n"), first


@dataclass
class PartResult:
    """What one part gives back: everything judging and joining needs, but not its samples."""

    records: dict[int, int] = field(default_factory=dict)  # per file: the records read
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
        lines, first = share_lines(file, share)
        records = jsonl_records(lines, file.name, first)
        converted, problems = to_examples(records, file.fmt, task_system_prompts=job.task_system_prompts,
                                          ignored=result.ignored)
        result.records[share.file] = result.records.get(share.file, 0) + len(records)
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
    result = run_part(_JOBS[token], index)
    result.table = write_table(result.table, os.path.join(folder, f"{index}.arrow"))
    result.failed = {i: picklable(exc) for i, exc in result.failed.items()}
    return result


def write_table(table: Any, file: str) -> str:
    """A worker's table written as an Arrow IPC file, for ``mapped_table`` in the parent; the file."""
    import pyarrow as pa

    with pa.OSFile(file, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return file


def mapped_table(file: str) -> Any:
    """The table of an Arrow IPC file, mapped rather than read: no copy, and unlinking the file
    afterwards (the workers' scratch folder is removed) keeps the pages."""
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(file)).read_all()


def picklable(exc: Exception) -> Exception:
    """The error itself when it survives the trip back from a worker, else its type and message."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - an error object holding something unpicklable
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def run_parts(job: PartJob, scratch: str | None) -> list[PartResult]:
    """Every part of the plan: the first here, the others in forked workers at the same time.

    When a part cannot be read (bytes that are not UTF-8, a line that is not a JSON object), the
    files are read again in order by ``records.read_records``, which raises the error one process
    reading them would have met first."""
    import tempfile

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
        failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failed:
            for file in job.plan.files:  # the error one process reading every file in order meets first
                read_records(file.name)
            raise failed[0]
        results: list[PartResult] = outcomes  # type: ignore[assignment]
        for result in results[1:]:
            result.table = mapped_table(result.table)
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


__all__ = ["PartJob", "PartResult", "SharePlan", "TEXT_LIMIT", "first_texts", "first_undeclared", "mapped_table",
           "merged_ignored", "part_offsets", "picklable", "plan_shares", "run_parts", "split_parts", "write_table"]
