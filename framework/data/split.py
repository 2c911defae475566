"""Seeded evaluation split and weighted mixing of sources, on row indices.

Both work on index arrays so the tokenized rows are never copied: the result is a
``datasets`` selection. The evaluation split is taken first, from unique samples, so a
sample repeated to reach a mixture weight never sits on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from framework.errors import ConfigError, DataError


def check_val_size(val_size: float) -> None:
    """``0`` (no evaluation), a fraction in (0, 1), or a sample count >= 1."""
    if val_size < 0 or (val_size >= 1 and val_size != int(val_size)):
        raise ConfigError(
            f"val_size {val_size} is neither a fraction in [0, 1) nor a whole number of samples",
            where="val_size",
            hint="use e.g. 0.05 for 5% or 200 for 200 samples",
        )


def _source(index: int, names: Sequence[str] | None) -> str:
    """``data source 2 (b.jsonl)``: every mixture message names the file."""
    return f"data source {index + 1}" + (f" ({names[index]})" if names and index < len(names) else "")


def check_weights(weights: Sequence[float] | None, sources: int,
                  names: Sequence[str] | None = None) -> list[float] | None:
    """Mixture weights: one positive number per source (they need not sum to 1)."""
    if weights is None:
        return None
    weights = [float(w) for w in weights]
    if len(weights) != sources:
        listed = f" ({', '.join(names)})" if names else ""
        raise ConfigError(
            f"{len(weights)} mixture weights for {sources} data sources{listed}",
            where="mix_weights",
            hint="give one weight per data path, in the same order",
        )
    for index, w in enumerate(weights):
        if not w > 0:
            raise ConfigError(
                f"mixture weights must be positive: {_source(index, names)} has {w:g}", where="mix_weights",
                hint="drop a source instead of weighting it 0",
            )
    return weights


def eval_count(val_size: float, total: int) -> int:
    """How many of ``total`` samples are held out; at least one sample stays for training."""
    if val_size <= 0:
        return 0
    count = int(val_size) if val_size >= 1 else max(1, round(val_size * total))
    if count >= total:
        raise DataError(
            f"val_size {val_size} leaves no training sample out of {total}",
            hint="lower val_size or add data",
        )
    return count


def split_and_mix(
    rows: np.ndarray,
    sources_of_rows: np.ndarray,
    *,
    val_size: float,
    weights: Sequence[float] | None,
    seed: int,
    names: Sequence[str] | None = None,
    report: Any = None,
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """Shuffle, hold out the evaluation rows, then resample training rows to the weights.

    ``sources_of_rows[i]`` is the source of ``rows[i]``: the two arrays are aligned, because
    ``rows`` are the kept row numbers (with gaps where samples were dropped) and indexing a
    per-example array by them would read the wrong sample's source, or past the end.

    With weights, the training set keeps its size and each source gets its weight's share:
    a source short of its share is repeated (whole passes, then a random part), a longer one
    is subsampled.

    ``names`` (the paths) name each source in messages; ``report`` (the ``DataReport``) says
    what was dropped when a source has nothing left.

    Returns:
        training rows, evaluation rows, and the number of training rows per source.
    """
    rows = np.asarray(rows)
    sources_of_rows = np.asarray(sources_of_rows)
    if len(rows) != len(sources_of_rows):
        raise ValueError(f"{len(rows)} rows but {len(sources_of_rows)} source numbers")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    shuffled, shuffled_sources = rows[order], sources_of_rows[order]
    held = eval_count(val_size, len(shuffled))
    eval_rows, train_rows = shuffled[:held], shuffled[held:]
    sources = shuffled_sources[held:]
    if weights is None or len(weights) < 2:
        counts = np.bincount(sources, minlength=len(weights or [0]))
        return train_rows, np.sort(eval_rows), {i: int(c) for i, c in enumerate(counts)}
    total = len(train_rows)
    share = np.asarray(weights) / sum(weights)
    picked: list[np.ndarray] = []
    counts = {}
    for index, part in enumerate(share):
        own = train_rows[sources == index]
        target = int(round(part * total))
        if len(own) == 0:
            if target:
                kept = int((sources_of_rows == index).sum())
                why = (f"its {kept} usable sample(s) all went to the evaluation split" if kept else
                       "every sample it had was dropped"
                       + (f" (dropped in all sources: {report.summary()})" if report is not None and report.dropped
                          else ""))
                raise DataError(
                    f"{_source(index, names)} has no usable sample left for its mixture weight: {why}",
                    hint="check that file (`framework check` lists each dropped sample's file:line), or lower val_size",
                )
            continue
        repeats, rest = divmod(target, len(own))
        picked.extend([own] * repeats)
        picked.append(own[rng.permutation(len(own))[:rest]])
        counts[index] = target
    mixed = np.concatenate(picked) if picked else train_rows[:0]
    return mixed[rng.permutation(len(mixed))], np.sort(eval_rows), counts
