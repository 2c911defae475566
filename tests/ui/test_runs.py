"""Runs from the UI: real ``framework run`` subprocesses, stopped like Ctrl-C, resumed, then used.

Everything is read back from the output directory (status, progress, log), as the UI does.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from framework import progress_file
from framework.checkpointing import SETTINGS_FILE
from framework.errors import ConfigError
from framework.ui import handlers
from framework.ui.form import Form
from framework.ui.runs import RunManager, _arguments_from_record, run_status


def _train_file(directory: Path) -> Path:
    rows = [{"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is."} for i in range(24)]
    path = directory / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _wait(predicate, timeout: float, what: str, directory: Path) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen:\n" + handlers.run_view(str(directory)).log)


@pytest.fixture()
def manager(tmp_path: Path) -> Iterator[RunManager]:
    """A run manager whose runs are ended if the test fails halfway (they outlive a UI on purpose)."""
    runs = RunManager(tmp_path / "runs")
    yield runs
    for child in runs.children.values():
        if child.poll() is None:
            child.kill()
            child.wait()


def test_start_stop_resume_then_chat_eval_merge_export(tiny_model_dir: Path, tmp_path: Path,
                                                       manager: RunManager) -> None:
    data = _train_file(tmp_path)
    form = Form(model=str(tiny_model_dir), data=[str(data)], method="lora",
                common={"training.max_steps": "400", "data.cutoff_len": "128", "training.micro_batch_size": "2"},
                advanced="training.logging_steps=1\ntraining.save_steps=1000\ndata.val_size=0\n"
                         "training.learning_rate=1e-2\ntraining.report_to=[]")
    directory_text, error = handlers.start_run(manager, _host(), form)
    assert error == "", error
    directory = Path(directory_text)
    assert directory.parent == tmp_path / "runs" and directory.name.startswith("ui-")
    _wait(lambda: progress_file.read(directory).step >= 2, 180, "two steps", directory)
    assert run_status(directory).status == "running"
    view = handlers.run_view(directory_text)
    assert view.progress.startswith("**running**") and "tokens/s" in view.progress and "ETA" in view.progress

    message = handlers.stop_run(manager, directory_text)  # SIGINT, as Ctrl-C
    assert message.startswith("stop requested")
    assert manager.wait(directory, timeout=120) == 130
    stopped = run_status(directory)
    assert stopped.status == "stopped (resumable)" and 2 <= stopped.step < 400
    assert "interrupt: saving a checkpoint" in handlers.run_view(directory_text).log
    assert handlers.stop_run(manager, directory_text).startswith("error: ")  # not running any more

    manager.resume(directory, ["training.max_steps=" + str(stopped.step + 2)])
    assert manager.wait(directory, timeout=180) == 0, handlers.run_view(directory_text).log
    done = handlers.run_view(directory_text)
    assert done.progress.startswith("**finished**") and f"step {stopped.step + 2}/{stopped.step + 2}" in done.progress
    assert "resuming at step" in done.log and done.error == ""
    train = [p for p in done.points if p["series"] == "train"]
    assert [p["step"] for p in train] == list(range(1, stopped.step + 3))  # one history across the resume
    assert handlers.run_rows(manager)[0][:2] == [str(directory.resolve()), "finished"]

    history, box, error = handlers.send_chat(directory_text, [], "Say number 3.")
    assert error == "" and box == "" and [m["role"] for m in history] == ["user", "assistant"]
    history, _, error = handlers.send_chat(directory_text, history, "And 4?")
    assert error == "" and len(history) == 4
    rows, error = handlers.evaluate(directory_text, str(data))
    assert error == "" and rows[0][0] == "perplexity" and rows[0][2] < rows[0][1]  # training lowered it
    assert handlers.merge(directory_text).startswith("merged model written to ")
    archive, error = handlers.export(directory_text)
    assert error == ""
    names = zipfile.ZipFile(archive).namelist()
    assert any(n.endswith("adapter_model.safetensors") for n in names) and not any("checkpoint-" in n for n in names)


def _host():  # noqa: ANN202
    from framework.plugins import make_plugin_host

    return make_plugin_host()


def test_a_bad_setting_is_refused_before_any_process_starts(tiny_model_dir: Path, tmp_path: Path) -> None:
    manager = RunManager(tmp_path / "runs")
    form = Form(model=str(tiny_model_dir), data=[str(_train_file(tmp_path))], advanced="training.epochs=-1")
    directory, error = handlers.start_run(manager, _host(), form)
    assert directory == "" and error.startswith("error: ") and "training.epochs" in error
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_nothing_selected_and_unfinished_runs_are_one_line(tmp_path: Path) -> None:
    assert handlers.stop_run(RunManager(tmp_path), None).startswith("error: no run selected")
    error = handlers.send_chat(None, [], "hi")[2]
    assert error.startswith("error: no run selected")
    _, _, error = handlers.send_chat(str(tmp_path), [], "hi")
    assert error.startswith("error: ") and "training_config.json is missing" in error
    _, error = handlers.resume_run(RunManager(tmp_path), str(tmp_path))
    assert "no checkpoint to resume from" in error


def test_a_run_started_from_the_cli_resumes_with_the_settings_its_user_gave(tmp_path: Path) -> None:
    checkpoint = tmp_path / "run" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    (checkpoint / SETTINGS_FILE).write_text(json.dumps({
        "model.name_or_path": {"value": "/models/m", "source": "cli"},
        "data.paths": {"value": ["a.jsonl"], "source": "file:run.yaml"},
        "training.learning_rate": {"value": 0.0002, "source": "plugin:llama3"},
        "output.dir": {"value": str(tmp_path / "run"), "source": "cli"},
        "output.resume": {"value": True, "source": "cli"},
    }))
    assert _arguments_from_record(tmp_path / "run") == [
        "--output", str(tmp_path / "run"), "--set", 'model.name_or_path="/models/m"', "--set", 'data.paths=["a.jsonl"]']
    with pytest.raises(ConfigError, match="settings are not known here"):
        _arguments_from_record(tmp_path)
