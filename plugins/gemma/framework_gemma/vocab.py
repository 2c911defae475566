"""The control tokens of Gemma's chat formats and the vocabulary facts that identify the family.

Plain data, no imports: detection, rendering, checks and the test tokenizer all read their token
names and ids here, so a token is spelled once. Gemma 1-3 share one format whose token *strings*
are the same in every generation; their ids are not: ``<start_of_turn>`` /
``<end_of_turn>`` are 106 / 107 in Gemma 1 and 2 (gemma-2-2b-it ``eos_token_id`` [1, 107]) and
105 / 106 in Gemma 3 (gemma-3-1b-it ``eos_token_id`` [1, 106]; vLLM PR 55288 shows the prompt ids
``[2, 105, 2364, 107 ...]``). Code therefore looks ids up in the tokenizer's vocabulary and never
hard-codes them; only the published configs in ``checkpoints`` and the synthetic test tokenizer
(``tokenizer``) carry the numbers. Gemma 4 renamed every control token and fixed their ids (below).
"""

from __future__ import annotations

BOS = "<bos>"
EOS = "<eos>"
PAD = "<pad>"
UNK = "<unk>"
START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"
#: Tokens whose embedding rows the chat format relies on (checked for being untrained).
FORMAT_TOKENS = (BOS, START_OF_TURN, END_OF_TURN, EOS)

#: Fixed ids of every Gemma tokenizer (tokenizer_config in openvino.genai's copies; GGUF dumps in
#: ollama's convert/testdata gemma-2b-it and gemma-2-2b-it: pad 0, eos 1, bos 2, unk 3).
PAD_ID, EOS_ID, BOS_ID, UNK_ID = 0, 1, 2, 3
#: ``<start_of_turn>`` / ``<end_of_turn>`` ids per generation (see the module docstring).
START_OF_TURN_ID = {"1": 106, "2": 106, "3": 105}
END_OF_TURN_ID = {"1": 107, "2": 107, "3": 106}

#: SentencePiece vocabulary of Gemma 1 and 2 (gemma-2b, gemma-2-9b-it config.json).
VOCAB_GEMMA_1_2 = 256_000
#: Gemma 3: 262144 in the text-only 1B; the multimodal 4B/12B/27B add 64 rows for image tokens
#: (transformers' convert_gemma3_weights_orbax_to_hf.py stacks 64 extra embeddings: 262208).
VOCAB_GEMMA_3 = (262_144, 262_208)

# ── Gemma 4 ───────────────────────────────────────────────────────────────────────────────
#: Gemma 4 renamed every control token (official templates google-gemma-4-E2B-it.jinja / -31B-it.jinja):
#: turns, the thinking switch, the thought channel, tool declarations, calls, responses and the string quote.
G4_TURN_OPEN, G4_TURN_CLOSE = "<|turn>", "<turn|>"
G4_THINK = "<|think|>"
G4_CHANNEL_OPEN, G4_CHANNEL_CLOSE = "<|channel>", "<channel|>"
G4_TOOL_OPEN, G4_TOOL_CLOSE = "<|tool>", "<tool|>"
G4_CALL_OPEN, G4_CALL_CLOSE = "<|tool_call>", "<tool_call|>"
G4_RESPONSE_OPEN, G4_RESPONSE_CLOSE = "<|tool_response>", "<tool_response|>"
G4_QUOTE = '<|"|>'
#: Control tokens of the Gemma 4 format (token strings; ids in GEMMA4_IDS).
G4_CONTROL_TOKENS = (G4_TURN_OPEN, G4_TURN_CLOSE, G4_THINK, G4_CHANNEL_OPEN, G4_CHANNEL_CLOSE, G4_TOOL_OPEN,
                     G4_TOOL_CLOSE, G4_CALL_OPEN, G4_CALL_CLOSE, G4_RESPONSE_OPEN, G4_RESPONSE_CLOSE, G4_QUOTE)
#: Tokens whose embedding rows the Gemma 4 format relies on (checked for being untrained).
G4_FORMAT_TOKENS = (BOS, G4_TURN_OPEN, G4_TURN_CLOSE, EOS)

#: Gemma 4 control tokens and their ids (oracles 2026/special_tokens.json: the google-deepmind `gemma` package
#: 4.0.1 tokenizer constants and public snippets; <|tool> 46, <tool|> 47 and <tool_response|> 51 are marked
#: unconfirmed there). "\n" is an ordinary token at 107, right after the turn tokens.
GEMMA4_IDS = {
    "<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4,
    "<|tool>": 46, "<tool|>": 47, "<|tool_call>": 48, "<tool_call|>": 49, "<|tool_response>": 50,
    "<tool_response|>": 51, '<|"|>': 52, "<|think|>": 98, "<|channel>": 100, "<channel|>": 101,
    "<|turn>": 105, "<turn|>": 106,
}
GEMMA4_NEWLINE_ID = 107
#: Gemma 4's vocabulary (every size; oracles 2026/special_tokens.json and the class default of gemma4_text).
VOCAB_GEMMA_4 = 262_144
