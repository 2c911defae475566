"""Tekken v7 / v11 / v13 formats (Small 3.1, Small 3.2, Magistral, Ministral 3): token parity with mistral-common.

Each sample is rendered by the plugin, tokenized by the core and compared with
``encode_chat_completion`` of mistral-common for the same tokenizer version; the trained token
runs must be exactly mistral-common's encoding of each assistant message (reasoning, text, tool
calls and ``</s>``), nothing else.
"""

from __future__ import annotations

import pytest

from framework.chat import tokenize_chat
from framework.errors import DataError
from framework.facts import facts_from_config
from framework.hookdata import ChatOptions
from framework_mistral import chat, plugin

from .conftest import mistral_common_request
from .test_tools import TIME, WEATHER, call, trained_runs

SMALL31 = "mistralai/Mistral-Small-3.1-24B-Instruct-2503"
SMALL32 = "mistralai/Mistral-Small-3.2-24B-Instruct-2506"
MAGISTRAL = "mistralai/Magistral-Small-2507"
MINISTRAL_R = "mistralai/Ministral-3-14B-Reasoning-2512"
VERSION = {SMALL31: "v7", SMALL32: "v11", MAGISTRAL: "v13", MINISTRAL_R: "v13"}

PLAIN = [{"role": "system", "content": "Réponds en français."}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Bonjour !"}, {"role": "user", "content": "2+2?"},
         {"role": "assistant", "content": "4"}]
TOOLS = [{"role": "user", "content": "Weather and time in Tokyo?"},
         {"role": "assistant", "content": "", "tool_calls": [call("w1e2a3t4h", "get_weather", city="Tokyo"),
                                                             call("t1i2m3e4x", "local_time", city="Tokyo")]},
         {"role": "tool", "content": '{"temperature": 18}', "tool_call_id": "w1e2a3t4h"},
         {"role": "tool", "content": "22:15", "tool_call_id": "t1i2m3e4x"},
         {"role": "assistant", "content": "18 °C, 22:15."},
         {"role": "user", "content": "谢谢！"}, {"role": "assistant", "content": "不客气。"}]
CHINESE_CALL = [{"role": "system", "content": "你是天气助手。"}, {"role": "user", "content": "北京天气？"},
                {"role": "assistant", "content": "我查一下。",
                 "tool_calls": [call("z9Y8x7W6v", "get_weather", city="北京")]},
                {"role": "tool", "content": "晴，25度", "tool_call_id": "z9Y8x7W6v"},
                {"role": "assistant", "content": "北京晴，25度。"}]
REASONING = [{"role": "system", "content": "Think step by step."}, {"role": "user", "content": "17*23?"},
             {"role": "assistant", "reasoning_content": "17*23 = 17*20 + 17*3 = 340 + 51 = 391", "content": "391"},
             {"role": "user", "content": "再加9？"},
             {"role": "assistant", "reasoning_content": "391 + 9 = 400，很简单。", "content": "400"}]
REASONING_TOOLS = [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Oslo?"},
                   {"role": "assistant", "reasoning_content": "I need the weather tool.", "content": "",
                    "tool_calls": [call("o5s6l7o8x", "get_weather", city="Oslo")]},
                   {"role": "tool", "content": '{"temperature": -3}', "tool_call_id": "o5s6l7o8x"},
                   {"role": "assistant", "reasoning_content": "Cold.", "content": "-3 °C."}]

CASES = [(SMALL31, "plain", PLAIN, None), (SMALL31, "tools", TOOLS, [WEATHER, TIME]),
         (SMALL31, "chinese-call", CHINESE_CALL, [WEATHER]),
         (SMALL32, "plain", PLAIN, None), (SMALL32, "tools", TOOLS, [WEATHER, TIME]),
         (SMALL32, "chinese-call", CHINESE_CALL, [WEATHER]),
         (MAGISTRAL, "reasoning", REASONING, None), (MAGISTRAL, "reasoning-tools", REASONING_TOOLS, [WEATHER]),
         (MAGISTRAL, "tools", TOOLS, [WEATHER, TIME]), (MINISTRAL_R, "reasoning", REASONING, None),
         (MINISTRAL_R, "chinese-call", CHINESE_CALL, [WEATHER])]


def default_system_message() -> dict:
    """The reasoning models' default system prompt as mistral-common chunks: text, closed think, text."""
    first, think, last = chat.REASONING_SYSTEM
    return {"role": "system", "content": [{"type": "text", "text": first},
                                          {"type": "thinking", "thinking": think, "closed": True},
                                          {"type": "text", "text": last}]}


def as_served(hub_id: str, messages: list[dict]) -> list[dict]:
    """What mistral-common is given: reasoning models get the default system prompt when a sample has none."""
    if hub_id in (MAGISTRAL, MINISTRAL_R) and not any(m["role"] == "system" for m in messages):
        return [default_system_message(), *messages]
    return messages


