"""The oracle files are the bytes SOURCES.md records: a changed or missing copy fails here, not silently."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path


def test_every_oracle_matches_its_recorded_sha256(oracles: Path) -> None:
    recorded = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|", (oracles / "SOURCES.md").read_text(),
                               re.MULTILINE))
    present = {p.relative_to(oracles).as_posix() for p in oracles.rglob("*") if p.is_file() and p.name != "SOURCES.md"}
    assert present == set(recorded), f"files without a SOURCES.md row or rows without a file: {present ^ set(recorded)}"
    for name, digest in recorded.items():
        assert hashlib.sha256((oracles / name).read_bytes()).hexdigest() == digest, name
