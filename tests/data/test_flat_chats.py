"""The flat batch form and its cutoff rules, checked against the per-sample rules written out
(the rules ``_TokenizeBatch`` applied one sample at a time before batches became flat arrays)."""

from __future__ import annotations

import random

import numpy as np

from framework.chat import IGNORE_INDEX, TokenizedChat
from framework.data.flat_chats import KEEP, NO_LABEL, TOO_LONG, TRUNCATED, FlatChats, concat_rows, cut


def per_sample(chat: TokenizedChat, cutoff: int, truncate: bool) -> tuple[list[int], list[int], list[int], int, int]:
    ids, labels, kinds = chat.input_ids, chat.labels, chat.kinds or []
    code = KEEP
    if len(ids) > cutoff:
        if truncate:
            ids, labels, kinds, code = ids[:cutoff], labels[:cutoff], kinds[:cutoff], TRUNCATED
        else:
            code = TOO_LONG
    if code != TOO_LONG and labels.count(IGNORE_INDEX) == len(labels):
        code = NO_LABEL
    length = len(ids)
    if code in (TOO_LONG, NO_LABEL):
        ids, labels, kinds = [], [], []
    return ids, labels, kinds, code, length


def chats(seed: int) -> list[TokenizedChat]:
    rng = random.Random(seed)
    out = []
    for _ in range(60):
        n = rng.choice([0, 1, 3, 7, 8, 9, 15])
        ids = [rng.randrange(1000) for _ in range(n)]
        start = rng.randrange(n + 1)  # labels only from `start` on: past the cutoff for some rows
        labels = [t if k >= start else IGNORE_INDEX for k, t in enumerate(ids)]
        out.append(TokenizedChat(ids, labels, rng.random() < 0.2, [rng.randrange(5) for _ in ids]))
    return out


def test_cut_follows_the_per_sample_rules():
    for seed in range(4):
        rows = chats(seed)
        for truncate in (True, False):
            flat, status, lengths = cut(FlatChats.from_chats(rows, with_kinds=True), 8, truncate)
            got = flat.to_chats()
            for r, chat in enumerate(rows):
                ids, labels, kinds, code, length = per_sample(chat, 8, truncate)
                assert (got[r].input_ids, got[r].labels, got[r].kinds) == (ids, labels, kinds)
                assert (int(status[r]), int(lengths[r])) == (code, length)
                assert got[r].injected_special_text == chat.injected_special_text
            assert {KEEP, NO_LABEL, TRUNCATED if truncate else TOO_LONG} <= set(status.tolist())


def test_concat_rows_puts_parts_back_in_row_order():
    rows = chats(7)
    picked = [1, 4, 5, 20, 59]
    rest = [i for i in range(len(rows)) if i not in picked]
    joined = concat_rows(
        [(rest, FlatChats.from_chats([rows[i] for i in rest])), (picked, FlatChats.from_chats([rows[i] for i in picked]))],
        len(rows),
    )
    assert joined.to_chats() == [TokenizedChat(c.input_ids, c.labels, c.injected_special_text) for c in rows]
    assert np.array_equal(np.diff(joined.bounds), [len(c.input_ids) for c in rows])
