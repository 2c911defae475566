"""``--resume`` is checked against the checkpoint before anything loads (issue 12, items 3 and 5).

The checkpoint holds the settings that trained it (``run_settings.json``, written by
``save_checkpoint``) and transformers' ``trainer_state.json``. These tests build such checkpoint
directories by hand; ``tests/test_cli_sweep.py`` runs the same checks through ``framework run``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.checkpointing import RESUMABLE_KEYS, SETTINGS_FILE, RunComplete, changed_settings, check_resume
from framework.errors import ConfigError
from framework.outputs import check_output_dir

SETTINGS = {
    "method": "lora", "stage": "sft", "lora.r": 16, "lora.alpha": 32.0, "prompt.num_virtual_tokens": 16,
    "training.learning_rate": 1e-4, "training.max_steps": 2, "training.epochs": 3.0, "training.logging_steps": 5,
    "data.paths": ["train.jsonl"], "data.cutoff_len": 1024, "output.resume": False,
}


def _settings(**changes: object) -> dict[str, dict[str, object]]:
    values = {**SETTINGS, **{k.replace("__", "."): v for k, v in changes.items()}}
    return {key: {"value": value, "source": "cli"} for key, value in values.items()}


def _checkpoint(root: Path, step: int, max_steps: int, *, settings: dict | None = None, finished: bool = False) -> Path:
    ckpt = root / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": max_steps}))
    if settings is not None:
        (ckpt / SETTINGS_FILE).write_text(json.dumps(settings))
    if finished:
        (root / "training_config.json").write_text("{}")
    return ckpt


def test_a_setting_that_shapes_the_weights_is_named_with_both_values(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, 1, 2, settings=_settings())
    with pytest.raises(ConfigError) as err:
        check_resume(ckpt, _settings(lora__r=4, training__learning_rate=1e-3))
    line = err.value.line()
    assert "--resume with 2 setting(s) that differ from checkpoint-1: lora.r 16 -> 4, " \
           "training.learning_rate 0.0001 -> 0.001" in line
    assert "docs/reliability.md" in line and "\n" not in line


def test_settings_that_may_change_on_resume_pass(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, 1, 2, settings=_settings())
    check_resume(ckpt, _settings(training__max_steps=6, training__logging_steps=1, output__resume=True))
    assert {"training.max_steps", "training.logging_steps", "output.resume"} <= RESUMABLE_KEYS


def test_keys_of_a_section_the_method_does_not_read_are_not_compared() -> None:
    full = _settings(method="full")
    assert changed_settings(full, _settings(method="full", lora__r=4)) == []
    assert changed_settings(_settings(), _settings(prompt__num_virtual_tokens=8)) == []
    assert changed_settings(_settings(), _settings(method="full")) == [("method", "lora", "full")]


def test_a_finished_run_is_reported_complete_and_not_trained_again(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, 2, 2, settings=_settings(), finished=True)
    with pytest.raises(RunComplete, match=r"already complete \(step 2 of 2\); nothing to train"):
        check_resume(ckpt, _settings(output__resume=True))


def test_a_finished_run_continues_when_max_steps_or_epochs_are_raised(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, 2, 2, settings=_settings(), finished=True)
    check_resume(ckpt, _settings(training__max_steps=4))
    by_epochs = _checkpoint(tmp_path / "e", 6, 6, settings=_settings(training__max_steps=-1), finished=True)
    check_resume(by_epochs, _settings(training__max_steps=-1, training__epochs=5.0))
    with pytest.raises(RunComplete):
        check_resume(by_epochs, _settings(training__max_steps=-1))


def test_last_step_without_final_outputs_says_where_the_weights_are(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, 2, 2, settings=_settings())
    with pytest.raises(ConfigError, match="checkpoint-2 is the last step \\(2 of 2\\) but the run's final outputs"):
        check_resume(ckpt, _settings())


def test_a_checkpoint_without_settings_is_still_checked_for_completeness(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path, 2, 2, finished=True)
    check_resume(_checkpoint(tmp_path / "mid", 1, 2), _settings(lora__r=4))  # older checkpoint: nothing to compare
    with pytest.raises(RunComplete):
        check_resume(ckpt, _settings())


def test_resume_and_overwrite_together_are_refused(tmp_path: Path) -> None:
    _checkpoint(tmp_path, 1, 2, settings=_settings())
    with pytest.raises(ConfigError, match="--resume and --overwrite contradict each other"):
        check_output_dir(tmp_path, overwrite=True, resume=True)
    assert (tmp_path / "checkpoint-1").is_dir()
