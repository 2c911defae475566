"""The run's final validation loss comes from the evaluation that measured the weights it ended
with (the best checkpoint, loaded at the end), not from one more pass over the validation set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from framework.plugins import make_plugin_host
from framework.run_plan import make_plan
from framework.training import run, skeleton


def test_the_final_loss_is_the_best_evaluation_without_evaluating_again(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from framework.training.trainer import FrameworkTrainer

    data = tmp_path / "train.jsonl"
    rows = [{"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is."} for i in range(24)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    evaluations: list[float] = []
    inner_evaluate = FrameworkTrainer.evaluate

    def counted(self, *args, **kwargs):
        metrics = inner_evaluate(self, *args, **kwargs)
        evaluations.append(metrics["eval_loss"])
        return metrics

    monkeypatch.setattr(FrameworkTrainer, "evaluate", counted)
    checked: list[tuple[float, float]] = []
    inner_final = skeleton.final_eval_loss

    def compared(trainer):
        reused = inner_final(trainer)
        during = len(evaluations)
        checked.append((reused, inner_evaluate(trainer)["eval_loss"]))  # what evaluating again gives
        assert len(evaluations) == during
        return reused

    monkeypatch.setattr(skeleton, "final_eval_loss", compared)
    args = argparse.Namespace(
        model=str(tiny_model_dir), data=[str(data)], output=str(tmp_path / "out"), cutoff_len=128,
        set=["training.epochs=3", "training.learning_rate=3e-2", "data.val_size=0.25", "training.report_to=[]"])
    result = run(make_plan(args, make_plugin_host(), need_weights=True), lambda _: None)
    history = [loss for _, loss in result.metrics["eval_history"]]
    assert len(history) == 3 and len(evaluations) == 3  # one per epoch, none after training
    (reused, again), = checked
    assert reused == pytest.approx(again, rel=1e-6, abs=1e-6)
    assert reused == min(history) == result.metrics["eval_loss"]
