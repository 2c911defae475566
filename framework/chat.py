"""From a rendered conversation to token ids and labels.

The plugin renders text segments; this module tokenizes the *whole* rendered string in one
call and maps trainable character spans onto tokens. Tokenizing the whole string is what the
official ``apply_chat_template(tokenize=True)`` does, so ids match it token for token, segment
boundaries included (tokenizing segments one by one can merge or split differently at the
seams, the classic train/inference drift).

The one exception is data that contains control-token text (a literal ``<|eot_id|>`` in a
user message): by default those pieces are tokenized with special-token parsing off, so data
can never inject a turn boundary.

Reasoning segments (``Segment.kind == "reasoning"``) are trained like the rest of the reply
unless ``train_reasoning`` is off; on request each token also gets the kind of the segment it
starts in, so ``framework render`` can mark reasoning, tool calls and tool results apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from framework.hookdata import RenderedChat, Segment, SegmentKind, TrainOn

IGNORE_INDEX = -100
#: Segment kinds in the order of their codes in ``TokenizedChat.kinds``.
KINDS: tuple[SegmentKind, ...] = ("text", "reasoning", "tool_call", "tool_result", "tools")
_KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}


@dataclass(frozen=True, slots=True)
class TokenizedChat:
    """Token ids with their labels (``IGNORE_INDEX`` where no loss is taken)."""

    input_ids: list[int]
    labels: list[int]
    injected_special_text: bool = False
    kinds: list[int] | None = None  # per token: index into KINDS, when asked for


def special_token_strings(tokenizer: Any) -> frozenset[str]:
    """Every control-token string the tokenizer would parse as one special token."""
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    specials = {tok.content for tok in decoder.values() if getattr(tok, "special", False)}
    specials.update(getattr(tokenizer, "all_special_tokens", []) or [])
    return frozenset(s for s in specials if s)


def trained_message_indices(segments: Sequence[Segment], train_on: TrainOn) -> set[int | None] | None:
    """Which segments carry loss under a policy; None means every token (``everything``)."""
    if train_on == "everything":
        return None
    indices = {s.message_index for s in segments if s.trainable}
    if train_on == "last_assistant":
        numbered = [i for i in indices if i is not None]
        return {max(numbered)} if numbered else indices
    return indices


def segment_trained(seg: Segment, keep: set[int | None] | None, train_reasoning: bool = True) -> bool:
    """Whether a segment's text carries loss: ``keep`` from ``trained_message_indices``, reasoning
    only when trained."""
    on = True if keep is None else (seg.trainable and seg.message_index in keep)
    return on and (train_reasoning or seg.kind != "reasoning")


def _trained_spans(
    segments: Sequence[Segment], keep: set[int | None] | None, train_reasoning: bool = True
) -> list[tuple[int, int]]:
    """Merged, sorted character spans that carry loss (reasoning left out unless trained)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for seg in segments:
        end = pos + len(seg.text)
        if end > pos and segment_trained(seg, keep, train_reasoning):
            if spans and spans[-1][1] == pos:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((pos, end))
        pos = end
    return spans


def _labels_from_offsets(
    ids: Sequence[int], offsets: Sequence[tuple[int, int]], spans: list[tuple[int, int]]
) -> list[int]:
    """A token is trained when any of its characters lies in a trained span.

    Offsets increase along the sequence, so one pass over tokens and spans suffices.
    """
    labels = [IGNORE_INDEX] * len(ids)
    j = 0
    n = len(spans)
    for k, (start, end) in enumerate(offsets):
        end = max(end, start + 1)
        while j < n and spans[j][1] <= start:
            j += 1
        if j < n and spans[j][0] < end:
            labels[k] = ids[k]
    return labels


def _labels_from_encoding(encoding: Any, spans: list[tuple[int, int]]) -> list[int] | None:
    """Labels from a Rust ``tokenizers.Encoding``: span edges located with ``char_to_token``.

    Same rule as ``_labels_from_offsets`` (a token is trained when any of its characters lies in
    a trained span) but the work is per span, not per token: preprocessing of long samples is
    dominated by this step otherwise. Returns None when an edge cannot be located (the caller
    then falls back to the per-token rule).
    """
    ids = encoding.ids
    n = len(ids)
    labels = [IGNORE_INDEX] * n
    for start, end in spans:
        first = encoding.char_to_token(start)
        last = encoding.char_to_token(end - 1)
        if first is None or last is None:
            return None
        last += 1
        while last < n and encoding.token_to_chars(last)[0] < end:
            last += 1
        while first > 0:
            s, e = encoding.token_to_chars(first - 1)
            if max(e, s + 1) <= start:
                break
            first -= 1
        labels[first:last] = ids[first:last]
    return labels


def _token_kinds(segments: Sequence[Segment], offsets: Sequence[tuple[int, int]]) -> list[int]:
    """Per token, the code of the kind of the segment its first character lies in."""
    bounds: list[tuple[int, int]] = []  # (segment end, kind code)
    pos = 0
    for seg in segments:
        pos += len(seg.text)
        bounds.append((pos, _KIND_CODE[seg.kind]))
    kinds: list[int] = []
    j = 0
    for start, _ in offsets:
        while j < len(bounds) - 1 and bounds[j][0] <= start:
            j += 1
        kinds.append(bounds[j][1] if bounds else 0)
    return kinds


