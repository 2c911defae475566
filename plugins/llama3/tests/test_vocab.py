"""The fixed vocabulary facts: the control tokens of each generation at Meta's ids, importable without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from framework_llama3 import vocab

NAMED_IDS = {vocab.BOS: vocab.BOS_ID, vocab.END_OF_TEXT: vocab.END_OF_TEXT_ID,
             vocab.START_HEADER: vocab.START_HEADER_ID, vocab.END_HEADER: vocab.END_HEADER_ID, vocab.EOT: vocab.EOT_ID}


@pytest.mark.parametrize("version", ["3", "3.1", "3.2"])
def test_control_tokens_fill_the_256_slots_after_the_base_vocabulary(version: str) -> None:
    tokens = vocab.control_tokens(version)
    assert len(tokens) == len(set(tokens)) == vocab.NUM_CONTROL_TOKENS
    assert vocab.BASE_TOKENS + vocab.NUM_CONTROL_TOKENS == vocab.VOCAB_SIZE
    ids = {token: vocab.BASE_TOKENS + i for i, token in enumerate(tokens)}
    assert all(ids[name] == token_id for name, token_id in NAMED_IDS.items())
    assert all(token in tokens for token in vocab.FORMAT_TOKENS)


def test_generations_differ_only_in_names_given_to_reserved_slots() -> None:
    """3.1 named four reserved slots of 3.0 (pad, eom, python tag); every other slot keeps its meaning."""
    old, new = vocab.control_tokens("3"), vocab.control_tokens("3.1")
    renamed = {vocab.BASE_TOKENS + i: (a, b) for i, (a, b) in enumerate(zip(old, new)) if a != b}
    named = {token_id: b for token_id, (a, b) in renamed.items() if not b.startswith("<|reserved_special_token_")}
    assert named == {128_004: vocab.FINETUNE_PAD, vocab.EOM_ID: vocab.EOM, 128_010: vocab.PYTHON_TAG}
    assert all(a.startswith("<|reserved_special_token_") for a, _ in renamed.values())
    assert vocab.control_tokens("3.2") == new


def test_facts_agree_with_metas_tokenizer_module() -> None:
    from llama_models.llama3.tokenizer import Tokenizer

    assert vocab.SPLIT_PATTERN == Tokenizer.pat_str
    assert Tokenizer.num_reserved_special_tokens == vocab.NUM_CONTROL_TOKENS


def test_importing_the_facts_loads_no_heavy_library() -> None:
    code = ("import sys, framework_llama3.vocab; heavy = {'torch', 'transformers', 'tokenizers'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
