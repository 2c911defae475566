"""The oracle files are the bytes SOURCES.md describes: every copy listed, every hash right."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ORACLES = Path(__file__).resolve().parent / "oracles"


def listed() -> dict[str, str]:
    rows = re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", (ORACLES / "SOURCES.md").read_text(), re.M)
    return dict(rows)


def test_every_oracle_file_is_listed_with_its_sha256():
    files = {str(p.relative_to(ORACLES)) for p in ORACLES.rglob("*") if p.is_file() and p.name != "SOURCES.md"}
    table = listed()
    assert files == set(table)
    for name, digest in table.items():
        assert hashlib.sha256((ORACLES / name).read_bytes()).hexdigest() == digest, name


def test_tests_read_no_file_outside_the_repository():
    here = Path(__file__).resolve().parent
    for path in here.glob("*.py"):
        if path.name == Path(__file__).name:
            continue
        text = path.read_text(encoding="utf-8")
        assert "FRAMEWORK_SHARED_DIR" not in text and '"shared"' not in text, path.name
