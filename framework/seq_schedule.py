"""Progressive sequence length: short samples first, the full length later in the run.

The seeds advise raising the sequence length step by step instead of starting at the longest
(training is steadier, and early steps are cheaper). ``data.seq_schedule`` such as
``512:0.3,1024:0.6,2048:1.0`` means: up to 30% of the optimizer steps every sample is cut to
512 tokens, up to 60% to 1024, then 2048.

The data are prepared once at ``cutoff_len``; the cut happens when a micro-batch is collated.
``ScheduledCollator`` wraps the run's collator and truncates each sample to its current
``max_length``; being a ``TrainerCallback`` too, it moves to the next length as
``global_step / max_steps`` passes each boundary (checked at the end of every step). A sample whose trained tokens all lie past
the cut is left out of the batch (it would add nothing but compute); a batch where that is every
sample is collated whole, so no step trains on nothing and logs a loss of 0. ``check_schedule``
counts such samples per length before training (``check`` and ``run`` print it) and refuses a
schedule whose first length leaves no sample anything to learn.

The length is an attribute of the collator in the training process, so the data loader must
collate in that process (``dataloader_num_workers=0``, which ``framework.training.arguments`` sets). The loader
collates a batch or two ahead of the step that uses it, so a switch lands within that many
steps of its boundary. Evaluation always sees the full length, so validation losses stay
comparable across phases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from transformers import TrainerCallback

from framework.chat import IGNORE_INDEX
from framework.errors import ConfigError
from framework.data.collate import length_at, seq_schedule

_CUT_KEYS = ("input_ids", "labels", "position_ids", "attention_mask")


class ScheduledCollator(TrainerCallback):
    """A collator that cuts samples to the schedule's current length, and the callback that moves it.

    Args:
        inner: the collator that builds the batch (packing or padding).
        schedule: ``(length, until)`` items as ``framework.data.collate.seq_schedule`` parses them.
        say: where phase changes are reported.
        step_offset, total_steps: for a run trained by several trainers in a row (``hybrid``):
            progress is ``(step_offset + global_step) / total_steps`` instead of the trainer's own.
    """

    def __init__(self, inner: Callable[[Sequence[dict[str, Any]]], dict[str, Any]],
                 schedule: Sequence[tuple[int, float]], say: Callable[[str], None] = print,
                 step_offset: int = 0, total_steps: int | None = None) -> None:
        self.inner = inner
        self.schedule = list(schedule)
        self.say = say
        self.step_offset = step_offset
        self.total_steps = total_steps
        self.max_length: int | None = self.schedule[0][0]
        self._phase_length = self.max_length

    # the collator ----------------------------------------------------------------------

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        limit = self.max_length
        if limit is None:
            return self.inner(features)
        cut = [_truncate(f, limit) for f in features]
        useful = [f for f in cut if _has_label(f)]
        # a batch none of whose samples has a trained token this short is trained whole: a step
        # on nothing would log a loss of 0 and teach nothing
        return self.inner(useful or list(features))

    # the callback ----------------------------------------------------------------------

    def progress(self, state: Any) -> float:
        total = self.total_steps or state.max_steps
        return (self.step_offset + state.global_step) / total if total else 0.0

    def _follow(self, state: Any) -> None:
        length = length_at(self.schedule, self.progress(state))
        if length != self._phase_length:
            self.say(f"sequence length {length} after step {self.step_offset + state.global_step}")
        self._phase_length = length
        self.max_length = length

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._follow(state)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._follow(state)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._follow(state)  # before the next step's batches are fetched (which precedes on_step_begin)
        if control.should_evaluate:
            self.max_length = None  # the evaluation that follows sees whole samples

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if control.should_evaluate:
            self.max_length = None

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.max_length = self._phase_length

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.max_length = None  # evaluation after training sees whole samples


def _truncate(feature: dict[str, Any], limit: int) -> dict[str, Any]:
    if len(feature["input_ids"]) <= limit:
        return feature
    out = dict(feature)
    for key in _CUT_KEYS:
        if out.get(key) is not None:
            out[key] = out[key][:limit]
    if "length" in out:
        out["length"] = limit
    return out


def _has_label(feature: dict[str, Any]) -> bool:
    labels = feature.get("labels")
    if labels is None:
        return len(feature["input_ids"]) > 1
    # the first label of a sample is never trained (collators ignore it)
    return bool((np.asarray(labels[1:]) != IGNORE_INDEX).any())


def first_trained_positions(rows: Any) -> np.ndarray:
    """Per row of a tokenized dataset: the first position from 1 on whose label is trained
    (position 0 never is), or the row's length when none is. Read from Arrow, no Python loop."""
    table = rows.with_format("arrow")[:] if hasattr(rows, "with_format") else rows
    column = table.column("labels").combine_chunks()
    offsets = column.offsets.to_numpy().astype(np.int64)
    flat = column.flatten().to_numpy(zero_copy_only=False)
    lengths = np.diff(offsets)
    row = np.repeat(np.arange(len(lengths)), lengths)
    position = np.arange(len(flat)) - (offsets[:-1] - offsets[0])[row]
    trained = (flat != IGNORE_INDEX) & (position >= 1)
    first = lengths.copy()
    np.minimum.at(first, row[trained], position[trained])
    return first


def check_schedule(spec: str | None, rows: Any, say: Callable[[str], None] = print) -> None:
    """Before training: how many training samples keep a trained token at each scheduled length.

    A sample whose prompt is longer than a phase's length has nothing to learn in that phase
    (it is left out of its batches). When that is every sample at the first length the schedule
    cannot work and is refused; when it is some of them, a warning gives the count per length.
    """
    if not spec or rows is None or "labels" not in getattr(rows, "column_names", ()):
        return
    schedule = seq_schedule(spec)
    first = first_trained_positions(rows)
    total = len(first)
    if not total:
        return
    counts = [(length, int((first >= length).sum())) for length, _ in schedule]
    length, empty = counts[0]
    if empty == total:
        raise ConfigError(
            f"the schedule starts at {length} tokens, but none of the {total} training samples has a trained "
            f"token within its first {length} (the prompts are longer; the shortest reaches its reply at "
            f"{int(first.min()) + 1})",
            where="data.seq_schedule",
            hint=f"start the schedule at {int(first.min()) + 1} tokens or more, or drop --seq-schedule",
        )
    short = [(length, n) for length, n in counts if n]
    if short:
        say("[warning] data.seq_schedule: training samples with no trained token within the scheduled length "
            "(left out of batches in that phase): " + ", ".join(f"{n} of {total} at {length}" for length, n in short))


def scheduled(inner: Any, spec: str | None, say: Callable[[str], None] = print, **progress: Any) -> Any:
    """``inner`` wrapped by the schedule ``spec``, or ``inner`` itself when there is none."""
    if not spec:
        return inner
    return ScheduledCollator(inner, seq_schedule(spec), say, **progress)
