"""Turning a micro-batch of tokenized samples into model inputs.

``PackingCollator`` is the default: padding-free. It concatenates the samples into one row
with ``position_ids`` restarting at 0 for each sample and no attention mask; transformers
reads the restarts as sequence boundaries (flash-attention varlen; a block-diagonal mask for
SDPA and eager), so no sample attends to another and no compute is spent on padding. The
first label of every sample is ignored: it would be predicted from the previous sample's last
token. ``PaddedCollator`` is the plain way, for models or kernels that cannot pack.

The model must run the training forward with ``use_cache=False`` (or ``config.use_cache =
False``): transformers (5.x) reads restarts in position_ids as boundaries for SDPA and eager
only when no cache is built, and it builds one by default even in train mode, in which case
packed samples silently attend to each other (tested in tests/data/test_collate.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from framework.chat import IGNORE_INDEX
from framework.errors import ConfigError


def _array(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.int64).reshape(-1)


class PackingCollator:
    """Concatenate a micro-batch into one row: ``input_ids``, ``labels``, ``position_ids`` [1, T].

    Args:
        max_tokens: when set, samples are laid into several rows of at most this many tokens
            (a longer sample gets a row of its own) and rows are right-padded to the longest.
            Padding is its own sequence (positions restart) and carries no loss. Several rows
            rely on the position_ids mask, built for SDPA and eager; transformers' flash-
            attention path reads position_ids only for a single row, so with flash-attention
            leave max_tokens unset or set ``flash_kwargs``.
        pad_token_id: the id used for that padding (never trained).
        flash_kwargs: also return ``cu_seq_lens_q/k`` (int32 sample boundaries over the
            flattened batch) and ``max_length_q/k``, as transformers'
            ``DataCollatorWithFlattening(return_flash_attn_kwargs=True)`` does. Its flash-
            attention path then calls the varlen kernel directly instead of deriving the
            boundaries from position_ids in every layer (a device sync per layer), and several
            rows work too (each row's padding is a sequence of its own). SDPA and eager ignore
            these keys.

    Features carry ``input_ids`` and optionally ``labels`` (default: input_ids) and
    ``position_ids`` (kept, e.g. pre-training blocks with document restarts).
    """

    def __init__(self, max_tokens: int | None = None, pad_token_id: int = 0, flash_kwargs: bool = False) -> None:
        if max_tokens is not None and max_tokens < 1:
            raise ConfigError(
                f"max_tokens {max_tokens} must be positive", where="max_tokens", hint="leave it unset for one row"
            )
        self.max_tokens = max_tokens
        self.pad_token_id = pad_token_id
        self.flash_kwargs = flash_kwargs

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        samples = []
        for feature in features:
            ids = _array(feature["input_ids"])
            labels = _array(feature["labels"]).copy() if feature.get("labels") is not None else ids.copy()
            positions = (
                _array(feature["position_ids"]) if feature.get("position_ids") is not None else np.arange(len(ids))
            )
            if len(ids):
                labels[0] = IGNORE_INDEX
                samples.append((ids, labels, positions))
        rows = self._rows(samples)
        width = max((sum(len(s[0]) for s in row) for row in rows), default=0)
        out_ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        out_labels = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
        out_positions = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            at = 0
            for ids, labels, positions in row:
                end = at + len(ids)
                out_ids[r, at:end] = ids
                out_labels[r, at:end] = labels
                out_positions[r, at:end] = positions
                at = end
            out_positions[r, at:] = np.arange(width - at)
        batch = {
            "input_ids": torch.from_numpy(out_ids),
            "labels": torch.from_numpy(out_labels),
            "position_ids": torch.from_numpy(out_positions),
        }
        if self.flash_kwargs:
            batch.update(_varlen_kwargs(out_positions))
        return batch

    def _rows(self, samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[list[Any]]:
        if self.max_tokens is None:
            return [samples]
        rows: list[list[Any]] = [[]]
        used = 0
        for sample in samples:
            size = len(sample[0])
            if rows[-1] and used + size > self.max_tokens:
                rows.append([])
                used = 0
            rows[-1].append(sample)
            used += size
        return rows


def _varlen_kwargs(positions: np.ndarray) -> dict[str, Any]:
    """Sample boundaries of a packed batch in flash-attention varlen form.

    A sample starts wherever its position is 0 (and at the very start), over the batch
    flattened row after row, which is how transformers' varlen path lays out q, k and v.
    """
    import torch

    flat = positions.reshape(-1)
    if flat.size == 0:
        cu = np.zeros(1, dtype=np.int32)
    else:
        starts = np.flatnonzero(flat == 0)
        if not starts.size or starts[0] != 0:
            starts = np.concatenate([[0], starts])
        cu = np.concatenate([starts, [flat.size]]).astype(np.int32)
    longest = int(np.diff(cu).max()) if cu.size > 1 else 0
    cu_tensor = torch.from_numpy(cu)
    return {"cu_seq_lens_q": cu_tensor, "cu_seq_lens_k": cu_tensor.clone(), "max_length_q": longest, "max_length_k": longest}


class PaddedCollator:
    """Right-pad a micro-batch to its longest sample: ``input_ids``, ``attention_mask``, ``labels``.

    Args:
        pad_token_id: the padding id (padding never carries loss, whatever the id).
        pad_to_multiple_of: round the width up (8 suits tensor cores).
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        if pad_token_id is None:
            raise ConfigError(
                "padding needs a pad token id", where="pad_token_id", hint="set the tokenizer's pad token"
            )
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        arrays = [_array(f["input_ids"]) for f in features]
        width = max((len(a) for a in arrays), default=0)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids = np.full((len(arrays), width), self.pad_token_id, dtype=np.int64)
        labels = np.full((len(arrays), width), IGNORE_INDEX, dtype=np.int64)
        mask = np.zeros((len(arrays), width), dtype=np.int64)
        has_positions = all(f.get("position_ids") is not None for f in features) and len(features) > 0
        positions = np.zeros((len(arrays), width), dtype=np.int64) if has_positions else None
        for r, (feature, row) in enumerate(zip(features, arrays)):
            n = len(row)
            ids[r, :n] = row
            labels[r, :n] = _array(feature["labels"]) if feature.get("labels") is not None else row
            mask[r, :n] = 1
            if positions is not None:
                positions[r, :n] = _array(feature["position_ids"])
        batch = {
            "input_ids": torch.from_numpy(ids),
            "attention_mask": torch.from_numpy(mask),
            "labels": torch.from_numpy(labels),
        }
        if positions is not None:
            batch["position_ids"] = torch.from_numpy(positions)
        return batch


def length_grouped_indices(lengths: Sequence[int], batch_size: int, seed: int, megabatch_mult: int = 50) -> list[int]:
    """A seeded order that puts samples of similar length in the same batch (no packing).

    Shuffle, cut into megabatches of ``batch_size * megabatch_mult``, sort each by length
    (longest first), and move the longest sample to the very first batch so an out-of-memory
    shows at step one, not hours in.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size {batch_size} must be positive", where="batch_size", hint="use 1 or more")
    sizes = np.asarray(lengths, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(sizes))
    step = batch_size * megabatch_mult
    megabatches = [order[i : i + step] for i in range(0, len(order), step)]
    megabatches = [mb[np.argsort(-sizes[mb], kind="stable")] for mb in megabatches]
    if megabatches:
        longest = int(np.argmax([sizes[mb[0]] for mb in megabatches]))
        first, top = megabatches[0][0], megabatches[longest][0]
        megabatches[0][0], megabatches[longest][0] = top, first
    return [int(i) for mb in megabatches for i in mb]


def seq_schedule(spec: str) -> list[tuple[int, float]]:
    """Parse a sequence-length schedule ``"512:0.3,1024:0.6,2048:1.0"``.

    Each item is ``length:until``: train at ``length`` tokens until that fraction of the run.
    Lengths and fractions must increase and the last fraction must be 1.0.
    """
    example = "e.g. 512:0.3,1024:0.6,2048:1.0"
    items: list[tuple[int, float]] = []
    for part in (p.strip() for p in str(spec).split(",")):
        length_text, sep, until_text = part.partition(":")
        try:
            length, until = int(length_text), float(until_text)
        except ValueError:
            raise ConfigError(f"'{part}' is not length:fraction", where="seq_schedule", hint=example) from None
        if not sep or length < 1 or not 0 < until <= 1:
            raise ConfigError(
                f"'{part}' needs a positive length and a fraction in (0, 1]", where="seq_schedule", hint=example
            )
        if items and (length <= items[-1][0] or until <= items[-1][1]):
            raise ConfigError(f"'{part}' does not increase on the item before it", where="seq_schedule", hint=example)
        items.append((length, until))
    if not items or items[-1][1] != 1.0:
        raise ConfigError("the last item must run until 1.0 (the end of training)", where="seq_schedule", hint=example)
    return items


def length_at(schedule: Sequence[tuple[int, float]], progress: float) -> int:
    """The sequence length a schedule gives at ``progress`` (0..1) through the run."""
    for length, until in schedule:
        if progress < until:
            return length
    return schedule[-1][0]
