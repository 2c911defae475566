"""Reading raw samples from files, each remembered with the file and line it came from.

Every later message about a sample names ``file:line``, so the reader keeps that position for
each record: the JSONL line, the line of a JSON array element's opening brace, the CSV line
where the row starts, the Parquet row number, the text line. A file the reader cannot parse
stops the run with one line naming file, line and column (and for bad bytes the byte offset):
guessing around a broken file silently loses or corrupts samples.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.errors import DataError

#: File types read, by suffix (lower case).
SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt")

_WHITESPACE = " \t\n\r"
_decoder = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class Record:
    """One raw sample and where it came from.

    ``line`` is 1-based: the JSONL line, the line where a JSON array element starts, the
    line where a CSV row starts, the Parquet row number or the text line.
    """

    data: dict[str, Any]
    source: str
    line: int


def read_records(path: str | Path) -> list[Record]:
    """Read every record of a file, or of every supported file under a directory.

    A directory is searched recursively in sorted order; hidden files and other suffixes are
    skipped. Raises ``DataError`` (one line: file, line, column, what to do) for a missing
    path, an empty file, malformed JSON or CSV, bytes that are not UTF-8 and a directory with
    nothing readable.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(
            "data path does not exist",
            where=str(root),
            hint="check the path (relative paths start at the current directory)",
        )
    if root.is_dir():
        files = data_files(root)
        records: list[Record] = []
        for file in files:
            records.extend(_read_file(file))
        return records
    return _read_file(root)


def data_files(root: Path) -> list[Path]:
    """The readable files a path stands for: the file itself, or those under a directory."""
    if not root.is_dir():
        return [root]
    found = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    usable = [p for p in found if p.suffix.lower() in SUFFIXES]
    if not usable:
        seen = ", ".join(p.name for p in found[:5]) or "nothing"
        raise DataError(
            f"no data files in the directory (found: {seen})",
            where=str(root),
            hint=f"put {'/'.join(SUFFIXES)} files in it or point --data at a file",
        )
    return usable


def _read_file(file: Path) -> list[Record]:
    suffix = file.suffix.lower()
    source = str(file)
    if suffix == ".parquet":
        return _read_parquet(file, source)
    if suffix not in SUFFIXES:
        raise DataError(
            f"unsupported data file type '{suffix or file.name}'",
            where=source,
            hint=f"use one of {', '.join(SUFFIXES)}",
        )
    text = file_text(file)
    if suffix == ".jsonl":
        records = _read_jsonl(text, source)
    elif suffix == ".json":
        records = _read_json(text, source)
    elif suffix == ".csv":
        records = _read_csv(text, source)
    else:
        records = [
            Record({"text": line.rstrip("\r")}, source, i)
            for i, line in enumerate(text.split("\n"), start=1)
            if line.strip()
        ]
    if not records:
        raise DataError("the data file holds no records", where=source, hint="fill it with samples or remove it")
    return records


def file_text(file: Path) -> str:
    """A data file's text, or a DataError when it is not UTF-8 or holds nothing."""
    source = str(file)
    text = _decode(file.read_bytes(), source)
    if not text.strip():
        raise DataError("the data file is empty", where=source, hint="fill it with samples or remove it")
    return text


def _decode(raw: bytes, source: str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped), or a DataError at the first bad byte."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(
            "the file is UTF-16, not UTF-8", where=source, hint="re-save it as UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"bytes that are not UTF-8 at byte offset {exc.start} (0x{raw[exc.start]:02x})",
            where=f"{source}:{line}:{col}",
            hint="re-encode the file as UTF-8 (e.g. `iconv -f GBK -t UTF-8`)",
        ) from None


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _json_error(exc: json.JSONDecodeError, source: str, line_offset: int = 0) -> DataError:
    return DataError(
        f"invalid JSON: {exc.msg}",
        where=f"{source}:{exc.lineno + line_offset}:{exc.colno}",
        hint="fix the JSON at that position (a missing comma, quote or bracket)",
    )


