"""Multi-process tests take turns: two sets of gloo processes launched at once by two pytest
workers on a 2-core machine can starve each other's rendezvous into a timeout."""

from __future__ import annotations

import fcntl
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

LOCK = Path(tempfile.gettempdir()) / "framework-multiprocess-tests.lock"


@pytest.fixture(autouse=True, scope="module")
def _one_multiprocess_module_at_a_time() -> Iterator[None]:
    with LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
