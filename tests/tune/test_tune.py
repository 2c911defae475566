"""framework tune: Optuna over a run YAML's search section, on a tiny model on the CPU.

The planted better learning rate (3e-2 against 1e-4 and 1e-5 for a LoRA on a random tiny
model, three epochs) must win; a tune killed with SIGKILL during its second trial must
resume without repeating the finished first trial; trials the planner says would not fit
``--gpu`` are skipped before they load anything; bad tune files are one line, exit 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna  # the tune extra, installed for tests by framework[test]
import pytest

from framework.cli import main


PLANTED_LR = 3e-2
GRID = [1e-4, PLANTED_LR, 1e-5]


def _tune_file(tmp: Path, model: Path, data: Path, search: str, *, epochs: int = 3, extra: str = "") -> Path:
    path = tmp / "tune.yaml"
    path.write_text(
        f"model: {{name_or_path: {model}}}\n"
        f"data: {{paths: [{data}], val_size: 0.25, cutoff_len: 64}}\n"
        f"training: {{epochs: {epochs}, logging_steps: 1, eval_steps: 2, save_steps: 100, report_to: []}}\n"
        "lora: {r: 8, alpha: 32}\n"
        f"search:\n{search}"
        f"tune:\n  sampler: grid\n{extra}", encoding="utf-8")
    return path


def _study(out: Path) -> "optuna.Study":
    return optuna.load_study(study_name="framework-tune", storage=f"sqlite:///{out / 'study.db'}")


@pytest.mark.slow
def test_finds_the_planted_learning_rate_and_resumes_after_sigkill(
        tiny_model_dir: Path, alpaca_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _tune_file(tmp_path, tiny_model_dir, alpaca_file, f"  training.learning_rate: {GRID}\n")
    out = tmp_path / "study"
    cmd = [sys.executable, "-m", "framework", "tune", str(config), "--trials", "3", "--output", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    second = out / "trials" / "trial-001.yaml"  # written when trial 0 has finished and trial 1 starts
    deadline = time.monotonic() + 300
    while not second.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert second.exists(), proc.stderr.read().decode() if proc.poll() is not None else "timed out"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first_metrics = out / "trial-000" / "metrics.json"
    stamp = first_metrics.stat().st_mtime_ns
    states = {t.number: t.state.name for t in _study(out).get_trials()}
    assert states[0] == "COMPLETE" and states[1] == "RUNNING"

    capsys.readouterr()
    assert main(["tune", str(config), "--trials", "3", "--output", str(out)]) == 0
    said = capsys.readouterr().out
    assert "1 finished trial(s) kept, 2 to run" in said

    trials = _study(out).get_trials()
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == 3
    assert sorted(t.params["training.learning_rate"] for t in done) == sorted(GRID)  # each value once
    killed = next(t for t in trials if t.number == 1)
    assert killed.state.name == "FAIL"
    retried = [t for t in done if t.system_attrs.get("failed_trial") == 1]
    assert len(retried) == 1 and retried[0].params == killed.params
    assert first_metrics.stat().st_mtime_ns == stamp  # trial 0 was not run again
    assert not (out / "trial-003").exists() or (out / "trial-003" / "metrics.json").exists()

    import yaml

    best = yaml.safe_load((out / "best.yaml").read_text(encoding="utf-8"))
    assert best["training"]["learning_rate"] == PLANTED_LR
    assert "output" not in best and "search" not in best  # ready for framework run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    values = [r["value"] for r in results["trials"] if r["state"] == "complete"]
    assert values == sorted(values) and results["trials"][0]["params"]["training.learning_rate"] == PLANTED_LR
    for png in ("optimization_history.png", "param_importances.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # each trial is a normal run directory with its own settings
    run = json.loads((Path(done[0].user_attrs["run_dir"]) / "training_config.json").read_text(encoding="utf-8"))
    assert run["config"]["training.learning_rate"]["value"] == done[0].params["training.learning_rate"]


@pytest.mark.slow
def test_trials_over_the_memory_budget_are_skipped_before_they_start(
        tiny_model_dir: Path, alpaca_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the planner puts the tiny model at ~0.51 GiB with micro batch 1 and ~0.62 GiB with 64 at 512 tokens
    config = _tune_file(tmp_path, tiny_model_dir, alpaca_file, "  training.micro_batch_size: [64, 1]\n", epochs=1)
    out = tmp_path / "study"
    code = main(["tune", str(config), "--trials", "2", "--output", str(out), "--gpu", "600MB",
                 "--set", "data.cutoff_len=512"])
    assert code == 0
    said = capsys.readouterr().out
    trials = {t.params["training.micro_batch_size"]: t for t in _study(out).get_trials()}
    assert "skipped" in trials[64].user_attrs and trials[64].state.name == "PRUNED"
    assert "GiB estimated peak" in trials[64].user_attrs["skipped"]
    assert not (Path(trials[64].user_attrs["run_dir"]) / "metrics.json").exists()  # never trained
    assert trials[1].state.name == "COMPLETE"
    assert "skipped before it started" in said and "skipped" in said.split("best trial")[0]


@pytest.mark.parametrize("search, expected", [
    ("  training.lerning_rate: [1e-4, 1e-3]\n", "search.training.lerning_rate is not a run setting"),
    ("  training.learning_rate: {low: 1e-3, high: 1e-4}\n", "needs low < high"),
    ("  training.learning_rate: {low: 0, high: 1e-3, log: true}\n", "low must be above 0"),
    ("  training.learning_rate: {low: 1e-5, high: 1e-3}\n", "sampler=grid needs a list of choices"),
])
def test_a_bad_search_space_is_one_line_with_file_and_line(
        search: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _tune_file(tmp_path, tmp_path, tmp_path / "x.jsonl", search)
    code = main(["tune", str(config), "--trials", "2", "--output", str(tmp_path / "study")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert expected in err and f"{config}:6" in err
    assert not (tmp_path / "study").exists()  # refused before the study is created


def test_an_eval_metric_without_a_validation_split_is_refused_before_training(
        tiny_model_dir: Path, alpaca_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _tune_file(tmp_path, tiny_model_dir, alpaca_file, "  lora.r: [4, 8]\n")
    out = tmp_path / "study"
    assert main(["tune", str(config), "--trials", "2", "--output", str(out), "--set", "data.val_size=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "data.val_size is 0" in err and "trial-000.yaml" in err
    assert not (out / "trial-000" / "metrics.json").exists()


def test_no_trial_count_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _tune_file(tmp_path, tmp_path, tmp_path / "x.jsonl", "  lora.r: [4, 8]\n")
    assert main(["tune", str(config)]) == 2
    assert "--trials" in capsys.readouterr().err


def test_missing_optuna_names_the_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    config = _tune_file(tmp_path, tmp_path, tmp_path / "x.jsonl", "  lora.r: [4, 8]\n")
    assert main(["tune", str(config), "--trials", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'framework[tune]'" in err
