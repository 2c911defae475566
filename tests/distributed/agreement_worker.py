"""Run under torchrun by test_process_group.py: the process-group helpers on real gloo processes.

Each process records, in order, when it ran the ``main_process_first`` block, then checks the
plugin agreement with a record that differs on the last rank when ``DISAGREE=1``. It writes
what happened to ``OUT/rank-N.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from framework import distributed
from framework.errors import SelectionError

out = Path(sys.argv[1])
distributed.init_process_group()
rank = distributed.rank()
with distributed.main_process_first():
    entered = time.monotonic()
    if rank == 0:
        time.sleep(1.0)  # a slow first process: the others must still wait for it
        (out / "cache").write_text("filled by rank 0", encoding="utf-8")
    seen = (out / "cache").read_text(encoding="utf-8") if (out / "cache").exists() else None
    left = time.monotonic()
record = ["generic", "0.1.0", "base", "ddp"]
if os.environ.get("DISAGREE") == "1" and rank == distributed.world_size() - 1:
    record[1] = "0.2.0"
error = None
try:
    distributed.check_agreement(record)
except SelectionError as exc:
    error = exc.line()
result = {"rank": rank, "entered": entered, "left": left, "seen": seen, "error": error,
          "main": distributed.is_main_process()}
(out / f"rank-{rank}.json").write_text(json.dumps(result), encoding="utf-8")
