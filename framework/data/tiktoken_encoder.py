"""tiktoken as the encoder of a byte-level BPE tokenizer whose merges follow its ranks.

Why: preprocessing is dominated by the tokenizer. For a vocabulary converted from tiktoken
ranks (the merge list is every split of every token, ordered by the rank of the result), BPE
by merge priority and tiktoken's "merge the lowest-ranked pair" give the same tokens, and
tiktoken's encoder is about 3x cheaper than the ``tokenizers`` one (``bench/preprocess.py
--breakdown``: 1.32 against 3.94 CPU s per 20,000 samples), with no offsets to convert.

The encoding is built generically from the tokenizer's own ``tokenizer.json``: the pattern of its
``Split`` pre-tokenizer (or GPT-2's, for a plain ``ByteLevel`` one), the vocabulary decoded from
the byte-level alphabet as ranks, and its added tokens as special tokens. ``fast_vocab`` returns
a reason instead when the tokenizer is anything else (another model type, a normalizer other
than NFC, merges that do not follow the ranks, added tokens that strip spaces, ...). Labels and
kinds come from token byte lengths (``TiktokenChats.tokenize_flat``), so no per-token loop runs
in Python.

Nothing here is trusted blindly: ``framework.data.pipeline`` uses the encoder only after it gives
the ids, labels and kinds of the present path on probes and on the first samples of the data.
"""

from __future__ import annotations

import json
import operator
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framework.chat import IGNORE_INDEX, KINDS, TokenizedChat, segment_trained, trained_message_indices
from framework.data import tiktoken_cache
from framework.data.cache import tokenizer_fingerprint
from framework.data.flat_chats import FlatChats, bounds_of, concat_rows
from framework.data.tiktoken_cache import VocabForm
from framework.hookdata import RenderedChat, Segment, TrainOn

#: The pre-tokenizer regex of a ``ByteLevel(use_regex=True)`` pre-tokenizer (GPT-2's).
_GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

#: (id of the backend, its size with added tokens) -> (backend, vocab or reason); the size makes a
#: token added after the first build a new entry.
_CACHE: dict[tuple[int, int], tuple[Any, FastVocab | str]] = {}


@dataclass(frozen=True)
class FastVocab:
    """A tiktoken encoding equal to a fast tokenizer's BPE, with what labelling needs."""

    encoding: Any  # tiktoken.Encoding
    token_bytes: np.ndarray  # int64, per id: the byte length of its text (specials included)
    nfc: bool  # the tokenizer normalizes to NFC: text that is not NFC already takes the present path
    specials: frozenset[str] = field(default_factory=frozenset)


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte-level alphabet as a ``str.translate`` table: code point of the alphabet's
    character -> the character of the byte it stands for (inverse of ``bytes_to_unicode``), so
    ``token.translate(table).encode("latin-1")`` gives a token's bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    table = {b: "\uffff" for b in range(256) if b not in printable}  # outside the alphabet: fails latin-1
    table.update({c: chr(b) for b, c in chars.items()})
    return table


def _pattern(pre: dict[str, Any] | None) -> str | None:
    """The split regex of a byte-level pre-tokenizer that adds no prefix space, else None."""
    if not pre:
        return None
    if pre.get("type") == "ByteLevel":
        return _GPT2_PATTERN if pre.get("use_regex", True) and not pre.get("add_prefix_space") else None
    if pre.get("type") != "Sequence" or len(pre.get("pretokenizers", [])) != 2:
        return None
    split, level = pre["pretokenizers"]
    regex = (split.get("pattern") or {}).get("Regex")
    ok_split = split.get("type") == "Split" and split.get("behavior") == "Isolated" and not split.get("invert")
    ok_level = level.get("type") == "ByteLevel" and not level.get("use_regex") and not level.get("add_prefix_space")
    return regex if ok_split and ok_level and regex else None


def _merges(model: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else (m[0], m[1]) for m in model.get("merges", [])]


