"""The Mistral vocabularies' fixed facts: sizes, control-token names and the ids they sit at.

Three tokenizer generations exist, told apart by their size (mistral-common README, tokenizer
table, https://github.com/mistralai/mistral-common ; families.md 3.A):

* sentencepiece v1, 32,000 pieces (7B v0.1/v0.2, Mixtral 8x7B): ``<unk>`` 0, ``<s>`` 1,
  ``</s>`` 2 and nothing else special; ``[INST]`` is plain text there.
* sentencepiece v3, 32,768 pieces (7B v0.3, Mixtral 8x22B Instruct): ids 0-750 are control
  pieces, ``<unk>``/``<s>``/``</s>``, ``[INST]`` 3 … ``[SUFFIX]`` 13 named, then ``[control_12]``
  (id 14) to ``[control_748]`` (id 750) unused (``mistral_instruct_tokenizer_240323.model.v3``).
* Tekken, 131,072 tokens (NeMo and every later model): 1,000 special ranks, then the byte-level
  BPE. Ranks 0-19 are mistral-common's ``Tekkenizer.DEPRECATED_SPECIAL_TOKENS`` (the list a
  tekken.json without its own special tokens gets); ``<pad>`` is rank 11. Tokenizer versions
  v7, v11 and v13 use ``[SYSTEM_PROMPT]`` 17/18, ``[TOOL_CONTENT]`` 19, ``[ARGS]``,
  ``[CALL_ID]`` and ``[THINK]``/``[/THINK]``, whose ranks (32, 33, 35, 36) come from
  mistral-common's test fixtures: the real tekken.json files of Small 3.x, Magistral and
  Ministral 3 are published on the Hub only (shared reference special_tokens.json notes them
  as unverified there). ``control_tokens`` in ``checks.py`` reads the ids from the loaded
  tokenizer, never from these tables.

No heavy imports: detection, checks and the tokenizer builders all read these names.
"""

from __future__ import annotations

import re

# ── sizes (config.json ``vocab_size`` of the published checkpoints) ───────────────────

VOCAB_V1 = 32_000
VOCAB_V3 = 32_768
VOCAB_TEKKEN = 131_072
#: Tekken: ranks below this are special tokens (``default_num_special_tokens`` of every tekken.json).
TEKKEN_SPECIAL_SLOTS = 1_000

# ── control tokens (mistral-common ``SpecialTokens``) ───────────────────────────────────

UNK = "<unk>"
BOS = "<s>"
EOS = "</s>"
PAD = "<pad>"  # Tekken only; the sentencepiece vocabularies have no pad token
INST = "[INST]"
INST_END = "[/INST]"
SYSTEM_PROMPT = "[SYSTEM_PROMPT]"
SYSTEM_PROMPT_END = "[/SYSTEM_PROMPT]"
AVAILABLE_TOOLS = "[AVAILABLE_TOOLS]"
AVAILABLE_TOOLS_END = "[/AVAILABLE_TOOLS]"
TOOL_CALLS = "[TOOL_CALLS]"
TOOL_RESULTS = "[TOOL_RESULTS]"
TOOL_RESULTS_END = "[/TOOL_RESULTS]"
TOOL_CONTENT = "[TOOL_CONTENT]"
ARGS = "[ARGS]"
CALL_ID = "[CALL_ID]"
THINK = "[THINK]"
THINK_END = "[/THINK]"

#: The turn markers of every format from sentencepiece v3 on (v1 has them as plain text).
TURN_TOKENS = (INST, INST_END)
#: The system-prompt markers of Tekken v7 and later.
SYSTEM_TOKENS = (SYSTEM_PROMPT, SYSTEM_PROMPT_END)
#: The reasoning markers of Tekken v13 (Magistral 1.2, Ministral 3 Reasoning).
THINK_TOKENS = (THINK, THINK_END)

#: Ids in sentencepiece v3 (``mistral_instruct_tokenizer_240323.model.v3``); v1 has the first three only.
SPM_V3_IDS = {UNK: 0, BOS: 1, EOS: 2, INST: 3, INST_END: 4, TOOL_CALLS: 5, AVAILABLE_TOOLS: 6,
              AVAILABLE_TOOLS_END: 7, TOOL_RESULTS: 8, TOOL_RESULTS_END: 9, "[IMG]": 10, "[PREFIX]": 11,
              "[MIDDLE]": 12, "[SUFFIX]": 13}
#: sentencepiece v3's unused control pieces: ``[control_N]`` at id N + 2.
SPM_V3_CONTROL_N = range(12, 749)
SPM_V3_CONTROL_OFFSET = 2

#: Tekken ranks 0-19 (mistral-common ``Tekkenizer.DEPRECATED_SPECIAL_TOKENS``; NeMo's tekken_240718.json).
TEKKEN_RANKS = {UNK: 0, BOS: 1, EOS: 2, INST: 3, INST_END: 4, AVAILABLE_TOOLS: 5, AVAILABLE_TOOLS_END: 6,
                TOOL_RESULTS: 7, TOOL_RESULTS_END: 8, TOOL_CALLS: 9, "[IMG]": 10, PAD: 11, "[IMG_BREAK]": 12,
                "[IMG_END]": 13, "[PREFIX]": 14, "[MIDDLE]": 15, "[SUFFIX]": 16, SYSTEM_PROMPT: 17,
                SYSTEM_PROMPT_END: 18, TOOL_CONTENT: 19}
#: Control tokens of Tekken v7+ missing from the v3 Tekken files mistral-common ships, at the ranks
#: mistral-common's own test fixtures give them (see the module docstring: unverified on the Hub files).
LATER_CONTROL_RANKS = {ARGS: 32, CALL_ID: 33, THINK: 35, THINK_END: 36}

# ── piece patterns ──────────────────────────────────────────────────────────────────────

#: An unused sentencepiece v3 control piece, ``[control_N]``: pad candidates after ``<unk>``.
CONTROL_N = re.compile(r"\[control_(\d+)\]")
#: A sentencepiece byte-fallback piece ``<0x00>``..``<0xFF>`` (v1 and v3; Tekken is byte-level BPE).
BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")
