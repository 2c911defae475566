"""A batch of tokenized chats as flat arrays: what the pipeline writes to Arrow.

Why: building a Python list of ids and one of labels per sample, then flattening them again into
Arrow buffers, cost as much as tokenizing with tiktoken. A batch held as one ids array, one labels
array (and kinds) with row bounds is written to Arrow without a per-token Python object, and the
cutoff, truncation and "no trained token" decisions are array operations over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from framework.chat import IGNORE_INDEX, TokenizedChat

#: Row status after the cutoff (the pipeline's ``status`` column).
KEEP, NO_LABEL, TOO_LONG, TRUNCATED = 0, 1, 2, 3


def bounds_of(sizes: np.ndarray) -> np.ndarray:
    """Row bounds (int64, one more than rows) of rows of these sizes laid end to end."""
    bounds = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    return bounds


@dataclass(frozen=True)
class FlatChats:
    """Row ``r`` is ``ids[bounds[r]:bounds[r + 1]]`` (same for labels and kinds)."""

    ids: np.ndarray  # int32
    labels: np.ndarray  # int32, IGNORE_INDEX where no loss
    bounds: np.ndarray  # int64, len rows + 1
    special: np.ndarray  # bool per row: control-token text in data kept as plain text
    kinds: np.ndarray | None = None  # int32 per token, when asked for

    def __len__(self) -> int:
        return len(self.bounds) - 1

    @classmethod
    def from_chats(cls, chats: Sequence[TokenizedChat], with_kinds: bool = False) -> FlatChats:
        """The flat form of per-chat lists (the present path's output)."""
        bounds = bounds_of(np.fromiter((len(c.input_ids) for c in chats), dtype=np.int64, count=len(chats)))
        total = int(bounds[-1])

        def flat(rows: Sequence[Sequence[int]]) -> np.ndarray:
            return np.fromiter(chain.from_iterable(rows), dtype=np.int32, count=total)

        kinds = flat([c.kinds or [] for c in chats]) if with_kinds else None
        special = np.fromiter((c.injected_special_text for c in chats), dtype=bool, count=len(chats))
        return cls(flat([c.input_ids for c in chats]), flat([c.labels for c in chats]), bounds, special, kinds)

    def to_chats(self) -> list[TokenizedChat]:
        """Per-chat lists again (for checks and for callers of the list form)."""
        ids, labels = self.ids.tolist(), self.labels.tolist()
        kinds = self.kinds.tolist() if self.kinds is not None else None
        edges = self.bounds.tolist()
        return [
            TokenizedChat(ids[a:b], labels[a:b], bool(s), kinds[a:b] if kinds is not None else None)
            for a, b, s in zip(edges[:-1], edges[1:], self.special.tolist())
        ]

    def rows(self, order: np.ndarray) -> FlatChats:
        """The rows in ``order`` (a permutation or a selection of row numbers)."""
        sizes = np.diff(self.bounds)[order]
        bounds = bounds_of(sizes)
        take = np.repeat(self.bounds[:-1][order] - bounds[:-1], sizes) + np.arange(int(bounds[-1]), dtype=np.int64)
        kinds = self.kinds[take] if self.kinds is not None else None
        return FlatChats(self.ids[take], self.labels[take], bounds, self.special[order], kinds)


def concat_rows(parts: Sequence[tuple[Sequence[int], FlatChats]], n: int) -> FlatChats:
    """Parts that each hold some of the rows ``0..n-1`` (their row numbers given), in row order."""
    parts = [(rows, flat) for rows, flat in parts if len(rows)]
    if not parts:
        empty = np.zeros(0, dtype=np.int32)
        return FlatChats(empty, empty, np.zeros(1, dtype=np.int64), np.zeros(0, dtype=bool), empty)
    if len(parts) == 1 and list(parts[0][0]) == list(range(n)):
        return parts[0][1]
    joined = FlatChats(
        np.concatenate([f.ids for _, f in parts]),
        np.concatenate([f.labels for _, f in parts]),
        bounds_of(np.concatenate([np.diff(f.bounds) for _, f in parts])),
        np.concatenate([f.special for _, f in parts]),
        np.concatenate([f.kinds for _, f in parts]) if all(f.kinds is not None for _, f in parts) else None,
    )
    where = np.concatenate([np.asarray(rows, dtype=np.int64) for rows, _ in parts])
    order = np.empty(n, dtype=np.int64)
    order[where] = np.arange(n, dtype=np.int64)
    return joined.rows(order)


def cut(flat: FlatChats, cutoff: int, truncate: bool) -> tuple[FlatChats, np.ndarray, np.ndarray]:
    """Apply ``cutoff_len``: rows kept (cut to ``cutoff`` when truncating), the status of each row
    and its length (after truncation); a dropped row (too long, or no trained token) keeps its
    length and has no tokens."""
    sizes = np.diff(flat.bounds)
    over = sizes > cutoff
    status = np.where(over, TRUNCATED if truncate else TOO_LONG, KEEP).astype(np.int8)
    lengths = np.minimum(sizes, cutoff) if truncate else sizes
    row_of = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    within = (np.arange(len(flat.ids), dtype=np.int64) - flat.bounds[:-1][row_of]) < lengths[row_of]
    trained = within & (flat.labels != IGNORE_INDEX)
    labelled = np.bincount(row_of[trained], minlength=len(sizes)) > 0
    status[(status != TOO_LONG) & ~labelled] = NO_LABEL
    emit = (status == KEEP) | (status == TRUNCATED)
    keep = within & emit[row_of]
    bounds = bounds_of(np.where(emit, lengths, 0))
    kinds = flat.kinds[keep] if flat.kinds is not None else None
    return FlatChats(flat.ids[keep], flat.labels[keep], bounds, flat.special, kinds), status, lengths.astype(np.int32)
