"""Phi-3's vocabulary and published sizes, as data with the files they come from.

Phi-3 reuses Llama 2's 32,000-piece SentencePiece vocabulary and adds eleven tokens at ids
32000-32010 (chat roles, end of turn, placeholders); the embedding has 32,064 rows, the
last 53 of which no token uses (padding to a multiple of 64).
"""

from __future__ import annotations

# source: https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/config.json
MODEL_TYPE = "phi3"
VOCAB_SIZE = 32_064
NATIVE_CONTEXT = 4_096
LONG_CONTEXT = 131_072
SLIDING_WINDOW_4K = 2_047

# source: https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/added_tokens.json
ADDED_TOKENS: dict[str, int] = {
    "<|endoftext|>": 32000,
    "<|assistant|>": 32001,
    "<|placeholder1|>": 32002,
    "<|placeholder2|>": 32003,
    "<|placeholder3|>": 32004,
    "<|placeholder4|>": 32005,
    "<|system|>": 32006,
    "<|end|>": 32007,
    "<|placeholder5|>": 32008,
    "<|placeholder6|>": 32009,
    "<|user|>": 32010,
}
BASE_VOCAB = 32_000  # Llama 2's SentencePiece pieces: <unk>=0, <s>=1, </s>=2
END_OF_TURN = "<|end|>"
END_OF_TEXT = "<|endoftext|>"  # eos_token and (in the published tokenizer) pad_token
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}

#: Families that share ``model_type == "phi3"`` but not this vocabulary or chat format.
# source: https://huggingface.co/microsoft/phi-4/blob/main/config.json (vocab 100352, <|im_start|>...<|im_sep|>)
# source: https://huggingface.co/microsoft/Phi-4-mini-instruct/blob/main/config.json (vocab 200064)
OTHER_PHI3_VOCABS = {100_352: "Phi-4", 200_064: "Phi-4-mini"}
