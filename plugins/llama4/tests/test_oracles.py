"""The oracle files are the bytes SOURCES.md records, and the tests read nothing else."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ORACLES = Path(__file__).resolve().parent / "oracles"


def test_every_oracle_is_listed_with_its_sha256() -> None:
    rows = dict(re.findall(r"^\| `([^`]+)` \| \d+ \| `([0-9a-f]{64})` \|$", (ORACLES / "SOURCES.md").read_text(),
                           re.MULTILINE))
    files = {str(p.relative_to(ORACLES)) for p in ORACLES.glob("*/*") if p.is_file()}
    assert files and files == set(rows)
    for name, digest in rows.items():
        assert hashlib.sha256((ORACLES / name).read_bytes()).hexdigest() == digest, name


def test_tests_read_no_file_outside_the_repository() -> None:
    outside = re.compile(r"""["']shared["']|\.\./shared|FRAMEWORK_SHARED_DIR|/work/""")
    for test_file in Path(__file__).resolve().parent.glob("*.py"):
        if test_file.name != "test_oracles.py":
            assert not outside.search(test_file.read_text(encoding="utf-8")), test_file.name
