"""``progress.jsonl``: what a run has done so far, readable by anyone watching its output directory.

The terminal bar is for the person who started the run; a second process (``framework ui``,
a script, a notebook) cannot read a terminal. So the progress bar also appends one JSON object
per event to ``OUTPUT/progress.jsonl``: ``begin`` (step, max_steps, pid), ``log`` (step, loss,
lr, tokens/s, ETA), ``eval`` (validation loss) and ``end``. Appending one short line at a time
keeps a reader safe: at worst it sees the last line half written, and skips it.

A resumed or overwritten run appends to the same file; a ``begin`` at step 0 starts a new
history, so a reader shows the run that is there now.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROGRESS_FILE = "progress.jsonl"


def append(output_dir: str | os.PathLike[str], event: str, **values: Any) -> None:
    """Add one event line; never raises (a full disk must not stop training over a progress line)."""
    record = {"event": event, "time": round(time.time(), 3), **values}
    try:
        path = Path(output_dir) / PROGRESS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=_plain) + "\n")
    except OSError:
        pass


def _plain(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else str(number)


@dataclass
class Progress:
    """The latest state of a run as its progress file tells it."""

    started: bool = False
    ended: bool = False
    step: int = 0
    max_steps: int = 0
    loss: float | None = None
    lr: float | None = None
    tokens_per_second: float | None = None
    eta_s: float | None = None
    eval_loss: float | None = None
    pid: int | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)
    updated: float | None = None


def read(output_dir: str | os.PathLike[str]) -> Progress:
    """Fold the events of the current history (since the last fresh ``begin``) into one ``Progress``."""
    path = Path(output_dir) / PROGRESS_FILE
    records: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return Progress()
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # a line being written right now
            continue
        if isinstance(record, dict):
            if record.get("event") == "begin" and not record.get("step"):
                records = []
            records.append(record)
    progress = Progress()
    for record in records:
        _fold(progress, record)
    return progress


def _fold(progress: Progress, record: dict[str, Any]) -> None:
    event = record.get("event")
    step = int(record.get("step") or 0)
    progress.updated = record.get("time", progress.updated)
    progress.max_steps = int(record.get("max_steps") or progress.max_steps)
    progress.step = max(progress.step, step) if event != "begin" else step
    if event == "begin":
        progress.started, progress.ended = True, False
        progress.pid = record.get("pid")
        # a resumed run starts again at its checkpoint: later points replace the ones it redoes
        progress.losses = [(s, v) for s, v in progress.losses if s <= step]
        progress.eval_losses = [(s, v) for s, v in progress.eval_losses if s <= step]
    elif event == "log" and record.get("loss") is not None:
        progress.loss = float(record["loss"])
        progress.lr = record.get("lr")
        progress.tokens_per_second = record.get("tokens_per_second")
        progress.eta_s = record.get("eta_s")
        progress.losses.append((step, progress.loss))
    elif event == "eval" and record.get("eval_loss") is not None:
        progress.eval_loss = float(record["eval_loss"])
        progress.eval_losses.append((step, progress.eval_loss))
    elif event == "end":
        progress.ended = True
        progress.eta_s = 0.0
