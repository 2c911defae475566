"""Tokenizer findings on the real vocabulary: pad from the reserved tokens, end of turn, BOS; shipped formats."""

from __future__ import annotations

import copy
from typing import Any

from framework.facts import facts_from_config
from framework_llama4 import checkpoints, plugin


def scout(**update: Any) -> Any:
    facts = facts_from_config(checkpoints.known_model_configs()["meta-llama/Llama-4-Scout-17B-16E-Instruct"], "scout")
    return facts.model_copy(update={"variant": "scout", **update})


def by_code(findings: list[Any]) -> dict[str, Any]:
    return {f.code: f for f in findings}


def test_pad_comes_from_the_reserved_tokens(tok4: Any) -> None:
    found = by_code(plugin.check_tokenizer(scout(), tok4))
    assert set(found) == {"pad-token-missing"}  # eos is <|eot|>, bos right: only the pad is missing
    assert found["pad-token-missing"].fix.special_tokens == {"pad_token": "<|finetune_right_pad|>"}
    assert tok4.convert_tokens_to_ids("<|finetune_right_pad|>") == 200018 == scout().pad_token_id


def test_pad_equal_to_an_end_token_and_base_eos(tok4: Any) -> None:
    tok = copy.deepcopy(tok4)
    tok.eos_token, tok.pad_token = "<|end_of_text|>", "<|eot|>"
    found = by_code(plugin.check_tokenizer(scout(), tok))
    assert set(found) == {"pad-equals-eos", "eos-not-end-of-turn"}
    assert found["eos-not-end-of-turn"].fix.stop_tokens == ("<|eot|>", "<|eom|>")
    tok.pad_token = "<|finetune_right_pad|>"
    tok.eos_token = "<|eot|>"
    assert plugin.check_tokenizer(scout(), tok) == []


def test_shipped_format_only_checks_the_pad(tok4: Any) -> None:
    tok = copy.deepcopy(tok4)
    tok.eos_token, tok.bos_token = "<|end_of_text|>", "<|fim_prefix|>"
    shipped = scout(chat_format="shipped")
    assert [f.code for f in plugin.check_tokenizer(shipped, tok)] == ["pad-token-missing"]
    assert plugin.stop_tokens(shipped, tok) == []
    assert {f.code for f in plugin.check_tokenizer(scout(), tok)} == {"bos-token-wrong", "eos-not-end-of-turn",
                                                                    "pad-token-missing"}