def _merges_follow_ranks(vocab: dict[str, int], merges: list[tuple[str, str]]) -> str | None:
    """None when the merge list is every split of every token, in the order of the merged
    token's rank (what makes BPE by merge priority equal tiktoken's lowest-rank merging).

    The loops run in ``map`` (C), not in Python statements: a 128k vocabulary has 280k merges
    and 800k splits to look at."""
    left, right = [m[0] for m in merges], [m[1] for m in merges]
    merged = list(map(vocab.get, map(operator.add, left, right)))
    if None in merged or not all(map(vocab.__contains__, left)) or not all(map(vocab.__contains__, right)):
        return "a merge makes no token of the vocabulary"
    if np.any(np.diff(np.asarray(merged, dtype=np.int64)) < 0):
        return "the merges are not in the order of the merged tokens' ranks"
    splits = 0
    tokens = sorted((t for t in vocab if len(t) > 1), key=len, reverse=True)
    longer = np.fromiter(map(len, tokens), np.int64, len(tokens))[::-1]  # ascending lengths
    for i in range(1, int(longer[-1]) if len(tokens) else 1):
        tokens = tokens[: len(longer) - int(np.searchsorted(longer, i, side="right"))]  # those longer than i
        heads = map(vocab.__contains__, map(operator.itemgetter(slice(None, i)), tokens))
        tails = map(vocab.__contains__, map(operator.itemgetter(slice(i, None)), tokens))
        splits += sum(map(operator.and_, heads, tails))
    if splits != len(set(merges)) or len(set(merges)) != len(merges):
        return f"the merges ({len(merges)}) are not every split of the vocabulary's tokens ({splits})"
    return None


def derive_form(spec_text: str) -> VocabForm | str:
    """The tiktoken form's parts from a serialized ``tokenizer.json``, or why there is none."""
    spec = json.loads(spec_text)
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback") or model.get("dropout"):
        return "the model is not a byte-level BPE without dropout"
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        return "the BPE has subword affixes"
    normalizer = spec.get("normalizer")
    if normalizer is not None and normalizer.get("type") != "NFC":
        return f"the normalizer {normalizer.get('type')} is not NFC"
    pattern = _pattern(spec.get("pre_tokenizer"))
    if pattern is None:
        return "the pre-tokenizer is not a byte-level split without a prefix space"
    alphabet = _byte_alphabet()
    vocab: dict[str, int] = model.get("vocab") or {}
    try:
        ranks = {token.translate(alphabet).encode("latin-1"): rank for token, rank in vocab.items()}
    except UnicodeEncodeError:
        return "the vocabulary has a token outside the byte-level alphabet"
    if any(bytes([b]) not in ranks for b in range(256)):
        return "the vocabulary lacks single bytes"
    reason = _merges_follow_ranks(vocab, _merges(model))
    if reason:
        return reason
    added = spec.get("added_tokens") or []
    if any(t.get("lstrip") or t.get("rstrip") or t.get("single_word") for t in added):
        return "an added token strips spaces or matches single words only"
    return VocabForm(pattern, ranks, {t["content"]: t["id"] for t in added}, nfc=normalizer is not None)


def _from_form(form: VocabForm) -> FastVocab | str:
    import tiktoken

    size = max([*form.ranks.values(), *form.specials.values()]) + 1
    lengths = np.zeros(size, dtype=np.int64)
    count = len(form.ranks)
    lengths[np.fromiter(form.ranks.values(), np.int64, count)] = np.fromiter(map(len, form.ranks), np.int64, count)
    for text, rank in form.specials.items():
        lengths[rank] = len(text.encode("utf-8"))
    try:
        encoding = tiktoken.Encoding(
            "framework-fast", pat_str=form.pattern, mergeable_ranks=form.ranks, special_tokens=form.specials
        )
    except Exception as exc:  # a regex tiktoken's engine does not take, colliding ids
        return f"tiktoken refused the vocabulary ({exc})"
    return FastVocab(encoding, lengths, nfc=form.nfc, specials=frozenset(form.specials))


