"""Checkpoints: a killed run resumes to the weights of an uninterrupted one; saves are atomic.

The kill is real: ``python -m framework run`` in a child process, SIGKILL as soon as the
first checkpoint exists, then ``--resume``. The reference is the same command never
interrupted. transformers restores model, optimizer, scheduler, RNG and data position from the
checkpoint; the comparison of the final adapters shows that all of them came back.
"""

from __future__ import annotations

import errno
import json
import signal
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from safetensors.torch import load_file

from framework.checkpointing import complete_checkpoints, remove_leftovers, save_outputs_atomically
from framework.cli import main
from framework.outputs import last_checkpoint


def _adapter(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(directory / "adapter_model.safetensors")


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The error line (library progress bars may share stderr; the error is one line, the last)."""
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.endswith(errors[0]) and "Traceback" not in err, err
    return errors[0]


@pytest.fixture
def reference(reference_run: Path) -> Path:
    return reference_run


def test_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(
    reference: Path, run_argv: Callable[..., list[str]], spawn: Callable[..., Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    log = (tmp_path / "child.log").open("w")
    child = spawn(run_argv(out), stdout=log)
    deadline = time.monotonic() + 120
    while not complete_checkpoints(out) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL, (tmp_path / "child.log").read_text()
    killed_at = complete_checkpoints(out)[-1]
    assert not (out / "adapter_model.safetensors").exists() and not (out / "training_config.json").exists()

    assert main(run_argv(out) + ["--resume"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_step"] >= int(killed_at.name.split("-")[1]) and metrics["steps"] == 8
    expected, got = _adapter(reference), _adapter(out)
    assert expected.keys() == got.keys()
    worst = max(float((expected[k] - got[k]).abs().max()) for k in expected)
    assert worst < 1e-5, f"resumed adapter differs from the uninterrupted one by {worst}"
    reference_losses = dict(json.loads((reference / "metrics.json").read_text())["train_history"])
    for step, loss in metrics["train_history"]:
        assert loss == pytest.approx(reference_losses[step], abs=1e-4)


def test_every_checkpoint_is_complete_and_nothing_staged_is_left(reference: Path) -> None:
    # save_total_limit=10 keeps all four (rotation with the best kept: test_progress's early-stopping test)
    assert [p.name for p in complete_checkpoints(reference)] == ["checkpoint-2", "checkpoint-4", "checkpoint-6", "checkpoint-8"]
    state = json.loads((reference / "checkpoint-8" / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    for checkpoint in complete_checkpoints(reference):
        marker = (checkpoint / "trainer_state.json").stat().st_mtime_ns
        assert all(p.stat().st_mtime_ns <= marker for p in checkpoint.iterdir()), "trainer_state.json is written last"
        for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
            assert (checkpoint / name).is_file(), name
    assert not any(p.name.startswith((".tmp-", ".old-")) for p in reference.iterdir())


def test_resume_without_a_checkpoint_is_one_line_exit_2(
    run_argv: Callable[..., list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "checkpoint-4").mkdir(parents=True)  # a directory without trainer_state.json is no checkpoint
    (out / ".tmp-checkpoint-6").mkdir()
    assert main(run_argv(out) + ["--resume"]) == 2
    assert "holds no complete checkpoint" in _one_error_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == [".tmp-checkpoint-6", "checkpoint-4"]


def _fail_on_call(n: int, real: Callable[..., Any]) -> Callable[..., Any]:
    """A save_file that writes half a file on its n-th call and then fails like a full disk."""
    calls = {"n": 0}

    def save_file(tensors: dict[str, Any], filename: str, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            Path(filename).write_bytes(b"\x00" * 64)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, filename, *args, **kwargs)

    return save_file


def test_full_disk_during_a_checkpoint_keeps_the_previous_one(
    run_argv: Callable[..., list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import peft.peft_model

    out = tmp_path / "out"
    monkeypatch.setattr(peft.peft_model, "safe_save_file", _fail_on_call(2, peft.peft_model.safe_save_file))
    assert main(run_argv(out, steps=6)) == 2
    err = _one_error_line(capsys)
    assert "writing checkpoint-4 failed (the disk is full); checkpoint-2 is intact" in err
    assert "--resume" in err
    # no half checkpoint, no staging (the progress log of the run itself stays)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-2", "progress.jsonl"]
    assert last_checkpoint(out) == out / "checkpoint-2"
    assert _adapter(out / "checkpoint-2")  # loads
    json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())

    monkeypatch.undo()
    assert main(run_argv(out, steps=6) + ["--resume"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == 2 and metrics["steps"] == 6


def test_a_bug_during_a_save_is_not_called_a_disk_problem_and_leaves_no_staging(
    run_argv: Callable[..., list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import transformers.trainer

    def broken(self: Any, output_dir: str) -> None:
        raise ValueError("bug in a save hook")

    monkeypatch.setattr(transformers.trainer.Trainer, "_save_rng_state", broken)
    out = tmp_path / "out"
    assert main(run_argv(out, steps=2)) == 1
    err = capsys.readouterr().err
    assert "internal error: ValueError: bug in a save hook" in err
    assert [p.name for p in out.iterdir()] == ["progress.jsonl"]  # no checkpoint, no staging


def test_final_outputs_fail_without_touching_the_previous_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "adapter_model.safetensors").write_text("old weights")
    (out / "training_config.json").write_text("{}")

    def write(staging: Path) -> None:
        (staging / "adapter_model.safetensors").write_text("new weights")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(Exception, match=r"writing the final outputs failed \(the disk is full\)"):
        save_outputs_atomically(out, write)
    assert (out / "adapter_model.safetensors").read_text() == "old weights"
    assert sorted(p.name for p in out.iterdir()) == ["adapter_model.safetensors", "training_config.json"]


def test_final_outputs_move_the_marker_last(tmp_path: Path) -> None:
    out = tmp_path / "out"

    def write(staging: Path) -> None:
        for name in ("training_config.json", "adapter_model.safetensors", "tokenizer.json"):
            (staging / name).write_text(name)

    moved = save_outputs_atomically(out, write)
    assert moved[-1] == "training_config.json" and len(moved) == 3
    assert sorted(p.name for p in out.iterdir()) == ["adapter_model.safetensors", "tokenizer.json", "training_config.json"]


def test_leftovers_of_a_crashed_save_are_removed_and_never_counted(tmp_path: Path) -> None:
    (tmp_path / ".tmp-checkpoint-6").mkdir()
    (tmp_path / ".tmp-checkpoint-6" / "adapter_model.safetensors").write_bytes(b"half")
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("{}")
    assert complete_checkpoints(tmp_path) == [tmp_path / "checkpoint-4"]
    assert [p.name for p in remove_leftovers(tmp_path)] == [".tmp-checkpoint-6"]
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-4"]


def test_overwrite_clears_old_checkpoints_just_before_training(tmp_path: Path) -> None:
    from framework.training.saving import clear_output_dir

    for name in ("checkpoint-2", "checkpoint-4", ".tmp-checkpoint-6"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("{}")
    clear_output_dir(tmp_path, None, overwrite=False)  # a resumed or fresh run keeps checkpoints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    clear_output_dir(tmp_path, tmp_path / "checkpoint-4", overwrite=True)  # resuming: kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    clear_output_dir(tmp_path, None, overwrite=True)  # --overwrite: the old run's checkpoints go
    assert list(tmp_path.iterdir()) == []