def facts_of(hub_id: str):
    config = plugin.known_model_configs()[hub_id]
    facts = facts_from_config(config, hub_id)
    return facts.model_copy(update={"variant": plugin.match_model(facts).variant})


@pytest.mark.parametrize("hub_id,name,messages,tools", CASES, ids=[f"{VERSION[c[0]]}-{c[0].split('/')[1]}-{c[1]}"
                                                                    for c in CASES])
def test_ids_and_labels_equal_mistral_common(tekken_later, hub_id, name, messages, tools):
    from mistral_common.protocol.instruct.messages import AssistantMessage

    facts, tok = facts_of(hub_id), tekken_later.tokenizer
    encoder = tekken_later.encoder(VERSION[hub_id])
    rendered = plugin.render_chat(facts, messages, ChatOptions(), tok, tools)
    chat = tokenize_chat(tok, rendered)
    request = mistral_common_request(as_served(hub_id, messages), tools)
    assert chat.input_ids == encoder.encode_chat_completion(request).tokens
    replies = [encoder.instruct_tokenizer.encode_assistant_message(m, False) for m in request.messages
               if isinstance(m, AssistantMessage)]
    assert trained_runs(chat) == replies
    if any(m.get("reasoning_content") for m in messages):
        kinds = [s.kind for s in rendered.segments if s.trainable]
        assert "reasoning" in kinds


@pytest.mark.parametrize("hub_id", [MAGISTRAL, MINISTRAL_R])
def test_reasoning_models_get_their_default_system_prompt(tekken_later, hub_id):
    """No system message: the default reasoning prompt, its [THINK] part as control tokens (three chunks)."""
    facts, tok = facts_of(hub_id), tekken_later.tokenizer
    messages = [{"role": "user", "content": "1+1?"}, {"role": "assistant", "reasoning_content": "1+1=2",
                                                      "content": "2"}]
    expected = tekken_later.encoder("v13").encode_chat_completion(
        mistral_common_request([default_system_message(), *messages]))
    chat = tokenize_chat(tok, plugin.render_chat(facts, messages, ChatOptions(), tok, None))
    assert chat.input_ids == expected.tokens
    plain = plugin.render_chat(facts, messages, ChatOptions(extra=(("default_system_prompt", False),)), tok, None)
    assert "[SYSTEM_PROMPT]" not in plain.text
    assert plugin.chat_features(facts, tok).reasoning


def test_the_ministral_reasoning_hub_template_default_prompt_is_ours(official, tekken_later):
    """The Hub template of Ministral-3-14B-Reasoning-2512 renders the same default system prompt."""
    template = official.template("mistralai-Ministral-3-14B-Reasoning-2512.jinja")
    tok = tekken_later.tokenizer
    messages = [{"role": "user", "content": "1+1?"}]
    hub = tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=True)
    ours = plugin.render_chat(facts_of(MINISTRAL_R), messages, ChatOptions(add_generation_prompt=True), tok, None)
    assert ours.text == hub


def test_reasoning_is_refused_before_v13(tekken_later):
    with pytest.raises(DataError, match="no \\[THINK\\] tokens"):
        plugin.render_chat(facts_of(SMALL32), REASONING, ChatOptions(), tekken_later.tokenizer, None)
    assert not plugin.chat_features(facts_of(SMALL32), tekken_later.tokenizer).reasoning
    assert plugin.chat_features(facts_of(SMALL32), tekken_later.tokenizer).tools


def test_a_wrong_call_id_is_a_data_error_for_v11(tekken_later):
    bad = [dict(m) for m in TOOLS]
    bad[1] = {**bad[1], "tool_calls": [call("toolong123", "get_weather", city="Tokyo")]}
    with pytest.raises(DataError, match="message 1"):
        plugin.render_chat(facts_of(SMALL32), bad, ChatOptions(), tekken_later.tokenizer, [WEATHER])


@pytest.mark.parametrize("version", ["v7", "v11", "v13"])
def test_plain_conversations_equal_mistral_commons_generated_templates(official, tekken_later, version):
    """mistral-common's own template generator output agrees with the renderer on plain chats."""
    hub_id = {"v7": SMALL31, "v11": SMALL32, "v13": MINISTRAL_R}[version]
    template = official.template(f"mistral-common-generated/{version}.jinja")
    tok = tekken_later.tokenizer
    for messages in (PLAIN, PLAIN[:4], CHINESE_CALL[:2]):
        prompt = messages[-1]["role"] == "user"
        options = ChatOptions(add_generation_prompt=prompt, extra=(("default_system_prompt", False),))
        ours = plugin.render_chat(facts_of(hub_id), messages, options, tok, None).text
        assert ours == tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                               add_generation_prompt=prompt)
