"""progress.jsonl: the run's progress as a second process (framework ui, a script) reads it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

import torch

from framework import progress_file
from framework.progress import ProgressBar, TokenCounter


def _state(step: int, max_steps: int = 10) -> SimpleNamespace:
    return SimpleNamespace(global_step=step, max_steps=max_steps, is_world_process_zero=True)


def test_the_bar_writes_begin_log_eval_and_end_to_the_output_directory(tmp_path: Path) -> None:
    args = SimpleNamespace(output_dir=str(tmp_path))
    counter = TokenCounter()
    bar = ProgressBar(counter, lambda _: None, stream=io.StringIO())
    bar.on_train_begin(args, _state(0), None)
    for step, loss in ((1, 3.0), (2, 2.5)):
        counter.add({"input_ids": torch.ones(1, 100, dtype=torch.long)})
        bar.on_step_end(args, _state(step), None)
        bar.on_log(args, _state(step), None, logs={"loss": loss, "learning_rate": 1e-4})
    bar.on_log(args, _state(2), None, logs={"eval_loss": 2.75})
    bar.on_train_end(args, _state(2), None)
    events = [json.loads(line)["event"] for line in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert events == ["begin", "log", "log", "eval", "end"]
    seen = progress_file.read(tmp_path)
    assert seen.started and seen.ended and (seen.step, seen.max_steps) == (2, 10)
    assert seen.losses == [(1, 3.0), (2, 2.5)] and seen.eval_losses == [(2, 2.75)]
    assert seen.lr == 1e-4 and seen.tokens_per_second and seen.tokens_per_second > 0 and seen.eta_s == 0.0


def test_a_resume_replaces_redone_steps_and_a_fresh_run_starts_a_new_history(tmp_path: Path) -> None:
    for step, event, extra in ((0, "begin", {}), (1, "log", {"loss": 3.0}), (2, "log", {"loss": 2.0}),
                               (3, "log", {"loss": 1.5}), (2, "begin", {}), (3, "log", {"loss": 1.4})):
        progress_file.append(tmp_path, event, step=step, max_steps=4, **extra)
    seen = progress_file.read(tmp_path)
    assert seen.losses == [(1, 3.0), (2, 2.0), (3, 1.4)] and not seen.ended and seen.step == 3
    progress_file.append(tmp_path, "begin", step=0, max_steps=5)  # --overwrite: a new run
    with open(tmp_path / "progress.jsonl", "a") as handle:
        handle.write('{"event": "log", "step": 4, "lo')  # a line being written right now
    fresh = progress_file.read(tmp_path)
    assert fresh.losses == [] and fresh.max_steps == 5 and fresh.started


def test_no_file_reads_as_not_started(tmp_path: Path) -> None:
    seen = progress_file.read(tmp_path / "absent")
    assert not seen.started and seen.step == 0 and seen.losses == []
