"""Vocabulary facts: the eleven added tokens, their ids, the padded embedding size, the Phi-4 sizes."""

from __future__ import annotations

from framework.facts import facts_from_config
from framework_phi3 import detect, vocab
from framework_phi3.checkpoints import tiny_config


def test_added_tokens_are_contiguous_after_the_llama2_pieces() -> None:
    assert sorted(vocab.ADDED_TOKENS.values()) == list(range(vocab.BASE_VOCAB, vocab.BASE_VOCAB + 11))


def test_the_embedding_is_padded_to_a_multiple_of_64_with_53_unused_rows() -> None:
    used = vocab.BASE_VOCAB + len(vocab.ADDED_TOKENS)
    assert vocab.VOCAB_SIZE % 64 == 0 and vocab.VOCAB_SIZE - used == 53
    assert used + 64 > vocab.VOCAB_SIZE  # the smallest such multiple


def test_chat_tokens_are_added_tokens() -> None:
    for token in (vocab.END_OF_TURN, vocab.END_OF_TEXT, *vocab.ROLE_TOKENS.values()):
        assert token in vocab.ADDED_TOKENS
    assert vocab.ADDED_TOKENS[vocab.END_OF_TEXT] == 32000  # eos_token_id of the published config


def test_other_vocabularies_of_model_type_phi3_are_not_claimed() -> None:
    assert vocab.VOCAB_SIZE not in vocab.OTHER_PHI3_VOCABS
    for size in vocab.OTHER_PHI3_VOCABS:
        assert detect.match(facts_from_config(tiny_config(vocab_size=size), "phi4")) is None
