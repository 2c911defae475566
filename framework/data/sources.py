"""From the paths a user gives to validated examples, remembering which path each came from.

Each path (a file or a directory) is one *source*: it has one format and, in a mixture, one
weight. Sources are validated together so a sample repeated across two files is found too.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from framework.data.formats import Example, Format, IgnoredFields, detect_format, to_examples
from framework.data.messages import THINK_CLOSE, THINK_OPEN
from framework.data.problems import Problem
from framework.data.records import data_files, read_records
from framework.data.validate import DataReport, judge, sample_facts
from framework.errors import ConfigError, DataError

PathLike = str | Path


@dataclass
class Loaded:
    """Validated examples of every source, with the source index of each example."""

    examples: list[Example]
    source_of: list[int]
    names: list[str]
    formats: list[str]
    report: DataReport
    files: list[Path] = field(default_factory=list)
    #: per kept example, its index among the converted examples (``Converted.examples``)
    positions: list[int] = field(default_factory=list)


def as_paths(paths: Sequence[PathLike] | PathLike) -> list[Path]:
    """One path or several, as a list of Paths (a single string is one path)."""
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    result = [Path(p) for p in paths]
    if not result:
        raise ConfigError("no data path given", hint="name at least one data file or directory")
    return result


def source_files(paths: Sequence[Path]) -> list[Path]:
    """Every file the paths stand for (a missing path is a DataError)."""
    files: list[Path] = []
    for path in paths:
        path = path.expanduser()
        if not path.exists():
            raise DataError(
                "data path does not exist",
                where=str(path),
                hint="check the path (relative paths start at the current directory)",
            )
        files.extend(data_files(path))
    return files


@dataclass
class Converted:
    """Every source read and converted, not yet validated: what ``validate_sources`` checks.

    ``examples`` are in file order, source after source; ``problems`` are the records that could
    not be converted."""

    examples: list[Example]
    source_of: list[int]
    problems: list[Problem]
    names: list[str]
    formats: list[str]
    report: DataReport
    files: list[Path] = field(default_factory=list)


def load_sources(
    paths: Sequence[Path],
    *,
    fmt: Format | None,
    allowed: Collection[str],
    stage: str,
    strict: bool,
    max_samples: int | None = None,
    weights: Sequence[float] | None = None,
    task_system_prompts: Mapping[str, str] | None = None,
    dedupe: str = "exact",
) -> Loaded:
    """Read, detect, convert and validate every source (``convert_sources`` then ``validate_sources``).

    Args:
        paths: one path per source.
        fmt: the format of every source; detected per source when None.
        allowed: formats this training stage can use.
        stage: the stage name, for the error message.
        strict: raise on the first bad sample instead of dropping it.
        max_samples: read at most this many records in all (the first ones of each source),
            to try a run quickly on a big dataset; several sources share it by their mixture
            weights, or by their sizes without weights (``sample_limits``).
        weights: the mixture weights (one per path), for sharing ``max_samples``.
        task_system_prompts: system prompt per ``task`` field value.
        dedupe: ``data.dedupe``; duplicates are looked for within each source, before mixing.

    A file inside a directory whose detected format this stage cannot read (``notes.txt``
    beside JSONL files) is skipped and named in the report; a file given by itself, or a
    directory where nothing fits, is an error.
    """
    converted = convert_sources(paths, fmt=fmt, allowed=allowed, stage=stage, max_samples=max_samples,
                                weights=weights, task_system_prompts=task_system_prompts)
    return validate_sources(converted, strict=strict, dedupe=dedupe)


def convert_sources(
    paths: Sequence[Path],
    *,
    fmt: Format | None,
    allowed: Collection[str],
    stage: str,
    max_samples: int | None = None,
    weights: Sequence[float] | None = None,
    task_system_prompts: Mapping[str, str] | None = None,
) -> Converted:
    """Read, detect and convert every source (``load_sources`` has the arguments)."""
    files: list[Path] = []
    groups: list[list[tuple[str, str, list]]] = []  # per source: (file, format, records)
    skipped: list[str] = []
    for path in paths:
        files.extend(source_files([path]))
        own: list[tuple[str, str, list]] = []
        refused: tuple[str, str] | None = None
        for file, group in itertools.groupby(read_records(path), key=lambda r: r.source):
            part = list(group)
            found = fmt or detect_format(part)  # per file: a directory may hold several formats
            if found not in allowed:
                refused = refused or (file, found)
                if fmt is None and path.is_dir():
                    skipped.append(f"{file} ({found} data)")
                    continue
                _refuse(file, found, stage, allowed)
            own.append((file, found, part))
        if not own and refused is not None:
            _refuse(*refused, stage, allowed)
        groups.append(own)
    limits = sample_limits([sum(len(part) for _, _, part in own) for own in groups], max_samples, weights)
    examples: list[Example] = []
    source_of: list[int] = []
    problems: list[Problem] = []
    formats: list[str] = []
    ignored = IgnoredFields()
    read = 0
    for index, (own, limit) in enumerate(zip(groups, limits)):
        for _, found, part in own:
            part = part[: max(0, limit)]
            limit -= len(part)
            if not part:
                continue
            read += len(part)
            formats.append(found)
            converted, bad = to_examples(part, found, task_system_prompts=task_system_prompts, ignored=ignored)
            examples.extend(converted)
            source_of.extend([index] * len(converted))
            problems.extend(bad)
    names = [str(p) for p in paths]
    report = DataReport(format="+".join(dict.fromkeys(formats)), files=names, read=read)
    if skipped:
        report.notes.append(f"skipped {len(skipped)} file(s) stage {stage} does not read: {', '.join(skipped)}")
    unused = ignored.note()
    if unused is not None:
        report.notes.append(unused)
    return Converted(examples, source_of, problems, names, formats, report, files)


def validate_sources(converted: Converted, *, strict: bool, dedupe: str = "exact") -> Loaded:
    """Validation of converted sources (``framework.data.validate``: each sample's facts, then
    ``judge``), remembering each kept example's source and, in ``Loaded.positions``, its place
    among the converted examples."""
    facts = [sample_facts(ex) for ex in converted.examples]
    positions = judge(facts, strict=strict, problems=converted.problems, report=converted.report, dedupe=dedupe,
                      sources=converted.source_of)
    return Loaded([converted.examples[i] for i in positions], [converted.source_of[i] for i in positions],
                  converted.names, converted.formats, converted.report, converted.files, positions)


def _refuse(file: str, found: str, stage: str, allowed: Collection[str]) -> None:
    raise DataError(
        f"{found} data cannot be used for stage {stage}",
        where=file,
        hint=f"stage {stage} reads {', '.join(sorted(allowed))} data; pick the stage that fits the data",
    )


def sample_limits(sizes: Sequence[int], total: int | None, weights: Sequence[float] | None = None) -> list[int]:
    """How many records of each source to read so that all of them together are at most ``total``.

    The shares follow the mixture weights, or the sources' sizes without weights (the same
    proportions as reading everything); what a small source cannot fill goes to the others.
    The result never exceeds a source's size and sums to ``min(total, sum(sizes))``.
    """
    sizes = [int(n) for n in sizes]
    if total is None or sum(sizes) <= total:
        return sizes
    share = [float(w) for w in weights] if weights is not None else [float(n) for n in sizes]
    limits = [0] * len(sizes)
    left = total
    open_ = [i for i, n in enumerate(sizes) if n > 0]
    while left > 0 and open_:
        whole = sum(share[i] for i in open_) or float(len(open_))
        exact = {i: left * (share[i] / whole if whole else 1 / len(open_)) for i in open_}
        give = {i: int(exact[i]) for i in open_}
        spare = left - sum(give.values())
        for i in sorted(open_, key=lambda i: (-(exact[i] - give[i]), i))[:spare]:
            give[i] += 1
        for i in open_:
            take = min(give[i], sizes[i] - limits[i])
            limits[i] += take
            left -= take
        open_ = [i for i in open_ if limits[i] < sizes[i]]
    return limits


def sample_texts(examples: Sequence[Example], limit: int = 2000) -> list[str]:
    """Up to ``limit`` message texts for the family's ``check_data`` hook.

    A reply's reasoning is shown in the data's common ``<think>...</think>`` form in front of
    the reply, so a check about thinking data sees it.
    """
    texts: list[str] = []
    for ex in examples:
        if ex.text is not None:
            texts.append(ex.text)
        else:
            texts.extend(
                f"{THINK_OPEN}\n{m['reasoning_content']}\n{THINK_CLOSE}\n\n{m['content']}"
                if "reasoning_content" in m
                else m["content"]
                for m in ex.messages
            )
        if len(texts) >= limit:
            break
    return texts[:limit]
