"""``TiktokenChats`` shortcuts give what the plain scans gave.

``chat_specials`` finds control tokens per segment (template texts scanned once) and must give
the set ``present_specials`` gives over the joined texts, control-token text across segment ends
and inside data included. ``_label`` measures segments by comprehensions and marks tokens with
``np.repeat``; ``_label_reference`` below is its former per-segment loop, the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import framework.data.tiktoken_encoder as fast
from framework.chat import IGNORE_INDEX, KINDS, segment_trained, trained_message_indices
from framework.data.flat_chats import FlatChats, bounds_of
from framework.hookdata import RenderedChat, Segment

from .conftest import llama3_tokenizer

#: Control-token sets of different shapes: a common prefix (Llama 3), several first characters
#: (Tekken), one token the prefix of another, tokens made of characters data holds, one with a NUL.
SPECIAL_SETS = {
    "llama": ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>"],
    "tekken": ["[INST]", "[/INST]", "<s>", "</s>", "[TOOL_CALLS]"],
    "nested": ["<|a|>", "<|a|>b", "<|ab|>", "|>"],
    "letters": ["ab", "ba", "aba", "b"],
    "nul": ["<\0>", "<x>"],
}


def _chats_for(specials: list[str]) -> st.SearchStrategy[list[RenderedChat]]:
    """Chats whose segments are made of the control tokens, their heads and tails, and text."""
    pieces = [*specials, *(t[:i] for t in specials for i in range(1, len(t))),
              *(t[i:] for t in specials for i in range(1, len(t))), "x", " ", "中文", "\n", "<", "\0", ""]
    text = st.lists(st.sampled_from(pieces), max_size=4).map("".join)
    segment = st.builds(Segment, text, from_data=st.booleans())
    chat = st.lists(segment, max_size=6).map(lambda segs: RenderedChat(tuple(segs)))
    return st.lists(chat, max_size=4)


def _chats(name: str) -> fast.TiktokenChats:
    vocab = fast.FastVocab(None, np.zeros(1, dtype=np.int64), nfc=False, specials=frozenset(SPECIAL_SETS[name]))
    return fast.TiktokenChats(vocab)


@pytest.mark.parametrize("name", list(SPECIAL_SETS))
def test_chat_specials_are_the_present_specials(name):
    chats = _chats(name)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_chats_for(SPECIAL_SETS[name]))
    def check(rendered):
        assert chats.chat_specials(rendered) == chats.present_specials([chat.text for chat in rendered])

    check()


def test_template_control_tokens_are_found_without_the_whole_scan():
    """The shortcut is taken for a plain chat (data with ``<`` included) and refused where a
    control token runs across a segment's end or a template's end could begin one."""
    pieces = _chats("llama")._pieces
    plain = RenderedChat((Segment("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"),
                          Segment("a < b and <|eot_id|> inside", from_data=True), Segment("<|eot_id|>")))
    assert pieces.of_chats([plain]) == {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                        "<|eot_id|>"}
    across = RenderedChat((Segment("hello <|eot"), Segment("_id|>", from_data=True)))
    assert pieces.of_chats([across]) is None
    assert _chats("llama").chat_specials([across]) == {"<|eot_id|>"}
    assert pieces.of_chats([RenderedChat((Segment("ends with <|e"),))]) is None
    assert _chats("nul")._pieces is None


def test_template_scans_are_remembered_up_to_a_limit(monkeypatch):
    pieces = _chats("llama")._pieces
    monkeypatch.setattr(fast._PieceScan, "LIMIT", 35)  # three texts of 11 characters
    for i in range(7):
        pieces.of_chats([RenderedChat((Segment(f"<|eot_id|>{i}"),))])
        assert 1 <= len(pieces.known) <= 3 and pieces.held == 11 * len(pieces.known)
    assert pieces.of_chats([RenderedChat((Segment("<|eot_id|>6"),))]) == {"<|eot_id|>"}
    assert "<|eot_id|>6" in pieces.known


def test_tokenize_flat_ids_are_those_of_the_plain_encode():
    """Llama 3's vocabulary: control-token text across a segment end and inside data gets the ids
    an encode with ``present_specials`` of the whole texts gives."""
    vocab = fast.fast_vocab(llama3_tokenizer())
    chats = fast.TiktokenChats(vocab)
    rendered = [
        RenderedChat((Segment("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"),
                      Segment("hi <|eom_id|> 中文", from_data=True, message_index=0), Segment("<|eot_id|>"),
                      Segment("reply", trainable=True, message_index=1, from_data=True),
                      Segment("<|eot_id|>", trainable=True, message_index=1))),
        RenderedChat((Segment("<|start_header_id|"), Segment(">x <|python_tag", from_data=True),
                      Segment("|>", trainable=True, message_index=1))),
    ]
    flat = chats.tokenize_flat(rendered, "all_assistant", lambda chats: [])
    plain = chats.encode([chat.text for chat in rendered])
    assert [flat.ids[a:b].tolist() for a, b in zip(flat.bounds[:-1], flat.bounds[1:])] == [
        row.tolist() for row in plain]
    assert 128010 in plain[1].tolist()  # <|python_tag|>, formed across a segment end, parsed


def _label_reference(ids, rendered, token_bytes, train_on, train_reasoning, with_kinds):
    """``tiktoken_encoder._label`` as it was: a loop per segment, a running sum of span marks."""
    sizes = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    bounds = bounds_of(sizes)
    flat = np.concatenate(ids).astype(np.int32) if ids else np.zeros(0, dtype=np.int32)
    lengths = token_bytes[flat]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    lo, hi, seg_ends, seg_kinds, text_ends = [], [], [], [], []
    pos = 0
    for chat in rendered:
        segs = chat.segments
        keep = trained_message_indices(segs, train_on)
        for seg in segs:
            text = seg.text
            end = pos + (len(text) if text.isascii() else len(text.encode("utf-8")))
            if end > pos and segment_trained(seg, keep, train_reasoning):
                lo.append(pos)
                hi.append(end)
            if with_kinds:
                seg_ends.append(end)
                seg_kinds.append(KINDS.index(seg.kind))
            pos = end
        text_ends.append(pos)
    filled = sizes > 0
    if not np.array_equal(ends[bounds[1:][filled] - 1], np.asarray(text_ends, dtype=np.int64)[filled]):
        return None
    first = np.searchsorted(ends, np.asarray(lo, dtype=np.int64), side="right")
    last = np.searchsorted(starts, np.asarray(hi, dtype=np.int64), side="left")
    marks = np.zeros(len(flat) + 1, dtype=np.int64)
    np.add.at(marks, first, 1)
    np.add.at(marks, last, -1)
    labels = np.where(np.cumsum(marks[:-1]) > 0, flat, IGNORE_INDEX).astype(np.int32)
    kinds = None
    if with_kinds:
        k = np.searchsorted(np.asarray(seg_ends, dtype=np.int64), starts, side="right")
        kinds = np.asarray(seg_kinds, dtype=np.int32)[np.minimum(k, len(seg_kinds) - 1)]
    return FlatChats(flat, labels, bounds, np.zeros(len(ids), dtype=bool), kinds)


#: A toy vocabulary for labelling: token ``n`` is ``n`` bytes long, so any cut of a text's bytes
#: into pieces of 1 to 8 bytes is a tokenization (tokens straddle segment ends at random); 9 runs past an end.
_TOKEN_BYTES = np.arange(10, dtype=np.int64)

_SEGMENT = st.builds(
    Segment,
    st.sampled_from(["", "a", "hello ", "中文", "🙂", "<|eot_id|>", "x" * 20, "é"]),
    trainable=st.booleans(),
    message_index=st.sampled_from([None, 0, 1, 2]),
    from_data=st.booleans(),
    kind=st.sampled_from(KINDS),
)


@st.composite
def _batches(draw):
    """Chats and token ids whose byte lengths add up to each chat's text (or, rarely, do not)."""
    rendered = draw(st.lists(st.lists(_SEGMENT, max_size=6).map(lambda s: RenderedChat(tuple(s))), max_size=5))
    ids = []
    for chat in rendered:
        left, row = len(chat.text.encode("utf-8")), []
        while left:
            row.append(draw(st.integers(1, min(8, left))))
            left -= row[-1]
        if row and draw(st.integers(0, 30)) == 0:
            row[-1] += 1  # token bytes past the text's end: both give None
        ids.append(np.asarray(row, dtype=np.uint32))
    return rendered, ids


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batches(), st.sampled_from(["all_assistant", "last_assistant", "everything"]), st.booleans(), st.booleans())
def test_label_gives_what_the_segment_loop_gave(batch, train_on, train_reasoning, with_kinds):
    rendered, ids = batch
    got = fast._label(ids, rendered, _TOKEN_BYTES, train_on, train_reasoning, with_kinds)
    want = _label_reference(ids, rendered, _TOKEN_BYTES, train_on, train_reasoning, with_kinds)
    assert (got is None) == (want is None)
    if want is not None:
        for name in ("ids", "labels", "bounds", "special", "kinds"):
            a, b = getattr(got, name), getattr(want, name)
            assert (a is None) == (b is None), name
            if b is not None:
                assert a.dtype == b.dtype and np.array_equal(a, b), name