def _injected(segments: Sequence[Segment], specials: frozenset[str]) -> list[bool]:
    return [seg.from_data and any(sp in seg.text for sp in specials) for seg in segments]


def tokenize_chat(
    tokenizer: Any,
    rendered: RenderedChat,
    train_on: TrainOn = "all_assistant",
    *,
    specials: frozenset[str] | None = None,
    allow_special_in_data: bool = False,
    train_reasoning: bool = True,
    with_kinds: bool = False,
) -> TokenizedChat:
    """Tokenize one rendered conversation; see ``tokenize_chats`` for the batched form."""
    return tokenize_chats(
        tokenizer, [rendered], train_on, specials=specials, allow_special_in_data=allow_special_in_data,
        train_reasoning=train_reasoning, with_kinds=with_kinds,
    )[0]


def tokenize_chats(
    tokenizer: Any,
    rendered: Sequence[RenderedChat],
    train_on: TrainOn = "all_assistant",
    *,
    specials: frozenset[str] | None = None,
    allow_special_in_data: bool = False,
    train_reasoning: bool = True,
    with_kinds: bool = False,
) -> list[TokenizedChat]:
    """Tokenize a batch of rendered conversations in one tokenizer call.

    Args:
        tokenizer: a fast tokenizer (offset mapping is required).
        rendered: conversations rendered by the selected plugin.
        train_on: loss policy: every assistant turn, the last one, or every token.
        specials: control-token strings (computed once by the caller for speed).
        allow_special_in_data: parse control-token text inside data as control tokens.
        train_reasoning: reasoning segments carry loss (``data.train_on_reasoning``).
        with_kinds: also give each token the kind of its segment (``TokenizedChat.kinds``).
    """
    if specials is None:
        specials = special_token_strings(tokenizer)
    plain: list[int] = []
    results: list[TokenizedChat | None] = [None] * len(rendered)
    for i, chat in enumerate(rendered):
        if not allow_special_in_data and any(_injected(chat.segments, specials)):
            results[i] = _tokenize_protected(tokenizer, chat, train_on, specials, train_reasoning, with_kinds)
        else:
            plain.append(i)
    if plain:
        texts = [rendered[i].text for i in plain]
        enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
        encodings = _rust_encodings(enc)
        for row, i in enumerate(plain):
            segs = rendered[i].segments
            spans = _trained_spans(segs, trained_message_indices(segs, train_on), train_reasoning)
            ids = enc["input_ids"][row]
            labels = _labels_from_encoding(encodings[row], spans) if encodings else None
            if labels is None:
                labels = _labels_from_offsets(ids, enc["offset_mapping"][row], spans)
            kinds = _token_kinds(segs, enc["offset_mapping"][row]) if with_kinds else None
            results[i] = TokenizedChat(ids, labels, kinds=kinds)
    return [r for r in results if r is not None]


def _rust_encodings(enc: Any) -> list[Any] | None:
    """The ``tokenizers.Encoding`` objects behind a batch, when the tokenizer exposes them."""
    try:
        encodings = enc.encodings if hasattr(enc, "encodings") else enc.get("_encodings")
    except (AttributeError, ValueError):
        return None
    if not encodings or not hasattr(encodings[0], "char_to_token"):
        return None
    return list(encodings)


def _tokenize_protected(
    tokenizer: Any,
    chat: RenderedChat,
    train_on: TrainOn,
    specials: frozenset[str],
    train_reasoning: bool = True,
    with_kinds: bool = False,
) -> TokenizedChat:
    """Tokenize with control-token text inside data segments kept as plain text.

    The string is cut around each offending data segment; the pieces between are tokenized
    normally (template control tokens stay control tokens), the offending pieces with
    ``split_special_tokens=True``.
    """
    segs = chat.segments
    spans = _trained_spans(segs, trained_message_indices(segs, train_on), train_reasoning)
    flags = _injected(segs, specials)
    pieces: list[tuple[str, bool, int]] = []  # text, protect, char offset
    offset = 0
    for seg, protect in zip(segs, flags):
        if pieces and pieces[-1][1] == protect:
            text, _, start = pieces[-1]
            pieces[-1] = (text + seg.text, protect, start)
        else:
            pieces.append((seg.text, protect, offset))
        offset += len(seg.text)
    ids: list[int] = []
    labels: list[int] = []
    offsets: list[tuple[int, int]] = []
    for text, protect, start in pieces:
        enc = tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, split_special_tokens=protect
        )
        shifted = [(a + start, b + start) for a, b in enc["offset_mapping"]]
        ids.extend(enc["input_ids"])
        labels.extend(_labels_from_offsets(enc["input_ids"], shifted, spans))
        offsets.extend(shifted)
    kinds = _token_kinds(segs, offsets) if with_kinds else None
    return TokenizedChat(ids, labels, injected_special_text=True, kinds=kinds)
