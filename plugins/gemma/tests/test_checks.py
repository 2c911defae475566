"""Each pitfall the plugin fixes: found on a tokenizer/model/data that has it, gone once the fix is applied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.chat import IGNORE_INDEX, tokenize_chat
from framework.facts import facts_from_config
from framework.fixes import FixReport, apply_model_fixes, apply_tokenizer_fixes
from framework.hookdata import ChatOptions, ModelFacts
from framework_gemma import plugin

ORACLES = Path(__file__).resolve().parent / "oracles"
CHATML = (ORACLES / "templates" / "qwen2-7b-instruct.jinja").read_text(encoding="utf-8")

#: Facts of a Gemma 3 model whose chat the plugin renders itself (no shipped template of another format).
PLAIN = ModelFacts(name_or_path="google/gemma-3-1b-it", model_type="gemma3_text", variant="3")


def render_chat(messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
                tools: list[dict[str, Any]] | None = None) -> Any:
    """The render_chat hook as the core calls it."""
    return plugin.render_chat(facts=PLAIN, messages=messages, options=options, tokenizer=tokenizer, tools=tools)

CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def by_code(findings: list[Any]) -> dict[str, Any]:
    return {f.code: f for f in findings}


# ── tokenizer ─────────────────────────────────────────────────────────────────────────────


def test_clean_tokenizer_has_only_the_double_bos_note(tok3: Any, facts_for: Any) -> None:
    findings = plugin.check_tokenizer(facts_for("gemma-3-1b-it", "3"), tok3)
    assert [f.code for f in findings] == ["bos-added-on-encode"]
    assert findings[0].severity == "info" and "add_special_tokens=False" in findings[0].message


def test_double_bos_is_reported_and_avoided(tok3: Any, facts_for: Any) -> None:
    """G1 mirror bug: the template emits <bos> and the tokenizer adds one more on a default encode."""
    rendered = render_chat(CHAT, ChatOptions(), tok3)
    assert tok3(rendered.text)["input_ids"][:2] == [2, 2]  # what a default encode of the rendered chat does
    ids = tokenize_chat(tok3, rendered).input_ids
    assert ids[0] == 2 and ids.count(2) == 1


@pytest.mark.parametrize(("code", "bos"), [("bos-token-missing", None), ("bos-token-wrong", "<eos>")])
def test_missing_or_wrong_bos_token_is_fixed(code: str, bos: str | None, build_tokenizer: Any,
                                             facts_for: Any) -> None:
    """G1: a tokenizer without <bos> as bos_token would start pre-training blocks without it."""
    tok = build_tokenizer("3", bos_token=bos)
    facts = facts_for("gemma-3-1b-it", "3")
    finding = by_code(plugin.check_tokenizer(facts, tok))[code]
    assert finding.fix.special_tokens == {"bos_token": "<bos>"}
    apply_tokenizer_fixes(tok, [finding], [])
    assert tok.bos_token == "<bos>" and tok.bos_token_id == 2
    assert code not in by_code(plugin.check_tokenizer(facts, tok))


def test_tokenizer_that_does_not_add_bos_is_fixed(build_tokenizer: Any, facts_for: Any) -> None:
    """G1: raw-text encodes without <bos> (evaluation harnesses, servers) break Gemma."""
    tok = build_tokenizer("2", add_bos_token=False)
    assert tok("Hello")["input_ids"][0] != 2
    facts = facts_for("gemma-2-2b-it", "2")
    finding = by_code(plugin.check_tokenizer(facts, tok))["bos-not-added-on-encode"]
    assert finding.fix.tokenizer_attributes == {"add_bos_token": True}
    apply_tokenizer_fixes(tok, [finding], [])
    assert tok("Hello")["input_ids"][0] == 2
    assert "bos-not-added-on-encode" not in by_code(plugin.check_tokenizer(facts, tok))


def test_vocabulary_without_bos_is_an_error(facts_for: Any) -> None:
    from transformers.models.gemma.tokenization_gemma import GemmaTokenizer

    vocab = {"<pad>": 0, "<eos>": 1, "<s>": 2, "<unk>": 3, "<start_of_turn>": 4, "<end_of_turn>": 5, "a": 6}
    tok = GemmaTokenizer(vocab=vocab, merges=[], bos_token="<s>")
    finding = by_code(plugin.check_tokenizer(facts_for("gemma-2b", "1"), tok))["bos-token-absent"]
    assert finding.severity == "error" and finding.fix is None


@pytest.mark.parametrize("pad", [None, "<eos>", "<end_of_turn>"])
def test_pad_missing_or_equal_to_an_end_token_gets_gemma_pad(pad: str | None, build_tokenizer: Any,
                                                               facts_for: Any) -> None:
    tok = build_tokenizer("3")
    tok.pad_token = pad
    finding = by_code(plugin.check_tokenizer(facts_for("gemma-3-1b-it", "3"), tok))
    finding = finding["pad-token-missing" if pad is None else "pad-equals-eos"]
    assert finding.fix.special_tokens == {"pad_token": "<pad>"}
    assert tok.convert_tokens_to_ids("<pad>") == 0


def test_pad_equal_to_end_of_turn_would_untrain_the_stop(build_tokenizer: Any, facts_for: Any) -> None:
    """With pad == <end_of_turn>, a pad-masking collator drops every trained end of turn; the fix restores it."""
    from transformers import DataCollatorForLanguageModeling

    tok = build_tokenizer("3")
    tok.pad_token = "<end_of_turn>"
    facts = facts_for("gemma-3-1b-it", "3")
    findings = plugin.check_tokenizer(facts, tok)
    sample = tokenize_chat(tok, render_chat(CHAT, ChatOptions(), tok))
    assert 106 in [label for label in sample.labels if label != IGNORE_INDEX]
    features = [{"input_ids": sample.input_ids}, {"input_ids": sample.input_ids[:-3]}]
    broken = DataCollatorForLanguageModeling(tok, mlm=False)(features)["labels"]
    assert 106 not in broken[0].tolist()  # the trap: the reply's <end_of_turn> is never learned
    size = len(tok)
    report = apply_tokenizer_fixes(tok, findings, plugin.stop_tokens(PLAIN, tok))
    assert tok.pad_token == "<pad>" and len(tok) == size and not report.added_tokens
    fixed = DataCollatorForLanguageModeling(tok, mlm=False)(features)["labels"]
    assert 106 in fixed[0].tolist()
    assert "pad-equals-eos" not in by_code(plugin.check_tokenizer(facts, tok))


@pytest.mark.parametrize(("config", "generation", "expected"), [
    ("gemma-2-9b-it", "2", True),    # config eos 1 only, turns end with <end_of_turn> (107)
    ("gemma-2b", "1", True),
    ("gemma-2-2b-it", "2", False),   # eos [1, 107]
    ("gemma-3-1b-it", "3", False),   # eos [1, 106]
])
def test_eos_versus_end_of_turn(config: str, generation: str, expected: bool, tokenizers: dict[str, Any],
                                facts_for: Any) -> None:
    findings = by_code(plugin.check_tokenizer(facts_for(config, generation), tokenizers[generation]))
    assert ("eos-not-end-of-turn" in findings) is expected
    if expected:
        finding = findings["eos-not-end-of-turn"]
        assert finding.fix.stop_tokens == ("<end_of_turn>",) and "id 107" in finding.message
        report = apply_tokenizer_fixes(tokenizers[generation], [finding], [])
        assert report.stop_tokens == ["<end_of_turn>", "<eos>"]


def test_gemma3_ids_are_not_taken_for_gemma2_ids(tok12: Any, facts_for: Any) -> None:
    """gemma-3-1b-it lists 106 as a stop id; in a Gemma 1/2 vocabulary 106 is <start_of_turn>, not the end."""
    assert "eos-not-end-of-turn" in by_code(plugin.check_tokenizer(facts_for("gemma-3-1b-it", "3"), tok12))


# ── model ─────────────────────────────────────────────────────────────────────────────────


def test_untrained_format_rows_are_found_and_reinitialised(tok3: Any, tiny_model: Any) -> None:
    import torch

    model = tiny_model("gemma3_text", vocab_size=len(tok3))
    assert plugin.check_model(PLAIN, model, tok3) == []
    with torch.no_grad():
        model.get_input_embeddings().weight[[105, 106]] = 0.0  # tied: the output head sees it too
    findings = plugin.check_model(PLAIN, model, tok3)
    assert [f.code for f in findings] == ["untrained-format-tokens"]
    assert findings[0].fix.reinit_token_ids == (105, 106)
    assert "<end_of_turn> (106)" in findings[0].message
    apply_model_fixes(model, tok3, FixReport(), findings)
    assert plugin.check_model(PLAIN, model, tok3) == []


# ── data ──────────────────────────────────────────────────────────────────────────────────


def test_pre_rendered_data_and_leading_bos_text_are_reported() -> None:
    rendered = ["<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>"]
    leading = ["<bos>Once upon a time", "  <bos> indented"]
    findings = by_code(plugin.check_data(facts=PLAIN, tokenizer=None, texts=rendered + leading + ["plain text"]))
    assert set(findings) == {"format-tokens-in-data", "bos-text-in-data"}
    assert findings["format-tokens-in-data"].message.startswith("1 text(s)")
    assert findings["bos-text-in-data"].message.startswith("2 text(s)")
    assert plugin.check_data(facts=PLAIN, tokenizer=None, texts=["plain", "用中文", "a <bos> in the middle"]) == []


def test_leading_bos_text_would_double_bos_in_pretraining(tok3: Any) -> None:
    """Why bos-text-in-data matters: control-token text is parsed when raw text is tokenized."""
    ids = [tok3.bos_token_id, *tok3("<bos>Once upon a time", add_special_tokens=False)["input_ids"]]
    assert ids[:2] == [2, 2]


# ── a Gemma fine-tuned into another chat format ───────────────────────────────────────────


def _chatml_gemma_tokenizer(build_tokenizer: Any) -> Any:
    """A Gemma vocabulary whose turn tokens were replaced by ChatML's (what a ChatML fine-tune ships)."""
    from transformers.models.gemma.tokenization_gemma import GemmaTokenizer

    base = build_tokenizer("2")
    vocab = {("<|im_start|>" if t == "<start_of_turn>" else "<|im_end|>" if t == "<end_of_turn>" else t): i
             for t, i in base.get_vocab().items() if i < len(base.get_vocab())}
    tok = GemmaTokenizer(vocab=vocab, merges=[])
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    return tok


