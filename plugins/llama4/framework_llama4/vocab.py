"""The Llama 4 vocabulary's fixed facts: 200,000 BPE ranks followed by 2,048 control tokens.

The control tokens are, in id order from 200000: five basic ones (``<|begin_of_text|>``,
``<|end_of_text|>``, three fill-in-the-middle markers), the text post-training tokens (headers,
``<|eom|>``, ``<|eot|>``, ``<|python_start|>``/``<|python_end|>``, ``<|finetune_right_pad|>``
and reserved slots), the vision tokens, the reasoning tokens, then
``<|reserved_special_token_N|>`` up to 2,048.

Source: Meta's ``llama_models/llama4/tokenizer.py`` (``BASIC_SPECIAL_TOKENS``,
``LLAMA4_TEXT_POST_TRAIN_SPECIAL_TOKENS``, ...; ``num_reserved_special_tokens = 2048``) and its
``tokenizer.model`` (200,000 ranks); the ids below are what that tokenizer assigns.
"""

from __future__ import annotations

#: 200,000 base tokens + 2,048 control tokens (config.json ``vocab_size`` of every Llama 4 model).
VOCAB_SIZE = 202_048
BASE_TOKENS = 200_000
NUM_CONTROL_TOKENS = 2_048

BOS = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
HEADER_START = "<|header_start|>"
HEADER_END = "<|header_end|>"
EOM = "<|eom|>"
EOT = "<|eot|>"
PYTHON_START = "<|python_start|>"
PYTHON_END = "<|python_end|>"
FINETUNE_PAD = "<|finetune_right_pad|>"

BOS_ID = 200_000
END_OF_TEXT_ID = 200_001
HEADER_START_ID = 200_005
HEADER_END_ID = 200_006
EOM_ID = 200_007
EOT_ID = 200_008
PYTHON_START_ID = 200_016
PYTHON_END_ID = 200_017
FINETUNE_PAD_ID = 200_018

#: The control tokens the chat format emits (BOS, role headers, end of turn, tool-call fences).
FORMAT_TOKENS = (BOS, HEADER_START, HEADER_END, EOT, PYTHON_START, PYTHON_END)

#: Regex that splits text before byte-level BPE (``Tokenizer.O200K_PATTERN`` of Meta's tokenizer).
SPLIT_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