def _as_object(value: Any, source: str, line: int, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError(
            f"{what} is a JSON {type(value).__name__}, not an object",
            where=f"{source}:{line}",
            hint='each sample must be an object such as {"instruction": ..., "output": ...}',
        )
    return value


def _read_jsonl(text: str, source: str) -> list[Record]:
    # split on "\n" only: str.splitlines would also split on U+2028, legal inside JSON strings
    return jsonl_records(text.split("\n"), source)


def jsonl_records(lines: Sequence[str], source: str, first_line: int = 1) -> list[Record]:
    """The records of JSON Lines (``first_line``: the file line of ``lines[0]``); blank lines are
    skipped, a line that is not a JSON object is a ``DataError`` naming its file line. A share of
    a file's lines read apart gives the records the whole file gives there."""
    records = []
    loads = _decoder.decode
    for number, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        try:
            value = loads(line)
        except json.JSONDecodeError as exc:
            raise _json_error(exc, source, number - 1) from None
        records.append(Record(_as_object(value, source, number, "the line"), source, number))
    return records


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _read_json(text: str, source: str) -> list[Record]:
    """A JSON array of objects (each element keeps its own line), one object, or JSON Lines."""
    pos = _skip_ws(text, 0)
    if text[pos] != "[":
        try:
            first, end = _decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise _json_error(exc, source) from None
        if _skip_ws(text, end) < len(text) and isinstance(first, dict):
            return _read_jsonl(text, source)  # JSON Lines saved with a .json suffix
        if _skip_ws(text, end) < len(text):
            line, col = _position(text, _skip_ws(text, end))
            raise DataError(
                "extra data after the JSON value",
                where=f"{source}:{line}:{col}",
                hint="a .json file holds one array of samples",
            )
        return [Record(_as_object(first, source, 1, "the file"), source, _position(text, pos)[0])]
    records = []
    pos = _skip_ws(text, pos + 1)
    line = 1 + text.count("\n", 0, pos)
    counted = pos
    if pos < len(text) and text[pos] == "]":
        return []
    while True:
        try:
            value, end = _decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise _json_error(exc, source) from None
        line += text.count("\n", counted, pos)
        counted = pos
        records.append(Record(_as_object(value, source, line, "the array element"), source, line))
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            tail = _skip_ws(text, pos + 1)
            if tail < len(text):
                at, col = _position(text, tail)
                raise DataError(
                    "extra data after the JSON array",
                    where=f"{source}:{at}:{col}",
                    hint="a .json file holds one array of samples",
                )
            return records
        at, col = _position(text, min(pos, len(text)))
        what = "the array is not closed" if pos >= len(text) else "expected ',' or ']' after an array element"
        raise DataError(
            f"invalid JSON: {what}",
            where=f"{source}:{at}:{col}",
            hint="fix the JSON at that position (a missing comma, quote or bracket)",
        )


def _read_csv(text: str, source: str) -> list[Record]:
    """A header row, then one sample per row; quoted fields may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        names = [name.strip() for name in header]
        if not any(names) or len(set(names)) != len(names) or not all(names):
            raise DataError(
                "the CSV header row has empty or repeated column names",
                where=f"{source}:1",
                hint="the first row must name each column once, e.g. instruction,input,output",
            )
        records = []
        start = reader.line_num + 1
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                start = reader.line_num + 1
                continue
            if len(row) > len(names):
                raise DataError(
                    f"the row has {len(row)} fields but the header names {len(names)} columns",
                    where=f"{source}:{start}",
                    hint="quote fields that contain commas or line breaks",
                )
            records.append(Record(dict(zip(names, row)), source, start))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(
            f"invalid CSV: {exc}", where=f"{source}:{reader.line_num}", hint="check quoting around that line"
        ) from None
    return records


def _read_parquet(file: Path, source: str) -> list[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(file).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"not a readable Parquet file ({first})",
            where=source,
            hint="re-export the file as Parquet, JSON Lines or CSV",
        ) from None
    if not rows:
        raise DataError("the data file holds no records", where=source, hint="fill it with samples or remove it")
    return [Record(row, source, i) for i, row in enumerate(rows, start=1)]
