"""From the paths a user gives to validated examples, remembering which path each came from.

Each path (a file or a directory) is one *source*: it has one format and, in a mixture, one
weight. Sources are validated together so a sample repeated across two files is found too.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from framework.data.formats import Example, Format, detect_format, to_examples
from framework.data.problems import Problem
from framework.data.records import data_files, read_records
from framework.data.validate import DataReport, validate
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


def load_sources(
    paths: Sequence[Path],
    *,
    fmt: Format | None,
    allowed: Collection[str],
    stage: str,
    strict: bool,
    max_samples: int | None = None,
    task_system_prompts: Mapping[str, str] | None = None,
) -> Loaded:
    """Read, detect, convert and validate every source.

    Args:
        paths: one path per source.
        fmt: the format of every source; detected per source when None.
        allowed: formats this training stage can use.
        stage: the stage name, for the error message.
        strict: raise on the first bad sample instead of dropping it.
        max_samples: read at most this many records of each source (the first ones), to try
            a run quickly on a big dataset.
        task_system_prompts: system prompt per ``task`` field value.
    """
    examples: list[Example] = []
    source_of: list[int] = []
    problems: list[Problem] = []
    formats: list[str] = []
    files: list[Path] = []
    read = 0
    for index, path in enumerate(paths):
        files.extend(source_files([path]))
        records = read_records(path)
        if max_samples is not None:
            records = records[:max_samples]
        read += len(records)
        for file, group in itertools.groupby(records, key=lambda r: r.source):
            part = list(group)
            found = fmt or detect_format(part)  # per file: a directory may hold several formats
            if found not in allowed:
                raise DataError(
                    f"{found} data cannot be used for stage {stage}",
                    where=file,
                    hint=f"stage {stage} reads {', '.join(sorted(allowed))} data; pick the stage that fits the data",
                )
            formats.append(found)
            converted, bad = to_examples(part, found, task_system_prompts=task_system_prompts)
            examples.extend(converted)
            source_of.extend([index] * len(converted))
            problems.extend(bad)
    names = [str(p) for p in paths]
    report = DataReport(format="+".join(dict.fromkeys(formats)), files=names, read=read)
    origin = {id(ex): src for ex, src in zip(examples, source_of)}
    kept, report = validate(examples, strict=strict, problems=problems, report=report)
    return Loaded(kept, [origin[id(ex)] for ex in kept], names, formats, report, files)


def sample_texts(examples: Sequence[Example], limit: int = 2000) -> list[str]:
    """Up to ``limit`` message texts for the family's ``check_data`` hook."""
    texts: list[str] = []
    for ex in examples:
        if ex.text is not None:
            texts.append(ex.text)
        else:
            texts.extend(m["content"] for m in ex.messages)
        if len(texts) >= limit:
            break
    return texts[:limit]
