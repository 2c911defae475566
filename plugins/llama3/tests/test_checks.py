"""Each pitfall the plugin fixes: found on a tokenizer/model/data that has it, absent when fixed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from framework.chat import tokenize_chat
from framework.fixes import FixReport, apply_model_fixes, apply_tokenizer_fixes
from framework.hookdata import ChatOptions
from framework_llama3 import plugin

CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def by_code(findings: list[Any]) -> dict[str, Any]:
    return {f.code: f for f in findings}


# ── tokenizer ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("version", "config", "pad"), [
    ("3", "Meta-Llama-3-8B", "<|reserved_special_token_0|>"),
    ("3.1", "Llama-3.1-8B-Instruct", "<|finetune_right_pad_id|>"),
])
def test_missing_pad_gets_a_pad_already_in_the_vocabulary(version: str, config: str, pad: str,
                                                          tokenizers: dict[str, Any], facts_for: Any) -> None:
    tok, facts = tokenizers[version], facts_for(config, version)
    assert tok.pad_token is None
    finding = by_code(plugin.check_tokenizer(facts, tok))["pad-token-missing"]
    chosen = finding.fix.special_tokens["pad_token"]
    assert chosen == pad and chosen in tok.get_vocab()
    assert chosen not in (tok.eos_token, "<|eot_id|>", "<|end_of_text|>")


def test_pad_equal_to_eos_is_fixed_and_end_of_turn_stays_trained(tok31: Any, facts_for: Any) -> None:
    """L2: with pad == eos == <|eot_id|> a pad-masking collator drops every trained end of turn."""
    from transformers import DataCollatorForLanguageModeling

    tok = copy.deepcopy(tok31)
    tok.pad_token = tok.eos_token
    facts = facts_for("Llama-3.1-8B-Instruct", "3.1")
    findings = plugin.check_tokenizer(facts, tok)
    assert "pad-equals-eos" in by_code(findings)
    sample = tokenize_chat(tok, plugin.render_chat(facts, CHAT, ChatOptions(), tok, None))
    features = [{"input_ids": sample.input_ids}, {"input_ids": sample.input_ids[:-3]}]
    broken = DataCollatorForLanguageModeling(tok, mlm=False)(features)["labels"]
    assert 128009 not in broken[0].tolist()  # the trap: the reply's end of turn is never learned
    size = len(tok)
    report = apply_tokenizer_fixes(tok, findings, plugin.stop_tokens(facts, tok))
    assert tok.pad_token == "<|finetune_right_pad_id|>" and len(tok) == size and not report.added_tokens
    fixed = DataCollatorForLanguageModeling(tok, mlm=False)(features)["labels"]
    assert 128009 in fixed[0].tolist()
    assert "pad-equals-eos" not in by_code(plugin.check_tokenizer(facts, tok))


def test_base_eos_is_not_the_end_of_turn(tok3: Any, tok31: Any, facts_for: Any) -> None:
    """L1: base eos <|end_of_text|> while turns end with <|eot_id|> -> stop on <|eot_id|>."""
    finding = by_code(plugin.check_tokenizer(facts_for("Meta-Llama-3-8B", "3"), tok3))["eos-not-end-of-turn"]
    assert finding.fix.stop_tokens == ("<|eot_id|>",)
    stale = facts_for("Llama-3.2-1B-Instruct.thunder", "3.2")  # config eos_token_id 128001 only
    finding = by_code(plugin.check_tokenizer(stale, tok31))["eos-not-end-of-turn"]
    assert finding.fix.stop_tokens == ("<|eot_id|>", "<|eom_id|>") and "lacks 128009" in finding.message
    current = facts_for("Llama-3.1-8B-Instruct", "3.1")
    assert "eos-not-end-of-turn" not in by_code(plugin.check_tokenizer(current, tok31))
    report = apply_tokenizer_fixes(copy.deepcopy(tok3), [finding], [])
    assert "<|eot_id|>" in report.stop_tokens


def test_stop_tokens_per_generation(tok3: Any, tok31: Any, facts_for: Any) -> None:
    assert plugin.stop_tokens(facts_for("Meta-Llama-3-8B-Instruct", "3"), tok3) == ["<|eot_id|>"]
    assert plugin.stop_tokens(facts_for("Llama-3.1-8B-Instruct", "3.1"), tok31) == ["<|eot_id|>", "<|eom_id|>"]
    # A 3.0 vocabulary has no <|eom_id|> (slot 128008 is reserved): never name a token it lacks.
    assert plugin.stop_tokens(facts_for("Llama-3.1-8B-Instruct", "3.1"), tok3) == ["<|eot_id|>"]


def test_double_bos_is_reported_and_avoided(tok3: Any, facts_for: Any) -> None:
    """L3: the tokenizer adds BOS on encode and the format starts with BOS."""
    facts = facts_for("Meta-Llama-3-8B-Instruct", "3")
    finding = by_code(plugin.check_tokenizer(facts, tok3))["bos-added-on-encode"]
    assert finding.severity == "info" and "add_special_tokens=False" in finding.message
    rendered = plugin.render_chat(facts, CHAT, ChatOptions(), tok3, None)
    naive = tok3(rendered.text)["input_ids"]
    assert naive[:2] == [128000, 128000]  # what a default encode of the rendered chat does
    ids = tokenize_chat(tok3, rendered).input_ids
    assert ids[0] == 128000 and ids.count(128000) == 1


def test_wrong_bos_is_fixed(tok3: Any, facts_for: Any) -> None:
    tok = copy.deepcopy(tok3)
    tok.bos_token = "<|end_of_text|>"
    finding = by_code(plugin.check_tokenizer(facts_for("Meta-Llama-3-8B", "3"), tok))["bos-token-wrong"]
    apply_tokenizer_fixes(tok, [finding], [])
    assert tok.bos_token == "<|begin_of_text|>"


# ── model ─────────────────────────────────────────────────────────────────────────────────


@pytest.fixture()
def tiny_model(tiny_config: Any) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**tiny_config()))


def test_untrained_format_rows_are_found_and_reinitialised(tiny_model: Any, tok3: Any, facts_for: Any) -> None:
    """L4: base Llama 3 8B has ~zero rows for the header and end-of-turn tokens."""
    import torch

    facts = facts_for("Meta-Llama-3-8B", "3")
    assert plugin.check_model(facts, tiny_model, tok3) == []
    with torch.no_grad():
        tiny_model.get_input_embeddings().weight[[128006, 128007, 128009]] = 0.0
        tiny_model.get_output_embeddings().weight[128009] *= 1e-6
    findings = plugin.check_model(facts, tiny_model, tok3)
    assert [f.code for f in findings] == ["untrained-format-tokens"]
    assert findings[0].fix.reinit_token_ids == (128006, 128007, 128009)
    report = FixReport()
    apply_model_fixes(tiny_model, tok3, report, findings)
    assert plugin.check_model(facts, tiny_model, tok3) == []


# ── data ──────────────────────────────────────────────────────────────────────────────────


def test_cjk_heavy_data_gets_family_advice(tok3: Any, facts_for: Any) -> None:
    chinese = ["量子纠缠是指两个粒子的状态相互关联，即使相距遥远。", "请用中文回答下面的问题，并给出理由。"] * 5
    english = ["The quick brown fox jumps over the lazy dog."] * 10
    facts = facts_for("Meta-Llama-3-8B", "3")
    finding = by_code(plugin.check_data(facts, tok3, chinese + english[:2]))["cjk-heavy-data"]
    assert finding.severity == "warning" and "Qwen" in finding.message and "cutoff_len" in finding.message
    assert plugin.check_data(facts, tok3, english + chinese[:1]) == []
    assert plugin.check_data(facts, tok3, []) == []