def _build(tokenizer: Any, cache_dir: Path | None, fingerprint: str | None) -> FastVocab | str:
    try:
        import tiktoken
    except ImportError:
        return "tiktoken is not installed"
    if not hasattr(tiktoken.Encoding, "encode_to_numpy"):
        return "tiktoken is older than 0.8"
    if cache_dir is None:
        form = derive_form(tokenizer.backend_tokenizer.to_str())
    else:  # a kept form is read without serializing the tokenizer again (0.1 s for a 128k vocabulary)
        fingerprint = fingerprint or tokenizer_fingerprint(tokenizer)
        form = tiktoken_cache.load(cache_dir, fingerprint)
        if form is None:
            form = derive_form(tokenizer.backend_tokenizer.to_str())
            tiktoken_cache.save(cache_dir, fingerprint, form)
    return form if isinstance(form, str) else _from_form(form)


def fast_vocab(tokenizer: Any, cache_dir: Path | None = None, fingerprint: str | None = None) -> FastVocab | str:
    """The tiktoken form of a fast tokenizer, or why there is none: built once per tokenizer and
    process, and its slow part kept under ``cache_dir`` (``framework.data.tiktoken_cache``) when
    given, found by ``fingerprint`` (``framework.data.cache.tokenizer_fingerprint``, which the data
    cache's key has computed already; computed here when None)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return "the tokenizer has no tokenizers backend"
    if getattr(backend, "padding", None) or getattr(backend, "truncation", None):
        return "the backend pads or truncates"
    key = (id(backend), backend.get_vocab_size(with_added_tokens=True))
    cached = _CACHE.get(key)
    if cached is None or cached[0] is not backend:
        cached = (backend, _build(tokenizer, cache_dir, fingerprint))
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = cached
    return cached[1]


class TiktokenChats:
    """``framework.chat.tokenize_chats`` on a ``FastVocab``, for chats without control-token text
    in data, as flat arrays (``framework.data.flat_chats.FlatChats``).

    Control-token text of the template is parsed as control tokens (as the tokenizer's added
    tokens are). Chats the encoder cannot take exactly (text that NFC would change) go to
    ``fallback``, the present path.
    """

    def __init__(self, vocab: FastVocab) -> None:
        self.vocab = vocab
        self._special_text = _literal_alternation(vocab.specials)
        self._pieces = _PieceScan.of(vocab.specials, self._special_text)

    def present_specials(self, texts: Sequence[str]) -> frozenset[str]:
        """The control-token strings that occur in the texts: the only ones an encode call needs.

        tiktoken turns the ``allowed_special`` set into a Rust set on every call; with 256 of them
        (bench/preprocess.py's vocabulary) that cost 26 of the 61 CPU-µs of an alpaca sample (35 with the four
        strings a template uses). One regex pass over the batch finds them, wherever they are,
        boundaries between segments included (4 µs a sample)."""
        if self._special_text is None:
            return frozenset()
        return frozenset(self._special_text.findall("\0".join(texts)))

    def chat_specials(self, rendered: Sequence[RenderedChat]) -> frozenset[str]:
        """``present_specials`` of the chats' texts, found per segment instead of over every character.

        A rendered chat's control tokens sit in its template segments, whose texts repeat from
        chat to chat: each distinct one is scanned once (``_PieceScan``). Data segments are only
        looked at when they hold a character a control token starts with. Where a control token
        could run across a segment's end, the whole texts are scanned as before, so the set is
        always the one ``present_specials`` gives (tests/data/test_tiktoken_chats.py).
        4.1 -> 0.6 µs a sample of bench/preprocess.py."""
        found = None if self._pieces is None else self._pieces.of_chats(rendered)
        return self.present_specials([chat.text for chat in rendered]) if found is None else found

    def encode(self, texts: Sequence[str], allowed: frozenset[str] | None = None) -> list[np.ndarray | None]:
        """Token ids of each text, None where tiktoken cannot take the text (a lone surrogate).
        ``allowed``: the control-token strings to parse, ``present_specials(texts)`` when None.

        One thread: more cores are used through more processes (``data.num_proc``)."""
        encode = self.vocab.encoding.encode_to_numpy
        allowed = self.present_specials(texts) if allowed is None else allowed
        out: list[np.ndarray | None] = []
        for text in texts:
            try:
                out.append(encode(text, allowed_special=allowed, disallowed_special=()))
            except UnicodeEncodeError:
                out.append(None)
        return out

    def tokenize_flat(
        self,
        rendered: Sequence[RenderedChat],
        train_on: TrainOn,
        fallback: Callable[[list[RenderedChat]], list[TokenizedChat]],
        *,
        train_reasoning: bool = True,
        with_kinds: bool = False,
    ) -> FlatChats:
        """Ids, labels (and kinds) of each chat as ``framework.chat.tokenize_chats`` gives them, in
        flat arrays; chats the encoder cannot take exactly go to ``fallback`` (the present path).
        Each chat's text is joined once (0.9 µs a sample), for the encoder and the NFC check."""
        texts = [chat.text for chat in rendered]
        ids = self.encode(texts, self.chat_specials(rendered))
        odd = [i for i, row in enumerate(ids) if row is None]
        if self.vocab.nfc:
            odd += [i for i, text in enumerate(texts) if ids[i] is not None
                    and not unicodedata.is_normalized("NFC", text)]
        chosen = set(odd)
        keep = [i for i in range(len(rendered)) if i not in chosen]
        kept_ids, kept = (ids, rendered) if not odd else ([ids[i] for i in keep], [rendered[i] for i in keep])
        done = _label(kept_ids, kept, self.vocab.token_bytes,  # type: ignore[arg-type]
                      train_on, train_reasoning, with_kinds)
        if done is None:  # never seen: the token bytes did not add up to the texts
            keep, odd = [], list(range(len(rendered)))
        odd.sort()
        parts = [(keep, done)] if keep else []
        if odd:
            parts.append((odd, FlatChats.from_chats(fallback([rendered[i] for i in odd]), with_kinds)))
        return concat_rows(parts, len(rendered))  # type: ignore[arg-type]


