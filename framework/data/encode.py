"""Speed for the tokenizing step, without changing a single id.

Two measures, both checked to give what the plain call gives:

- ``BatchEncoder`` calls the Rust tokenizer behind a transformers fast tokenizer directly for
  the one call the pipeline makes (a batch, no special tokens added, offsets), skipping the
  per-encoding conversion transformers does for features the pipeline does not use. It is used
  only when the backend has no padding or truncation configured and a probe encodes the same
  both ways; otherwise the tokenizer itself is used.
- ``probe_chats`` and ``CHECK_SAMPLES``: what a faster encoder (``framework.data.tiktoken_encoder``)
  must tokenize exactly as the present path before the pipeline uses it.
- ``special_text_finder`` tells in one regex scan whether data text contains control-token
  text, so only those rare samples take the slower protected path of ``tokenize_chats``
  (which otherwise tests every control-token string against every data segment).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

from framework.hookdata import RenderedChat, Segment

#: ``data.fast_encoder``: auto (tiktoken where it proves identical) or off.
FastEncoder = Literal["auto", "off"]

#: Samples of the actual data a faster encoder must tokenize exactly as the present path.
CHECK_SAMPLES = 512

#: The fewest samples for which ``data.fast_encoder: auto`` builds the tiktoken encoder: building
#: and checking it costs 1-2 s once, and it saves ~0.26 CPU-ms per sample (bench/preprocess.py
#: --breakdown: 6.70 against 1.42 CPU s per 20,000), so it pays off from ~6,000 samples.
FAST_MIN_SAMPLES = 10_000

_PROBES = [
    "Hello world!  Two  spaces, tabs\tand\nnew lines\n\n",
    "中文文本，标点。混合 English 123 4567",
    " leading space and trailing space ",
    "emoji 🙂 and accents é ü ñ",
]

#: Text a regex pre-tokenizer or a byte-level merge handles at its edges: scripts, digits,
#: contractions, whitespace runs, combining marks, characters of 2, 3 and 4 UTF-8 bytes.
_HARD = [
    "日本語のテキスト、한국어 텍스트, русский текст, العربية",
    "12345678901 3.14159 1,000,000 0x1F 2026-12-06",
    "I'm, you're, it's, we'll, they've, he'd DON'T",
    "    four spaces\n\n\n\t\ttabs   \r\n trailing   ",
    "e\u0301 a\u0308 combining, ｆｕｌｌｗｉｄｔｈ, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🙂🙂🙂 👩‍👩‍👧 🇩🇪",
    "```python\ndef f(x):\n    return x ** 2  # comment\n```",
    "🙂",
    "中",
    " ",
]


def probe_chats(specials: Iterable[str]) -> list[RenderedChat]:
    """Chats of the probe texts between control tokens, with trained spans starting and ending
    inside words, emoji and CJK, so tokens that straddle a span edge are compared as well."""
    marks = sorted(specials)[:3] or [""]
    texts = _PROBES + _HARD
    chats = []
    for k, text in enumerate(texts):
        other = texts[(k + 1) % len(texts)]
        head, tail = marks[k % len(marks)], marks[(k + 1) % len(marks)]
        chats.append(RenderedChat((
            Segment(head),
            Segment(text, message_index=0, from_data=True),
            Segment(text[: len(text) // 2], trainable=True, message_index=1, from_data=True),
            Segment(other, trainable=True, message_index=1, from_data=True),
            Segment(tail, trainable=True, message_index=1),
            Segment(other[::-1], message_index=2, from_data=True),
        )))
    return chats


class BatchEncoder:
    """The backend tokenizer of a fast tokenizer, called the way ``tokenize_chats`` calls it.

    Anything but a batch call without special tokens (a single string, a split of special
    tokens, other options) goes to the wrapped tokenizer unchanged.
    """

    def __init__(self, tokenizer: Any, backend: Any) -> None:
        self.tokenizer = tokenizer
        self.backend = backend

    def __call__(
        self, texts: Any, add_special_tokens: bool = True, return_offsets_mapping: bool = False, **options: Any
    ) -> Any:
        if options or add_special_tokens or not isinstance(texts, list):
            return self.tokenizer(
                texts, add_special_tokens=add_special_tokens, return_offsets_mapping=return_offsets_mapping, **options
            )
        encodings = self.backend.encode_batch(texts, add_special_tokens=False)
        out: dict[str, list[Any]] = {"input_ids": [e.ids for e in encodings]}
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encodings]
        out["_encodings"] = encodings
        return out

    def __getattr__(self, name: str) -> Any:
        if name in ("tokenizer", "backend"):  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.tokenizer, name)


def batch_encoder(tokenizer: Any, specials: Iterable[str] = ()) -> Any:
    """A ``BatchEncoder`` when it is safe for this tokenizer, else the tokenizer itself."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or getattr(backend, "padding", None) or getattr(backend, "truncation", None):
        return tokenizer
    probes = _PROBES + ["".join(sorted(specials)[:8]) + " after control tokens"]
    fast = BatchEncoder(tokenizer, backend)
    try:
        plain = tokenizer(probes, add_special_tokens=False, return_offsets_mapping=True)
        quick = fast(probes, add_special_tokens=False, return_offsets_mapping=True)
    except Exception:  # a tokenizer without offsets support: the pipeline reports it on the real call
        return tokenizer
    same_ids = [list(x) for x in plain["input_ids"]] == [list(x) for x in quick["input_ids"]]
    same_offsets = [[tuple(o) for o in x] for x in plain["offset_mapping"]] == [
        [tuple(o) for o in x] for x in quick["offset_mapping"]
    ]
    return fast if same_ids and same_offsets else tokenizer


def special_text_finder(specials: Iterable[str]) -> Callable[[str], bool]:
    """A test for 'this text contains a control-token string' (one compiled alternation)."""
    ordered = sorted((s for s in specials if s), key=len, reverse=True)
    if not ordered:
        return lambda text: False
    pattern = re.compile("|".join(re.escape(s) for s in ordered))
    return lambda text: pattern.search(text) is not None
