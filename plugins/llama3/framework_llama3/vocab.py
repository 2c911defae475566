"""The Llama 3 vocabulary's fixed facts: its size, its control tokens and where they sit.

Every Llama 3 generation shares the same 128,000 tiktoken base tokens and appends 256
control tokens at ids 128000-128255. Only their names differ between generations: 3.1 and
3.2 gave four reserved slots a meaning (``<|finetune_right_pad_id|>``, ``<|eom_id|>``,
``<|python_tag|>``, ...). These lists are what transformers' own converter writes.

Source: transformers ``src/transformers/models/llama/convert_llama_weights_to_hf.py``
(``DEFAULT_LLAMA_SPECIAL_TOKENS``), and Meta's ``llama_models/llama3/tokenizer.py``.
"""

from __future__ import annotations

#: 128,000 base tokens + 256 control tokens (config.json ``vocab_size`` of every Llama 3 model).
VOCAB_SIZE = 128_256
BASE_TOKENS = 128_000
NUM_CONTROL_TOKENS = 256

BOS = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
EOT = "<|eot_id|>"
EOM = "<|eom_id|>"
FINETUNE_PAD = "<|finetune_right_pad_id|>"
PYTHON_TAG = "<|python_tag|>"

BOS_ID = 128_000
END_OF_TEXT_ID = 128_001
START_HEADER_ID = 128_006
END_HEADER_ID = 128_007
EOM_ID = 128_008
EOT_ID = 128_009

#: The control tokens the chat format emits (BOS, role headers, end of turn).
FORMAT_TOKENS = (BOS, START_HEADER, END_HEADER, EOT)

#: Regex that splits text before byte-level BPE (the ``pat_str`` of Meta's tokenizer).
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

#: Native context of Meta's released checkpoints (transformers converter ``CONTEXT_LENGTH_FOR_VERSION``).
NATIVE_CONTEXT = {"3": 8192, "3.1": 131_072, "3.2": 131_072}


def _reserved(start: int, stop: int) -> list[str]:
    return [f"<|reserved_special_token_{i}|>" for i in range(start, stop)]


def control_tokens(version: str) -> list[str]:
    """The 256 control-token strings of a generation, in id order (id = 128000 + index)."""
    if version == "3":
        named = [BOS, END_OF_TEXT, *_reserved(0, 4), START_HEADER, END_HEADER, "<|reserved_special_token_4|>", EOT]
        return named + _reserved(5, NUM_CONTROL_TOKENS - 5)
    named = [
        BOS, END_OF_TEXT, *_reserved(0, 2), FINETUNE_PAD, "<|reserved_special_token_2|>",
        START_HEADER, END_HEADER, EOM, EOT, "<|python_tag|>",
    ]
    return named + _reserved(3, NUM_CONTROL_TOKENS - 8)
