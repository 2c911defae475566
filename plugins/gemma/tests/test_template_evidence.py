"""The shipped chat template decides the format (issue 13); Gemma 1-3 refuse what they cannot show (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.errors import DataError
from framework.facts import facts_from_config
from framework.hookdata import ChatOptions, ModelFacts
from framework.plugins import make_plugin_host
from framework_gemma import plugin

ORACLES = Path(__file__).resolve().parent / "oracles"
CHATML = (ORACLES / "templates" / "qwen2-7b-instruct.jinja").read_text(encoding="utf-8")
GEMMA3 = (ORACLES / "templates" / "gemma-3-1b-it.jinja").read_text(encoding="utf-8")
GEMMA2 = (ORACLES / "templates" / "gemma-2-9b-it.jinja").read_text(encoding="utf-8")
CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]


def _config(name: str) -> dict[str, Any]:
    return json.loads((ORACLES / "configs" / f"{name}.config.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "template"), [("gemma-3-1b-it", GEMMA3), ("gemma-2-9b-it", GEMMA2)])
def test_gemma_template_confirms_the_format_and_is_named(name: str, template: str) -> None:
    result = plugin.match_model(facts_from_config(_config(name), f"./{name}", chat_template=template))
    assert result.chat_format == "plugin" and result.score == 100
    assert "chat template of the model directory: Gemma turn markers <start_of_turn>/<end_of_turn>" in result.reasons


def test_without_a_template_the_config_alone_decides() -> None:
    result = plugin.match_model(facts_from_config(_config("gemma-3-1b-it"), "google/gemma-3-1b-it"))
    assert result.chat_format == "plugin" and not any("chat template" in r for r in result.reasons)


def test_chatml_fine_tune_of_gemma_is_claimed_with_the_shipped_format() -> None:
    facts = facts_from_config(_config("gemma-2-9b-it"), "./my-chatml-gemma", chat_template=CHATML)
    result = plugin.match_model(facts)
    assert result.variant == "2" and result.score == 100 and result.chat_format == "shipped"
    assert any("another format (ChatML (<|im_start|>))" in r for r in result.reasons)
    host = make_plugin_host()
    selection = host.select(facts)
    assert selection.name == "gemma"
    family = host.family(selection, facts)
    assert family.facts.chat_format == "shipped"
    # The plugin steps aside for chat; its architecture knowledge stays.
    shipped_facts = family.facts
    assert plugin.render_chat(facts=shipped_facts, messages=CHAT, options=ChatOptions(), tokenizer=None,
                              tools=None) is None
    assert plugin.chat_features(facts=shipped_facts, tokenizer=None) is None
    assert plugin.stop_tokens(facts=shipped_facts, tokenizer=None) is None
    assert plugin.lora_target_modules(facts=shipped_facts, method="lora", train_embeddings=False).target_modules


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
    base = facts_from_config(_config("gemma-2-9b-it"), "./my-chatml-gemma", chat_template=CHATML)
    own = plugin.check_tokenizer(facts=base.model_copy(update={"variant": "2", "chat_format": "plugin"}), tokenizer=tok)
    assert "end-of-turn-absent" in {f.code for f in own}
    shipped = plugin.check_tokenizer(facts=base.model_copy(update={"variant": "2", "chat_format": "shipped"}),
                                     tokenizer=tok)
    assert not {"end-of-turn-absent", "eos-not-end-of-turn"} & {f.code for f in shipped}
    assert {f.code for f in shipped} <= {f.code for f in own}


FACTS_3 = ModelFacts(name_or_path="google/gemma-3-1b-it", model_type="gemma3_text", variant="3",
                     chat_format="plugin")


def test_gemma_1_to_3_declare_neither_reasoning_nor_tools() -> None:
    features = plugin.chat_features(facts=FACTS_3, tokenizer=None)
    assert features.reasoning is False and features.tools is False
    assert "no tool role" in features.notes[0]


@pytest.mark.parametrize(("messages", "tools", "says"), [
    ([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "add"}],
     None, "message 1 carries reasoning_content"),
    ([{"role": "user", "content": "weather?"}, {"role": "assistant", "content": "",
      "tool_calls": [{"id": None, "type": "function", "function": {"name": "w", "arguments": {}}}]}],
     None, "message 1 carries tool_calls"),
    (CHAT, [{"type": "function", "function": {"name": "w", "description": "d"}}], "declares tools"),
    ([{"role": "user", "content": "a"}, {"role": "tool", "content": "42"}], None, "role 'tool'"),
])
def test_gemma_1_to_3_refuse_reasoning_and_tools_in_one_line(messages: list[dict[str, Any]], tools: Any, says: str,
                                                            tok3: Any) -> None:
    with pytest.raises(DataError, match=says) as caught:
        plugin.render_chat(facts=FACTS_3, messages=messages, options=ChatOptions(), tokenizer=tok3, tools=tools)
    assert "\n" not in str(caught.value)
