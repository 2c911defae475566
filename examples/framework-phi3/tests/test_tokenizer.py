"""The stand-in tokenizer: Phi-3's control tokens at their ids, its length and its pad/eos setup."""

from __future__ import annotations

import pytest

from framework_phi3.tokenizer import build_tokenizer
from framework_phi3.vocab import ADDED_TOKENS, BASE_VOCAB


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def test_added_tokens_sit_at_the_published_ids(tokenizer) -> None:
    assert {t: tokenizer.convert_tokens_to_ids(t) for t in ADDED_TOKENS} == ADDED_TOKENS
    assert len(tokenizer) == BASE_VOCAB + len(ADDED_TOKENS) == 32_011


def test_llama2_layout_specials_and_bos(tokenizer) -> None:
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<unk>", "<s>", "</s>")] == [0, 1, 2]
    assert tokenizer("Hi")["input_ids"][0] == 1  # <s> with add_special_tokens, as Phi-3's tokenizer does
    assert tokenizer("Hi", add_special_tokens=False)["input_ids"][0] != 1


def test_pad_and_eos_are_endoftext_as_published(tokenizer) -> None:
    assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.unk_token == "<unk>"


def test_chat_tokens_are_single_ids_and_keep_the_following_newline(tokenizer) -> None:
    ids = tokenizer("<|user|>\nHi<|end|>\n", add_special_tokens=False)["input_ids"]
    assert ids[0] == ADDED_TOKENS["<|user|>"] and ADDED_TOKENS["<|end|>"] in ids
    assert ids.index(ADDED_TOKENS["<|end|>"]) < len(ids) - 1  # the newline after <|end|> is a token of its own
    assert tokenizer.decode(ids) == "<|user|>\nHi<|end|>\n"


def test_the_builder_is_cached() -> None:
    assert build_tokenizer() is build_tokenizer()
