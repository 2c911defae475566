"""What a person watches during and after a run: one progress bar, one summary table.

transformers' default ``ProgressCallback`` prints every log as a raw dict above a bare bar; the
bar here carries what matters while waiting (loss, learning rate, real tokens per second, ETA)
and writes one readable line per log and per evaluation. Tokens are counted from each batch as
it is trained on: the attention mask's sum for padded batches, the ids that are not padding for
packed rows (a single packed row has no padding at all), so tokens/s is real throughput, not
padded throughput. Only the main process draws the bar.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from transformers import TrainerCallback

Say = Callable[[str], None]


def count_real_tokens(batch: dict[str, Any], pad_token_id: int | None = None) -> int:
    """Tokens of a batch that are data, not padding."""
    mask = batch.get("attention_mask")
    if mask is not None and getattr(mask, "dim", lambda: 0)() == 2:
        return int(mask.sum())
    ids = batch.get("input_ids")
    if ids is None:
        return 0
    if pad_token_id is not None and ids.dim() == 2 and ids.shape[0] > 1:
        # several packed rows are right-padded to the longest; one row never is
        return int((ids != pad_token_id).sum())
    return int(ids.numel())


class TokenCounter:
    """Real tokens trained on in this process since the run (or the resumed run) started."""

    def __init__(self, pad_token_id: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.seen = 0

    def add(self, batch: dict[str, Any]) -> None:
        self.seen += count_real_tokens(batch, self.pad_token_id)


def _format_rate(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 10_000 else f"{value:.0f}"


class ProgressBar(TrainerCallback):
    """A tqdm bar with loss, learning rate, tokens/s and ETA; plain lines when not on a terminal."""

    def __init__(self, counter: TokenCounter, say: Say = print, *, world_size: int = 1, stream: Any = None) -> None:
        self.counter = counter
        self.say = say
        self.world_size = world_size
        self.stream = stream or sys.stderr
        self.bar: Any = None
        self.step = self.begin_step = 0
        self.started = 0.0
        self.tokens_at_start = 0
        self.postfix: dict[str, str] = {}
        self.last_eval: tuple[int, Any] | None = None
        self.main = True

    @property
    def interactive(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def tokens_per_second(self) -> float:
        elapsed = time.perf_counter() - self.started
        tokens = (self.counter.seen - self.tokens_at_start) * self.world_size
        return tokens / elapsed if elapsed > 0 else 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.main = state.is_world_process_zero
        self.step = self.begin_step = state.global_step
        self.started = time.perf_counter()
        self.tokens_at_start = self.counter.seen
        if not self.main:
            return
        resumed = f", resuming at step {state.global_step}" if state.global_step else ""
        self.say(f"training: {state.max_steps} optimizer steps{resumed}")
        self._record(args, "begin", state, pid=os.getpid())
        if self.interactive:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, dynamic_ncols=True, file=self.stream,
                            unit="step", bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.main:
            return
        advanced = state.global_step - self.step
        self.step = state.global_step
        if self.bar is not None:
            self.postfix["tok/s"] = _format_rate(self.tokens_per_second())
            self.bar.set_postfix(self.postfix, refresh=False)
            self.bar.update(advanced)

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            self.say(text)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not self.main or not logs:
            return
        if "loss" in logs:
            self.postfix["loss"] = f"{float(logs['loss']):.4f}"
            if logs.get("learning_rate") is not None:
                self.postfix["lr"] = f"{float(logs['learning_rate']):.2e}"
            rate = self.tokens_per_second()
            self._line(f"step {state.global_step}/{state.max_steps}  loss {float(logs['loss']):.4f}  "
                       f"lr {float(logs.get('learning_rate') or 0):.2e}  {_format_rate(rate)} tok/s  "
                       + (f"layers {logs['trainable_layers']}/{logs['total_layers']} trainable  "
                          if "trainable_layers" in logs else "")  # progressive unfreezing (framework.unfreeze)
                       + f"eta {self._remaining(state)}")
            self._record(args, "log", state, loss=float(logs["loss"]), lr=logs.get("learning_rate"),
                         tokens_per_second=round(rate, 1), eta_s=self._remaining_seconds(state))
        if "eval_loss" in logs and (state.global_step, logs["eval_loss"]) != self.last_eval:
            self.last_eval = (state.global_step, logs["eval_loss"])
            self.postfix["val"] = f"{float(logs['eval_loss']):.4f}"
            self._line(f"step {state.global_step}/{state.max_steps}  validation loss {float(logs['eval_loss']):.4f}")
            self._record(args, "eval", state, eval_loss=float(logs["eval_loss"]))

    def _remaining_seconds(self, state: Any) -> float | None:
        elapsed = time.perf_counter() - self.started
        done = state.global_step - self.begin_step
        if done <= 0 or state.max_steps <= 0:
            return None
        return (state.max_steps - state.global_step) * elapsed / done

    def _remaining(self, state: Any) -> str:
        seconds = self._remaining_seconds(state)
        return "?" if seconds is None else time.strftime("%H:%M:%S", time.gmtime(seconds))

    @staticmethod
    def _record(args: Any, event: str, state: Any, **values: Any) -> None:
        """The same numbers for a watcher of the output directory (``progress_file``; ``framework ui``)."""
        output_dir = getattr(args, "output_dir", None)
        if output_dir:
            from framework import progress_file

            progress_file.append(output_dir, event, step=state.global_step, max_steps=state.max_steps, **values)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.main:
            self._record(args, "end", state)
        if self.bar is not None:
            self.bar.close()
            self.bar = None


#: Loggers a run can report to, with the packages that provide them (transformers' integrations).
from framework.loggers import LOGGERS, check_loggers  # noqa: E402,F401  (re-exported)


def install(trainer: Any, bar: ProgressBar) -> None:
    """Swap transformers' progress/printer callbacks for ours."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for kind in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(kind)
    trainer.add_callback(bar)


def summary_lines(metrics: dict[str, Any], output_dir: Path) -> list[str]:
    """The table ``framework run`` prints at the end: losses, steps, throughput, time, files."""
    rows: list[tuple[str, str]] = []
    if metrics.get("train_loss_first") is not None:
        rows.append(("train loss", f"{metrics['train_loss_first']:.4f} -> {metrics['train_loss_last']:.4f}"))
    if metrics.get("eval_loss") is not None:
        best = metrics.get("best_checkpoint")
        rows.append(("validation loss", f"{metrics['eval_loss']:.4f}" + (f"  (best: {Path(best).name})" if best else "")))
    if metrics.get("stopped_early"):
        rows.append(("early stopping", f"stopped at step {metrics['steps']}: validation loss stopped improving"))
    rows.append(("steps", f"{metrics.get('steps', 0)}" + (f" (resumed at {metrics['resumed_from_step']})"
                                                           if metrics.get("resumed_from_step") else "")))
    if metrics.get("tokens_per_second"):
        rows.append(("throughput", f"{metrics['tokens_per_second']:.0f} tokens/s ({metrics['train_tokens']:,} real tokens)"))
    if metrics.get("wall_time_s") is not None:
        rows.append(("wall time", _duration(metrics["wall_time_s"])))
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in output_dir.iterdir()
                   if not p.name.startswith(".")) if output_dir.is_dir() else []
    rows.append(("output", str(output_dir)))
    if files:
        rows.append(("files", ", ".join(files)))
    width = max([15] + [len(key) for key, _ in rows])
    return [f"{key:<{width}} {value}" for key, value in rows]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
