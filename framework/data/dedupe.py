"""Duplicate samples: which count as the same, and what ``data.dedupe`` does with them.

Two samples are exact duplicates when every message (role, content, reasoning, tool calls),
the tools and a preference pair's rejected reply are equal. They are near duplicates when they
are equal after folding what carries no meaning: Unicode compatibility forms (NFKC: full-width
``？`` is ``?``, a no-break space is a space), zero-width characters, runs of whitespace, and
spaces between CJK characters. Case and punctuation are kept: ``Let's eat, Grandma!`` and
``Let's eat Grandma!`` differ in meaning, and so do ``HELLO -> hello`` and ``Hello -> hello``
in a lower-casing task.

Both are compared by a 64-bit Python hash of those parts (the preparing processes find the keys of
the samples they hold; the odds that two different samples share one are under 3e-8 in a million
samples). Duplicates are looked for within one source (one ``--data`` path): the same sample in two
sources is the user's weighting (a copied file, identity data given twice on purpose) and
stays. ``data.dedupe``: ``exact`` (the default) drops exact duplicates and reports near ones,
``near`` drops both, ``off`` keeps everything and reports what it kept.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Sequence

DEDUPE_MODES = ("near", "exact", "off")

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_SPACES = re.compile(r"\s+")
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")
_NARROW = {chr(0xFF01 + i): chr(0x21 + i) for i in range(94)} | {"\u3000": " "}  # NFKC of each

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef\u3000-\u303f"
_CJK_GAP = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")
#: ``_CJK_GAP`` with the space first, so ``re`` looks for the literal space and tries the
#: lookarounds there only, instead of the lookbehind at every character (0.97 -> 0.34 µs per
#: Chinese sample of bench/preprocess.py); the same matches
_CJK_GAP_AT_SPACE = re.compile(f" (?<=[{_CJK}] )(?=[{_CJK}])")
#: The full-width forms Chinese and Japanese text is mostly made of, with their NFKC
_COMMON_WIDE = tuple((wide, _NARROW[wide]) for wide in "，！？：；（）\u3000")


def fold(text: str) -> str:
    """The near-duplicate form of a text: NFKC, no zero-width characters, one space per run of
    whitespace, none at the ends or between CJK characters; case and punctuation kept.

    Every sample pays for this (its key is kept to find later repeats), so the steps that cannot
    change a text are skipped: ASCII is NFKC already and has neither zero-width nor CJK
    characters, and ``str.split`` splits on exactly the characters ``\\s`` matches. Same result
    as ``fold_reference`` (tests/data/test_dedupe_fold.py), 4.4x cheaper on bench/preprocess.py's data.
    A Chinese sample there costs 4.8 instead of 8.8 µs (6.6 -> 4.4 µs a sample over all of them):
    ``_narrow_wide``, ``_CJK_GAP_AT_SPACE``, and no zero-width pass over printable text.
    """
    if not text.isascii():
        if not unicodedata.is_normalized("NFKC", text):
            text = _narrow_wide(text)
        if not text.isprintable():  # zero-width characters are format characters, never printable
            text = _ZERO_WIDTH.sub("", text)
        folded = " ".join(text.split())
        return _CJK_GAP_AT_SPACE.sub("", folded) if " " in folded and not folded.isascii() else folded
    if ("  " in text or "\n" in text or "\t" in text or "\r" in text or "\x0b" in text or "\x0c" in text
            or "\x1c" in text or "\x1d" in text or "\x1e" in text or "\x1f" in text
            or text[:1] == " " or text[-1:] == " "):
        return " ".join(text.split())
    return text  # single spaces only: already folded (one substring scan each, no new strings)


def _narrow_wide(text: str) -> str:
    """NFKC of a text that is not NFKC, cheaply when full-width forms are all that make it so.

    CJK text is mostly NFKC but for its full-width punctuation: that is mapped the way NFKC maps
    it (to ASCII, a starter, so nothing reorders or composes differently), the common forms by
    ``str.replace`` (a scan in C each: 1.6 µs a Chinese sample of bench/preprocess.py, where a
    ``re.sub`` callback per character took 4.5 µs), the rest by ``_FULL_WIDTH``; the full
    ``unicodedata.normalize`` (10 µs a part) runs only if the text is still not NFKC.
    """
    for wide, narrow in _COMMON_WIDE:
        if wide in text:
            text = text.replace(wide, narrow)
    if unicodedata.is_normalized("NFKC", text):
        return text
    text = _FULL_WIDTH.sub(_narrow, text)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def _narrow(match: re.Match[str]) -> str:
    return _NARROW[match.group()]


def fold_reference(text: str) -> str:
    """``fold`` written as its definition reads: the oracle of its tests."""
    text = _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text))
    return _CJK_GAP.sub("", _SPACES.sub(" ", text).strip())


@dataclass
class Repeat:
    """A sample that repeats an earlier one: which kind, and both places."""

    kind: str  # "duplicate" or "near-duplicate"
    first: Any  # the earlier sample's facts (``source`` and ``line``)


@dataclass
class Deduper:
    """Remembers the samples seen per source and says which repeat an earlier one.

    It works on keys computed beforehand (``framework.data.validate.sample_facts``: the exact and
    the near key of each sample), so the samples themselves may live in other processes."""

    exact: dict[Hashable, Any] = field(default_factory=dict)
    near: dict[Hashable, Any] = field(default_factory=dict)
    across: dict[Hashable, tuple[int, Any]] = field(default_factory=dict)
    repeated_across: int = 0
    across_example: str = ""

    def check(self, facts: Any, source: int) -> Repeat | None:
        """Whether the sample with these ``facts`` (``exact``, ``near``, ``source``, ``line``)
        repeats an earlier one of the same source; remembered when it does not."""
        key = facts.exact
        first_source, first = self.across.setdefault(key, (source, facts))
        if first_source != source:
            self.repeated_across += 1
            self.across_example = self.across_example or (f"{facts.source}:{facts.line} repeats "
                                                           f"{first.source}:{first.line}")
        first = self.exact.get((source, key))
        if first is not None:
            return Repeat("duplicate", first)
        self.exact[(source, key)] = facts
        near = (source, facts.near)
        first = self.near.get(near)
        if first is not None:
            return Repeat("near-duplicate", first)
        self.near[near] = facts
        return None


def near_key(parts: Sequence[str]) -> int:
    """The near-duplicate key of a sample's parts (``fold`` of each, hashed)."""
    return hash(tuple(fold(part) for part in parts))


def drops(mode: str, kind: str) -> bool:
    """Whether ``data.dedupe=mode`` drops a repeat of this kind."""
    return mode == "near" or (mode == "exact" and kind == "duplicate")


def kept_note(kind: str, count: int, example: str, mode: str) -> str:
    """The report line for repeats that were kept."""
    what = "exact duplicates" if kind == "duplicate" else "near-duplicates (same up to spacing and Unicode width)"
    then = "data.dedupe=near drops them" if mode == "exact" else f"data.dedupe={'exact' if kind == 'duplicate' else 'near'} drops them"
    return f"{what} kept within a source: {count} (e.g. {example}); {then}"


def across_note(count: int, example: str) -> str:
    return (f"samples repeated across sources kept: {count} (e.g. {example}; a source repeating another weights "
            f"the mixture, duplicates are only looked for within a source)")
