"""The oracle files are the bytes their SOURCES.md names: a changed copy cannot pass unnoticed."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ORACLES = Path(__file__).resolve().parent / "oracles"
ROW = re.compile(r"^\| `(?P<path>[^`]+)` \| `(?P<sha>[0-9a-f]{64})` \|", re.MULTILINE)


def test_every_oracle_file_has_its_recorded_sha256() -> None:
    rows = {m["path"]: m["sha"] for m in ROW.finditer((ORACLES / "SOURCES.md").read_text(encoding="utf-8"))}
    files = {p.relative_to(ORACLES).as_posix() for p in ORACLES.rglob("*") if p.is_file() and p.name != "SOURCES.md"}
    assert files == set(rows), "every oracle file is listed in SOURCES.md, and every listed file exists"
    for path, sha in rows.items():
        assert hashlib.sha256((ORACLES / path).read_bytes()).hexdigest() == sha, path


def test_tests_read_no_file_outside_the_repository() -> None:
    forbidden = ("FRAMEWORK_SHARED_DIR", '"shared"')
    for test in Path(__file__).resolve().parent.glob("*.py"):
        if test.name == Path(__file__).name:
            continue
        text = test.read_text(encoding="utf-8")
        assert not any(word in text for word in forbidden), test.name
