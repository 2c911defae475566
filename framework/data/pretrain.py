"""Continued pre-training data: documents tokenized, joined and cut into fixed-length blocks.

Every document is ``[bos] + tokens + [eos]`` (bos when the tokenizer has one) and the stream
of documents is cut into ``cutoff_len`` blocks, so no token is spent on padding. The
evaluation split is taken by document before packing: a document is never half in each set.
With ``restart_positions`` each block also carries ``position_ids`` that restart at every
document start, and the first token of a document inside a block carries no loss: with a
kernel that reads position_ids (flash-attention varlen) documents then do not attend to one
another.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from framework.chat import IGNORE_INDEX
from framework.data import cache
from framework.data.prepared import PreparedData
from framework.data.sources import PathLike, as_paths, load_sources, sample_texts, source_files
from framework.data.split import check_val_size, check_weights, split_and_mix
from framework.errors import ConfigError, ModelError


def _tokenize_texts(batch: dict[str, list[Any]], tokenizer: Any) -> dict[str, list[Any]]:
    return {"input_ids": tokenizer(batch["text"], add_special_tokens=False)["input_ids"]}


def prepare_pretrain(
    paths: Sequence[PathLike] | PathLike,
    tokenizer: Any,
    *,
    cutoff_len: int,
    val_size: float = 0.0,
    seed: int = 42,
    max_samples: int | None = None,
    strict: bool = False,
    mix_weights: Sequence[float] | None = None,
    add_bos: bool = True,
    restart_positions: bool = False,
    cache_dir: Path | None = None,
    overwrite_cache: bool = False,
    num_proc: int = 1,
    batch_size: int = 1000,
    dedupe: str = "exact",
) -> PreparedData:
    """Prepare ``text`` data for continued pre-training.

    Args:
        paths: data files or directories (format ``text``); several paths form a mixture.
        tokenizer: the model's tokenizer; it must have an eos token.
        cutoff_len: block length in tokens.
        val_size: evaluation documents: a fraction, or a count when >= 1.
        seed: split and mixture seed.
        max_samples: use at most this many documents in all (the first ones of each path; a
            mixture shares them by its weights).
        strict: stop on the first bad document instead of dropping it.
        mix_weights: one weight per path: its share of the training documents.
        add_bos: start each document with the tokenizer's bos token (when it has one).
        restart_positions: add ``position_ids`` restarting at each document.
        cache_dir: where prepared data is stored and found again.
        overwrite_cache: rebuild even when a stored copy exists.
        num_proc: tokenizing processes.
        batch_size: documents per tokenizer call.

    Columns: ``input_ids``, ``labels`` (equal to input_ids, but see ``restart_positions``),
    ``length`` and, with ``restart_positions``, ``position_ids``.
    """
    if cutoff_len < 2:
        raise ConfigError(
            f"cutoff_len {cutoff_len} is too small",
            where="cutoff_len",
            hint="use the block length to train at, e.g. 2048",
        )
    check_val_size(val_size)
    path_list = as_paths(paths)
    weights = check_weights(mix_weights, len(path_list), names=[str(p) for p in path_list])
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ModelError(
            "the tokenizer has no eos token, so documents cannot be told apart", hint="set the tokenizer's eos_token"
        )
    bos = tokenizer.bos_token_id if add_bos else None
    key = None
    if cache_dir is not None:
        settings = {
            "files": cache.files_signature(source_files(path_list)),
            "paths": [str(p) for p in path_list],
            "tokenizer": cache.tokenizer_fingerprint(tokenizer),
            "cutoff_len": cutoff_len,
            "val_size": val_size,
            "seed": seed,
            "max_samples": max_samples,
            "strict": strict,
            "weights": weights,
            "bos": bos,
            "eos": eos,
            "restart": restart_positions,
            "dedupe": dedupe,
        }
        key = cache.cache_key("pt", settings)
        stored = None if overwrite_cache else cache.load(cache_dir, key)
        if stored is not None:
            return PreparedData(*stored)

    loaded = load_sources(path_list, fmt=None, allowed=("text",), stage="pt", strict=strict, max_samples=max_samples,
                          weights=weights, dedupe=dedupe)
    report = loaded.report
    report.cutoff_len = cutoff_len
    from datasets import Dataset

    texts = Dataset.from_dict({"text": [ex.text for ex in loaded.examples]})
    tokenized = texts.map(
        _tokenize_texts,
        batched=True,
        batch_size=batch_size,
        num_proc=num_proc if num_proc > 1 else None,
        fn_kwargs={"tokenizer": tokenizer},
        remove_columns=["text"],
        new_fingerprint=f"{key or id(texts)}-pt-tokens",
        desc="Tokenizing documents",
        keep_in_memory=True,
    )
    docs = tokenized.data.column("input_ids").combine_chunks()
    rows = np.arange(len(loaded.examples))
    source_of = np.asarray(loaded.source_of, dtype=np.int64)
    train_rows, eval_rows, counts = split_and_mix(rows, source_of, val_size=val_size, weights=weights, seed=seed,
                                                  names=loaded.names, report=report)
    train, train_tokens = _packed(docs, train_rows, cutoff_len, bos, eos, restart_positions)
    evaluation = _packed(docs, eval_rows, cutoff_len, bos, eos, restart_positions)[0] if len(eval_rows) else None
    report.eval = len(eval_rows)
    if len(path_list) > 1:
        report.mixture = {name: int(counts.get(i, 0)) for i, name in enumerate(loaded.names)}
    report.notes.append(f"packed {train_tokens} training tokens into {len(train)} blocks of up to {cutoff_len}")
    sample = sample_texts(loaded.examples)
    if key is not None:
        cache.save(cache_dir, key, train, evaluation, report, sample)
    return PreparedData(train, evaluation, report, sample)


def pack_documents(
    docs: Sequence[np.ndarray], cutoff_len: int, bos: int | None, eos: int, restart_positions: bool
) -> dict[str, list[np.ndarray]]:
    """Join documents into one stream and cut it into blocks (the last one may be shorter).

    Returns per block: input_ids, labels and, with ``restart_positions``, position_ids.
    """
    pieces: list[np.ndarray] = []
    starts: list[int] = []
    at = 0
    head = np.asarray([bos] if bos is not None else [], dtype=np.int64)
    tail = np.asarray([eos], dtype=np.int64)
    for doc in docs:
        starts.append(at)
        pieces.extend((head, np.asarray(doc, dtype=np.int64), tail))
        at += len(head) + len(doc) + 1
    flat = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
    labels = flat.copy()
    index = np.arange(len(flat))
    positions = None
    if restart_positions:
        marks = np.zeros(len(flat), dtype=np.int64)
        marks[np.asarray(starts, dtype=np.int64)] = index[np.asarray(starts, dtype=np.int64)]
        doc_start = np.maximum.accumulate(marks) if len(flat) else marks
        block_start = (index // cutoff_len) * cutoff_len
        positions = index - np.maximum(doc_start, block_start)
        labels[(positions == 0) & (index != block_start)] = IGNORE_INDEX
    out: dict[str, list[np.ndarray]] = {"input_ids": [], "labels": []}
    if restart_positions:
        out["position_ids"] = []
    for begin in range(0, len(flat), cutoff_len):
        end = min(begin + cutoff_len, len(flat))
        if end - begin < 2:
            break  # a lone last token has nothing to predict
        out["input_ids"].append(flat[begin:end])
        out["labels"].append(labels[begin:end])
        if positions is not None:
            out["position_ids"].append(positions[begin:end])
    return out


def _packed(docs: Any, rows: np.ndarray, cutoff_len: int, bos: int | None, eos: int, restart: bool) -> tuple[Any, int]:
    import pyarrow as pa
    from datasets import Dataset

    offsets = docs.offsets.to_numpy()
    values = docs.values.to_numpy()
    blocks = pack_documents([values[offsets[r] : offsets[r + 1]] for r in rows], cutoff_len, bos, eos, restart)
    columns = {}
    for name, arrays in blocks.items():
        lengths = np.fromiter((len(a) for a in arrays), dtype=np.int32, count=len(arrays))
        bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        flat = np.concatenate(arrays).astype(np.int32) if arrays else np.zeros(0, dtype=np.int32)
        columns[name] = pa.ListArray.from_arrays(pa.array(bounds), pa.array(flat))
    first = blocks["input_ids"]
    columns["length"] = pa.array(np.fromiter((len(a) for a in first), dtype=np.int32, count=len(first)))
    tokens = int(sum(len(a) for a in first))
    return Dataset(pa.table(columns)), tokens