@dataclass
class _PieceScan:
    """The control tokens of pieces of text (segments), and whether one could run past a piece's end.

    Scanning texts piece by piece finds what one scan of the joined texts finds as long as no
    match runs across a piece's end: a match lying inside a piece is the one found there either way
    (the pattern is a literal alternation), and a match that runs past a piece's end begins with a
    suffix of that piece which is a proper prefix of a control token (``heads``). No match begins in
    a piece without one of the tokens' first characters (``firsts``)."""

    pattern: re.Pattern[str]
    firsts: str  # the first characters of the control tokens
    heads: frozenset[str]  # every nonempty proper prefix of a control token
    longest: int  # characters of the longest control token
    known: dict[str, tuple[frozenset[str], bool]] = field(default_factory=dict)  # template text -> scan
    held: int = 0  # characters of the texts in ``known``

    #: characters of template texts remembered; past it all are forgotten at once (templates that
    #: hold a date, a system prompt or tool declarations per sample would otherwise keep every text)
    LIMIT = 1 << 20

    @classmethod
    def of(cls, specials: frozenset[str], pattern: re.Pattern[str] | None) -> _PieceScan | None:
        """None when piece scans could miss a match: without control tokens, or with one holding
        the NUL that ``present_specials`` joins texts with."""
        tokens = [t for t in specials if t]
        if pattern is None or any("\0" in t for t in tokens):
            return None
        heads = frozenset(t[:i] for t in tokens for i in range(1, len(t)))
        return cls(pattern, "".join(sorted({t[0] for t in tokens})), heads, max(map(len, tokens)))

    def scan(self, text: str) -> tuple[frozenset[str], bool]:
        """The control tokens in a piece, and whether one could begin in it and run past its end."""
        tail = text[len(text) - self.longest + 1:] if len(text) >= self.longest else text
        runs_on = any(tail[i] in self.firsts and tail[i:] in self.heads for i in range(len(tail)))
        return frozenset(self.pattern.findall(text)), runs_on

    def may_hold(self, text: str) -> bool:
        """Whether a control token could begin in the text (one substring scan per first character)."""
        return any(first in text for first in self.firsts)

    def of_chats(self, rendered: Sequence[RenderedChat]) -> frozenset[str] | None:
        """The control tokens of the chats' texts, None when a piece scan cannot tell (a match could
        run across a segment's end)."""
        templates = {seg.text for chat in rendered for seg in chat.segments if not seg.from_data}
        data = [seg.text for chat in rendered for seg in chat.segments if seg.from_data]
        scans = [self._template(text) for text in templates]
        if self.may_hold("\0".join(data)):
            scans += [self.scan(text) for text in data if self.may_hold(text)]
        if any(runs_on for _, runs_on in scans):
            return None
        return frozenset().union(*(found for found, _ in scans))

    def _template(self, text: str) -> tuple[frozenset[str], bool]:
        scan = self.known.get(text)
        if scan is None:
            if self.held + len(text) > self.LIMIT:
                self.known.clear()
                self.held = 0
            scan = self.known[text] = self.scan(text)
            self.held += len(text)
        return scan


