"""The fixed vocabulary facts: Meta's control-token ids and split pattern, importable without torch."""

from __future__ import annotations

import subprocess
import sys

from framework_llama4 import vocab

NAMED_IDS = {vocab.BOS: vocab.BOS_ID, vocab.END_OF_TEXT: vocab.END_OF_TEXT_ID,
             vocab.HEADER_START: vocab.HEADER_START_ID, vocab.HEADER_END: vocab.HEADER_END_ID,
             vocab.EOM: vocab.EOM_ID, vocab.EOT: vocab.EOT_ID,
             vocab.PYTHON_START: vocab.PYTHON_START_ID, vocab.PYTHON_END: vocab.PYTHON_END_ID,
             vocab.FINETUNE_PAD: vocab.FINETUNE_PAD_ID}


def test_named_ids_are_where_metas_tokenizer_puts_them() -> None:
    """Meta's tokenizer numbers its control tokens from the end of the 200,000 ranks, in list order."""
    from llama_models.llama4.tokenizer import BASIC_SPECIAL_TOKENS, LLAMA4_SPECIAL_TOKENS, Tokenizer

    order = [*BASIC_SPECIAL_TOKENS, *LLAMA4_SPECIAL_TOKENS]
    assert {name: vocab.BASE_TOKENS + order.index(name) for name in NAMED_IDS} == NAMED_IDS
    assert Tokenizer.num_reserved_special_tokens == vocab.NUM_CONTROL_TOKENS
    assert vocab.BASE_TOKENS + vocab.NUM_CONTROL_TOKENS == vocab.VOCAB_SIZE
    assert vocab.SPLIT_PATTERN == Tokenizer.O200K_PATTERN
    assert set(vocab.FORMAT_TOKENS) <= set(NAMED_IDS)


def test_importing_the_facts_loads_no_heavy_library() -> None:
    code = ("import sys, framework_llama4.vocab; heavy = {'torch', 'transformers', 'tokenizers'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
