"""What a person watches: progress lines, real-token counts, the summary; early stopping; loggers."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest
import torch
from safetensors.torch import load_file

from framework.cli import main
from framework.errors import ConfigError
from framework.progress import ProgressBar, TokenCounter, check_loggers, count_real_tokens, summary_lines


def test_padded_batches_count_the_attention_mask() -> None:
    batch = {"input_ids": torch.tensor([[5, 6, 7], [8, 0, 0]]), "attention_mask": torch.tensor([[1, 1, 1], [1, 0, 0]])}
    assert count_real_tokens(batch, pad_token_id=0) == 4


def test_one_packed_row_has_no_padding_even_where_ids_equal_the_pad_id() -> None:
    batch = {"input_ids": torch.tensor([[5, 0, 7, 8]]), "position_ids": torch.tensor([[0, 1, 0, 1]])}
    assert count_real_tokens(batch, pad_token_id=0) == 4


def test_several_packed_rows_skip_their_right_padding() -> None:
    batch = {"input_ids": torch.tensor([[5, 6, 7], [8, 9, 0]]), "position_ids": torch.tensor([[0, 1, 2], [0, 1, 0]])}
    assert count_real_tokens(batch, pad_token_id=0) == 5


def _state(step: int, max_steps: int = 10, main_process: bool = True) -> SimpleNamespace:
    return SimpleNamespace(global_step=step, max_steps=max_steps, is_world_process_zero=main_process)


def test_progress_lines_carry_loss_lr_tokens_per_second_and_eta() -> None:
    lines: list[str] = []
    counter = TokenCounter(pad_token_id=0)
    bar = ProgressBar(counter, lines.append, stream=io.StringIO())  # not a terminal: plain lines
    bar.on_train_begin(None, _state(0), None)
    counter.add({"input_ids": torch.ones(1, 300, dtype=torch.long)})
    bar.on_step_end(None, _state(1), None)
    bar.on_log(None, _state(1), None, logs={"loss": 2.5, "learning_rate": 2e-4})
    bar.on_log(None, _state(1), None, logs={"eval_loss": 2.25})
    bar.on_log(None, _state(1), None, logs={"eval_loss": 2.25})  # the same evaluation logged again
    assert lines[0] == "training: 10 optimizer steps"
    assert lines[1].startswith("step 1/10  loss 2.5000  lr 2.00e-04  ") and " tok/s  eta 00:00:" in lines[1]
    assert lines[2] == "step 1/10  validation loss 2.2500" and len(lines) == 3


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_carries_the_numbers() -> None:
    lines: list[str] = []
    counter = TokenCounter()
    stream = _Terminal()
    bar = ProgressBar(counter, lines.append, stream=stream)
    bar.on_train_begin(None, _state(0), None)
    counter.add({"input_ids": torch.ones(1, 500, dtype=torch.long)})
    bar.on_log(None, _state(1), None, logs={"loss": 1.25, "learning_rate": 1e-4})
    bar.on_step_end(None, _state(1), None)
    bar.bar.refresh()
    bar.on_train_end(None, _state(1), None)
    drawn = stream.getvalue()
    assert "1/10" in drawn and "loss=1.2500" in drawn and "lr=1.00e-04" in drawn and "tok/s=" in drawn
    assert "step 1/10  loss 1.2500" in drawn  # the log line is written above the bar
    assert lines == ["training: 10 optimizer steps"]


def test_only_the_main_process_reports() -> None:
    lines: list[str] = []
    bar = ProgressBar(TokenCounter(), lines.append, stream=io.StringIO())
    bar.on_train_begin(None, _state(0, main_process=False), None)
    bar.on_log(None, _state(1, main_process=False), None, logs={"loss": 1.0, "learning_rate": 1e-4})
    assert lines == []


def test_summary_names_losses_steps_throughput_time_and_files(tmp_path: Path) -> None:
    (tmp_path / "adapter_model.safetensors").write_bytes(b"x")
    (tmp_path / "checkpoint-3").mkdir()
    (tmp_path / ".tmp-final-1").mkdir()
    metrics = {"train_loss_first": 2.0, "train_loss_last": 1.0, "eval_loss": 1.5, "best_checkpoint": str(tmp_path / "checkpoint-3"),
               "steps": 3, "resumed_from_step": 2, "tokens_per_second": 1234.4, "train_tokens": 5000, "wall_time_s": 75.2}
    text = "\n".join(summary_lines(metrics, tmp_path))
    assert "train loss      2.0000 -> 1.0000" in text and "validation loss 1.5000  (best: checkpoint-3)" in text
    assert "steps           3 (resumed at 2)" in text and "1234 tokens/s (5,000 real tokens)" in text
    assert "wall time       1 min 15 s" in text and "files           adapter_model.safetensors, checkpoint-3/" in text


def test_loggers_are_checked_before_anything_runs() -> None:
    check_loggers(["tensorboard", "none"])
    with pytest.raises(ConfigError, match="did you mean 'tensorboard'"):
        check_loggers(["tensorbord"])
    with pytest.raises(ConfigError, match=r"training.report_to=wandb needs wandb.*pip install 'framework\[wandb\]'"):
        check_loggers(["wandb"])


def test_early_stopping_keeps_and_loads_the_best_checkpoint_and_logs_to_tensorboard(
    run_argv: Callable[..., list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from framework.training.trainer import FrameworkTrainer

    real_prediction_step = FrameworkTrainer.prediction_step

    def rising(self: FrameworkTrainer, *args: object, **kwargs: object) -> object:
        """The real validation loss plus 0.5 per step: it gets worse after the first evaluation."""
        loss, logits, labels = real_prediction_step(self, *args, **kwargs)
        return loss + 0.5 * self.state.global_step, logits, labels

    monkeypatch.setattr(FrameworkTrainer, "prediction_step", rising)
    out = tmp_path / "out"
    argv = run_argv(out, "training.eval_steps=1", "training.save_steps=1", "training.early_stopping_patience=2",
                    "training.save_total_limit=2", "training.report_to=[tensorboard]", val_size=0.2, steps=20)
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    losses = [loss for _, loss in metrics["eval_history"]]
    assert len(losses) == 3 and losses[0] < losses[1] < losses[2]
    assert metrics["steps"] == 3 and metrics["stopped_early"] is True
    assert Path(metrics["best_checkpoint"]).name == "checkpoint-1"
    # save_total_limit=2: the best and the latest survive, checkpoint-2 goes
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-3"]
    best, final = load_file(out / "checkpoint-1" / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert all(torch.equal(best[k], final[k]) for k in best)
    events = list((out / "runs").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    text = capsys.readouterr().out
    for expected in ("training: 20 optimizer steps", "step 1/20  validation loss", "── result",
                     "(best: checkpoint-1)", "early stopping  stopped at step 3", "throughput", "wall time",
                     "files           README.md, adapter_config.json"):
        assert expected in text, expected
