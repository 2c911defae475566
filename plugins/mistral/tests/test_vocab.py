"""The vocabulary facts in ``vocab.py`` equal the files mistral-common ships (sizes, ids, patterns)."""

from __future__ import annotations

import json

import pytest

from framework_mistral import vocab

SPM_FILES = {"tokenizer.model.v1": vocab.VOCAB_V1, "mistral_instruct_tokenizer_240323.model.v3": vocab.VOCAB_V3}


@pytest.mark.parametrize("name,size", sorted(SPM_FILES.items()))
def test_sentencepiece_sizes_and_byte_pieces(spm_proto, name, size):
    pieces = [p.piece for p in spm_proto(name).pieces]
    assert len(pieces) == size
    assert sum(1 for p in pieces if vocab.BYTE_PIECE.fullmatch(p)) == 256
    assert pieces[:3] == [vocab.UNK, vocab.BOS, vocab.EOS]


def test_v1_has_no_control_tokens_beyond_bos_eos_unk(spm_proto):
    control = [p.piece for p in spm_proto("tokenizer.model.v1").pieces if p.type in (2, 3)]
    assert control == [vocab.UNK, vocab.BOS, vocab.EOS]


def test_v3_control_ids_and_control_n_range(spm_proto):
    proto = spm_proto("mistral_instruct_tokenizer_240323.model.v3")
    control = {p.piece: i for i, p in enumerate(proto.pieces) if p.type in (2, 3)}
    assert {token: control[token] for token in vocab.SPM_V3_IDS} == vocab.SPM_V3_IDS
    numbered = {int(m.group(1)): i for token, i in control.items() if (m := vocab.CONTROL_N.fullmatch(token))}
    assert sorted(numbered) == list(vocab.SPM_V3_CONTROL_N)
    assert all(i == n + vocab.SPM_V3_CONTROL_OFFSET for n, i in numbered.items())
    assert len(control) == len(vocab.SPM_V3_IDS) + len(vocab.SPM_V3_CONTROL_N)  # nothing unaccounted for


def test_tekken_size_and_ranks_equal_mistral_common():
    from pathlib import Path

    import mistral_common
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    raw = json.loads((Path(mistral_common.__file__).parent / "data" / "tekken_240718.json").read_text(encoding="utf-8"))
    config = raw["config"]
    assert config["default_vocab_size"] == vocab.VOCAB_TEKKEN
    assert config["default_num_special_tokens"] == vocab.TEKKEN_SPECIAL_SLOTS
    deprecated = {str(getattr(t["token_str"], "value", t["token_str"])): int(t["rank"])
                  for t in Tekkenizer.DEPRECATED_SPECIAL_TOKENS}
    assert deprecated == vocab.TEKKEN_RANKS


def test_later_control_tokens_are_mistral_common_special_tokens():
    """The v7+ names are mistral-common's own ``SpecialTokens`` and sit inside the 1,000 special ranks."""
    from mistral_common.tokens.tokenizers.base import SpecialTokens

    names = {token.value for token in SpecialTokens}
    used = {*vocab.TURN_TOKENS, *vocab.SYSTEM_TOKENS, *vocab.THINK_TOKENS, vocab.ARGS, vocab.CALL_ID,
            vocab.TOOL_CALLS, vocab.TOOL_RESULTS, vocab.TOOL_RESULTS_END, vocab.TOOL_CONTENT,
            vocab.AVAILABLE_TOOLS, vocab.AVAILABLE_TOOLS_END}
    assert used <= names
    ranks = {**vocab.TEKKEN_RANKS, **vocab.LATER_CONTROL_RANKS}
    assert len(set(ranks.values())) == len(ranks) and max(ranks.values()) < vocab.TEKKEN_SPECIAL_SLOTS
