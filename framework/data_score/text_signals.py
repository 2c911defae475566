"""Quality signals read from the text alone: language mix, garbling, repetition, length.

These need no model, so they catch what a perplexity cannot tell apart on a weak base model
(a reply of symbols, a loop of the same phrase, an empty reply) and they are cheap on any
number of samples. Each returns a value in [0, 1] where 1 is "nothing wrong".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

#: Scripts told apart by the first word of a character's Unicode name.
_SCRIPT_WORDS = {"LATIN": "latin", "CJK": "han", "HIRAGANA": "kana", "KATAKANA": "kana", "HANGUL": "hangul",
                 "CYRILLIC": "cyrillic", "ARABIC": "arabic", "GREEK": "greek", "HEBREW": "hebrew",
                 "DEVANAGARI": "devanagari", "THAI": "thai"}
#: Scripts whose text commonly carries Latin words (product names, code, English terms).
_MIXES_WITH_LATIN = {"han", "kana", "hangul"}
_WORD = re.compile(r"\w+", re.UNICODE)


def script_of(char: str) -> str | None:
    """The script of a letter (None for digits, punctuation, symbols, spaces)."""
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    return _SCRIPT_WORDS.get(name.split(" ", 1)[0], "other")


def scripts(text: str) -> Counter[str]:
    """Letters per script."""
    return Counter(s for s in map(script_of, text) if s is not None)


def dominant_script(text: str) -> str | None:
    counts = scripts(text)
    return counts.most_common(1)[0][0] if counts else None


def symbol_share(text: str) -> float:
    """Share of visible characters that are symbols, controls or replacement characters.

    Punctuation and digits are ordinary text; a reply that is mostly ``#@$%^&`` or mojibake
    (``\ufffd``, box-drawing, private-use) is not.
    """
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return 0.0
    odd = sum(1 for c in visible if c == "\ufffd" or unicodedata.category(c)[0] in "SC")
    return odd / len(visible)


def language_score(reply: str) -> tuple[float, dict[str, float]]:
    """1 for a reply in one script (Latin words inside CJK allowed), lower for a mix or for symbols."""
    counts = scripts(reply)
    total = sum(counts.values())
    odd = symbol_share(reply)
    if total == 0:
        return (1.0 - odd if reply.strip() and odd < 1 else 0.0), {}
    main, top = counts.most_common(1)[0]
    purity = top / total
    if main in _MIXES_WITH_LATIN:
        purity += counts.get("latin", 0) / total
    mix = {name: n / total for name, n in counts.items()}
    return max(0.0, min(1.0, purity) * (1.0 - odd)), mix


def _ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) >= 2 * n and sum(map(len, words)) / len(words) < 8:
        return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    chars = [c for c in text.lower() if not c.isspace()]  # CJK and other unspaced text: characters
    k = 2 * n
    return [tuple(chars[i:i + k]) for i in range(len(chars) - k + 1)]


def repetition(text: str, n: int = 3) -> float:
    """Share of the reply's n-grams that repeat an earlier one (0: none repeat, near 1: a loop)."""
    grams = _ngrams(text, n)
    if len(grams) < 4:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def length_score(reply_tokens: int) -> float:
    """0 for an empty reply, rising to 1 at eight tokens: very short replies teach little."""
    if reply_tokens <= 0:
        return 0.0
    return min(1.0, 0.5 + reply_tokens / 16)


@dataclass(frozen=True)
class TextSignals:
    """What the text alone says about one sample."""

    reply_chars: int
    length_ratio: float  # reply characters / prompt characters
    language: float
    language_mix: dict[str, float]
    language_match: bool  # the reply's main script is the prompt's (or either has none)
    repetition: float

    @property
    def repetition_score(self) -> float:
        return 1.0 - self.repetition


def text_signals(prompt: str, reply: str) -> TextSignals:
    lang, mix = language_score(reply)
    p, r = dominant_script(prompt), dominant_script(reply)
    match = p is None or r is None or p == r
    return TextSignals(len(reply), len(reply) / max(1, len(prompt)), lang, mix, match, repetition(reply))
