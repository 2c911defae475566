"""Property tests over the whole SFT data path (issue 12): files -> prepared rows -> batches.

Random sample lengths around the cutoff, over-long samples at any position, both truncation
modes, evaluation splits, mixtures of 1-3 sources with or without weights, ``max_samples``,
packing on and off. Whatever comes in:

- nothing escapes but the framework's own errors (one line for the user);
- every sample read is either kept or counted as dropped;
- the per-source counts the report prints are those of the training set;
- every kept row fits the cutoff, trains at least one token, and labels only its own tokens,
  and so does every batch built from the rows.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from framework.chat import IGNORE_INDEX
from framework.data.collate import PackingCollator, PaddedCollator
from framework.data.pipeline import prepare_sft
from framework.errors import FrameworkError

from .conftest import build_tokenizer, chatml

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOKENIZER = build_tokenizer()
MARKERS = ("alpha", "bravo", "charlie")  # the first word of every instruction names its source
WORDS = ("fox", "dog", "data", "model", "answer", "question", "quick", "lazy")

sample = st.tuples(st.integers(0, 24), st.integers(0, 24))  # words in the instruction, in the reply
source = st.lists(sample, min_size=2, max_size=10)


def _rows(index: int, lengths: list[tuple[int, int]]) -> list[dict[str, str]]:
    rows = []
    for n, (prompt_words, reply_words) in enumerate(lengths):
        prompt = " ".join(WORDS[(n + k) % len(WORDS)] for k in range(prompt_words))
        reply = " ".join(WORDS[(n * 3 + k) % len(WORDS)] for k in range(reply_words))
        rows.append({"instruction": f"{MARKERS[index]} {n} {prompt}".strip(), "input": "",
                     "output": f"{reply} {n}".strip()})
    return rows


def _source(text: str) -> int:
    found = [i for i, marker in enumerate(MARKERS) if marker in text]
    assert len(found) == 1, text
    return found[0]


def _check_row(row: dict[str, Any], cutoff: int) -> None:
    ids, labels = list(row["input_ids"]), list(row["labels"])
    assert 0 < len(ids) == len(labels) <= cutoff
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(ids, labels))
    assert any(label != IGNORE_INDEX for label in labels[1:])


def _check_batch(batch: dict[str, Any]) -> None:
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == labels.shape
    trained = labels != IGNORE_INDEX
    assert bool((labels[trained] == ids[trained]).all())


@SETTINGS
@given(
    sources=st.lists(source, min_size=1, max_size=3),
    cutoff=st.integers(24, 96),
    truncation=st.sampled_from(["drop", "truncate"]),
    val_size=st.sampled_from([0.0, 0.2, 1, 2, 0.0]),
    weighted=st.booleans(),
    weights=st.lists(st.integers(1, 4), min_size=3, max_size=3),
    max_samples=st.one_of(st.none(), st.integers(1, 20)),
    batch_size=st.integers(1, 4),
    seed=st.integers(0, 3),
)
def test_the_data_path_keeps_its_books(sources, cutoff, truncation, val_size, weighted, weights, max_samples,
                                       batch_size, seed) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for index, lengths in enumerate(sources):
            path = Path(tmp) / f"{MARKERS[index]}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in _rows(index, lengths)), encoding="utf-8")
            paths.append(path)
        mix = weights[: len(paths)] if weighted else None
        try:
            data = prepare_sft(paths, TOKENIZER, chatml, cutoff_len=cutoff, truncation=truncation,
                               val_size=val_size, mix_weights=mix, max_samples=max_samples, seed=seed)
        except FrameworkError as exc:
            assert "\n" not in str(exc)
            event(f"refused: {type(exc).__name__}")
            return
    report = data.report
    event(f"prepared ({'some dropped' if report.dropped_total else 'none dropped'})")
    total = sum(len(s) for s in sources)
    assert report.read == (total if max_samples is None else min(total, max_samples))
    assert report.kept + report.dropped_total == report.read
    held = len(data.eval) if data.eval is not None else 0
    assert held == report.eval
    if mix is None:
        assert len(data.train) + held == report.kept  # nothing resampled
    rows = list(data.train) + (list(data.eval) if data.eval is not None else [])
    for row in rows:
        _check_row(row, cutoff)
    counts = [0] * len(paths)
    for row in data.train:
        counts[_source(TOKENIZER.decode(row["input_ids"]))] += 1
    if len(paths) > 1:
        assert report.mixture == {str(p): n for p, n in zip(paths, counts)}
        assert sum(report.mixture.values()) == len(data.train)
    train = list(data.train)
    for start in range(0, len(train), batch_size):
        part = train[start:start + batch_size]
        _check_batch(PackingCollator()(part))
        _check_batch(PaddedCollator(pad_token_id=TOKENIZER.pad_token_id)(part))