def test_shipped_format_does_not_demand_gemma_turn_tokens(build_tokenizer: Any) -> None:
    tok = _chatml_gemma_tokenizer(build_tokenizer)
    assert "<end_of_turn>" not in tok.get_vocab() and "<|im_end|>" in tok.get_vocab()
    config = json.loads((ORACLES / "configs" / "gemma-2-9b-it.config.json").read_text(encoding="utf-8"))
    base = facts_from_config(config, "./my-chatml-gemma", chat_template=CHATML)
    own = plugin.check_tokenizer(facts=base.model_copy(update={"variant": "2", "chat_format": "plugin"}), tokenizer=tok)
    assert "end-of-turn-absent" in {f.code for f in own}
    shipped = plugin.check_tokenizer(facts=base.model_copy(update={"variant": "2", "chat_format": "shipped"}),
                                     tokenizer=tok)
    assert not {"end-of-turn-absent", "eos-not-end-of-turn"} & {f.code for f in shipped}
    assert {f.code for f in shipped} <= {f.code for f in own}


# ── Gemma 4 ───────────────────────────────────────────────────────────────────────────────


def test_gemma4_tokenizer_checks_use_its_turn_tokens(tok4: Any, build_tokenizer: Any, claimed: Any) -> None:
    from framework_gemma import checkpoints

    facts = claimed(checkpoints.known_model_configs()["google/gemma-4-E2B-it"])
    codes = {f.code for f in plugin.check_tokenizer(facts=facts, tokenizer=tok4)}
    assert not {"end-of-turn-absent", "eos-not-end-of-turn"} & codes  # <turn|> (106) is in eos_token_id [1, 106]
    no_stop = facts.model_copy(update={"eos_token_ids": (1,)})
    finding = next(f for f in plugin.check_tokenizer(facts=no_stop, tokenizer=tok4) if f.code == "eos-not-end-of-turn")
    assert finding.fix.stop_tokens == ("<turn|>",) and "id 106" in finding.message
    gemma3_vocab = {f.code for f in plugin.check_tokenizer(facts=facts, tokenizer=build_tokenizer("3"))}
    assert "end-of-turn-absent" in gemma3_vocab  # a Gemma 3 vocabulary has no <turn|>
    data = plugin.check_data(facts=facts, tokenizer=None, texts=["<|turn>user\nhi<turn|>", "plain"])
    assert [f.code for f in data] == ["format-tokens-in-data"] and "<|turn>/<turn|>" in data[0].message