def _literal_alternation(texts: frozenset[str]) -> re.Pattern[str] | None:
    """A regex matching any of ``texts`` (longest first), their common prefix pulled out front:
    ``re`` then scans for that literal prefix instead of trying every alternative at every
    character (control tokens such as ``<|...|>`` share one)."""
    ordered = sorted((t for t in texts if t), key=len, reverse=True)
    if not ordered:
        return None
    prefix = os.path.commonprefix(ordered)
    if prefix and all(len(t) > len(prefix) for t in ordered):
        return re.compile(re.escape(prefix) + "(?:" + "|".join(re.escape(t[len(prefix):]) for t in ordered) + ")")
    return re.compile("|".join(map(re.escape, ordered)))


def _label(
    ids: list[np.ndarray],
    rendered: Sequence[RenderedChat],
    token_bytes: np.ndarray,
    train_on: TrainOn,
    train_reasoning: bool,
    with_kinds: bool,
) -> FlatChats | None:
    """Labels for a batch: the texts laid end to end as one byte string, each token's byte range
    from the cumulative byte lengths of the tokens, each trained segment (``framework.chat.
    segment_trained``) as a byte range. A token is trained when its bytes meet one, the rule of
    ``framework.chat._labels_from_offsets``; the token range of every trained segment is found
    by ``searchsorted`` and the ranges are laid out by ``np.repeat``, so Python works per segment,
    never per token. None when the token bytes do not add up to the texts (never seen; the caller then takes the
    present path).

    4.4 -> 3.3 CPU-µs a sample of bench/preprocess.py (7.5 -> 4.0 with kinds): segments are
    measured by list comprehensions, not a loop of statements; ``take`` gathers the token lengths
    (half the time of fancy indexing); token ranges and kinds come from a few searches per segment
    and ``np.repeat``, not a search per token and a running sum over every token."""
    sizes = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    bounds = bounds_of(sizes)
    flat = np.concatenate(ids).astype(np.int32) if ids else np.zeros(0, dtype=np.int32)
    ends = np.cumsum(token_bytes.take(flat))
    segs = [seg for chat in rendered for seg in chat.segments]
    seg_ends = _segment_ends(segs)
    last_segment = np.cumsum(np.fromiter((len(chat.segments) for chat in rendered), np.int64, len(rendered)))
    text_ends = np.concatenate([np.zeros(1, dtype=np.int64), seg_ends])[last_segment]
    filled = sizes > 0
    if not np.array_equal(ends[bounds[1:][filled] - 1], text_ends[filled]):
        return None
    seg_starts = np.concatenate([np.zeros(1, dtype=np.int64), seg_ends[:-1]])
    spans = _trained_segments(segs, rendered, train_on, train_reasoning) & (seg_ends > seg_starts)
    labels = np.where(_trained_tokens(ends, seg_starts[spans], seg_ends[spans]), flat, IGNORE_INDEX)
    kinds = None
    if with_kinds:
        codes = np.fromiter((_KIND_CODE[seg.kind] for seg in segs), np.int32, len(segs))
        # tokens per segment: every token starts before the last segment's end (the ends matched)
        kinds = np.repeat(codes, np.diff(_tokens_starting_before(ends, seg_ends), prepend=0))
    return FlatChats(flat, labels.astype(np.int32, copy=False), bounds, np.zeros(len(ids), dtype=bool), kinds)


_KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}


def _segment_ends(segs: Sequence[Segment]) -> np.ndarray:
    """The byte offset (int64) where each segment ends, the segments laid end to end."""
    texts = [seg.text for seg in segs]
    sizes = [len(text) if text.isascii() else len(text.encode("utf-8")) for text in texts]
    return np.cumsum(np.asarray(sizes, dtype=np.int64)) if sizes else np.zeros(0, dtype=np.int64)


def _trained_segments(
    segs: Sequence[Segment], rendered: Sequence[RenderedChat], train_on: TrainOn, train_reasoning: bool
) -> np.ndarray:
    """``framework.chat.segment_trained`` of each segment (bool). Under ``all_assistant`` the
    trained messages are those with a trainable segment, so a segment is trained exactly when it
    is trainable: no set per chat; ``everything`` trains every segment."""
    if train_on == "everything":
        trained = np.ones(len(segs), dtype=bool)
    elif train_on == "all_assistant":
        trained = np.fromiter((seg.trainable for seg in segs), bool, len(segs))
    else:
        keeps = [trained_message_indices(chat.segments, train_on) for chat in rendered]
        trained = np.fromiter((segment_trained(seg, keep) for keep, chat in zip(keeps, rendered)
                               for seg in chat.segments), bool, len(segs))
    if not train_reasoning:
        trained &= np.fromiter((seg.kind != "reasoning" for seg in segs), bool, len(segs))
    return trained


def _tokens_starting_before(ends: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many tokens start before each byte offset. Tokens lie end to end, so a token starts
    where the one before it ends (the first at 0): no array of starts is made."""
    before = np.minimum(np.searchsorted(ends[:-1], offsets, side="left") + 1, len(ends))
    return np.where(offsets > 0, before, 0)


def _trained_tokens(ends: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether each token meets one of the byte ranges ``[lo, hi)`` (nonempty, in order, not overlapping).

    Per range: the first token ending after it starts, the first token starting at or after its
    end. Those token ranges are in order too, so ones that overlap or touch merge where a range
    begins after every earlier one ended, and the mask is one ``np.repeat`` of runs."""
    first = np.searchsorted(ends, lo, side="right")
    last = _tokens_starting_before(ends, hi)
    opens = np.flatnonzero(first[1:] > last[:-1]) + 1  # ranges that begin a merged run
    starts = np.concatenate([first[:1], first[opens]])
    stops = np.concatenate([last[opens - 1], last[-1:]])
    edges = np.empty(2 * len(starts) + 2, dtype=np.int64)
    edges[0], edges[-1] = 0, len(ends)
    edges[1:-1:2], edges[2:-1:2] = starts, stops
    runs = np.diff(edges)
    return np.repeat(np.arange(len(runs)) % 2 == 1, runs)
