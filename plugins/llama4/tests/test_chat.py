"""The chat format against the official Llama 4 template: same string, same ids, labels exactly the replies."""

from __future__ import annotations

from typing import Any

import pytest

from framework.chat import IGNORE_INDEX, tokenize_chat
from framework.errors import DataError
from framework.facts import facts_from_config
from framework.hookdata import ChatOptions
from framework_llama4 import checkpoints, plugin

SCOUT = facts_from_config(checkpoints.known_model_configs()["meta-llama/Llama-4-Scout-17B-16E-Instruct"], "scout")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "查询城市天气 / current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CLOCK = {"type": "function", "function": {"name": "local_time", "description": "Local time",
                                          "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
TOOLS = [WEATHER, CLOCK]


def call(*calls: tuple[str, dict[str, Any]], content: str = "") -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": [
        {"id": None, "type": "function", "function": {"name": n, "arguments": a}} for n, a in calls]}


PLAIN: list[list[dict[str, Any]]] = [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    [{"role": "system", "content": "  You are terse.\n"}, {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another?"},
     {"role": "assistant", "content": "Red."}],
    [{"role": "user", "content": "用中文解释一下量子纠缠。"},
     {"role": "assistant", "content": "量子纠缠是指两个粒子的状态相互关联，即使相距遥远。😊"}],
    [{"role": "user", "content": "   leading and trailing   \n\n"},
     {"role": "assistant", "content": "\n\n  padded reply\t \n"}, {"role": "user", "content": "\r\nwindows\r\n"},
     {"role": "assistant", "content": " x "}],
    [{"role": "user", "content": "Write python:\n```python\ndef f(x):\n    return x * 2\n```"},
     {"role": "assistant", "content": "```python\ndef f(x: int) -> int:\n\treturn x * 2\n```\n"}],
]
TOOL_SAMPLES: list[list[dict[str, Any]]] = [
    [{"role": "user", "content": "Weather in Paris?"}, call(("get_weather", {"city": "Paris"})),
     {"role": "tool", "content": '{"temperature": 18}'}, {"role": "assistant", "content": "18 °C."}],
    [{"role": "system", "content": "Travel helper."}, {"role": "user", "content": "Weather and time in Tokyo?"},
     call(("get_weather", {"city": "Tokyo"}), ("local_time", {"tz": "Asia/Tokyo"})),
     {"role": "tool", "content": '{"temperature": 25}'}, {"role": "tool", "content": "21:04"},
     {"role": "assistant", "content": "25 °C and 21:04."}],
    [{"role": "system", "content": "你是助手。"}, {"role": "user", "content": "北京天气？"},
     call(("get_weather", {"city": "北京"}), content="我查一下。"), {"role": "tool", "content": '{"天气": "晴"}'},
     {"role": "assistant", "content": "北京今天晴。"}, {"role": "user", "content": "谢谢"},
     {"role": "assistant", "content": "不客气"}],
]


def official(tok: Any, template: str, messages: list[dict[str, Any]], generation: bool, tools: Any = None,
             **kwargs: Any) -> str:
    return tok.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=False,
                                   add_generation_prompt=generation, **kwargs)


def ours(tok: Any, messages: list[dict[str, Any]], generation: bool, tools: Any = None, **kwargs: Any) -> Any:
    return plugin.render_chat(SCOUT, messages, ChatOptions(add_generation_prompt=generation,
                                                           extra=tuple(kwargs.items())), tok, tools)


def spans(tok: Any, template: str, messages: list[dict[str, Any]], tools: Any, **kwargs: Any) -> list[tuple[int, int]]:
    return [(len(official(tok, template, messages[:i], True, tools, **kwargs)),
             len(official(tok, template, messages[: i + 1], False, tools, **kwargs)))
            for i, m in enumerate(messages) if m["role"] == "assistant"]


def labels(tok: Any, text: str, trained: list[tuple[int, int]]) -> list[int]:
    """Tokens that overlap a reply's span carry loss (the core's rule: a token that merges the header's
    ``\n\n`` with a reply's leading newlines, possible because Llama 4 does not trim, is trained)."""
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    return [i if any(a < max(e, s + 1) and s < b for a, b in trained) else IGNORE_INDEX
            for i, (s, e) in zip(enc["input_ids"], enc["offset_mapping"])]


CASES = ([("plain", i, None, {}) for i in range(len(PLAIN))]
         + [("tools", i, TOOLS, k) for i, sample in enumerate(TOOL_SAMPLES)
            for k in ({}, {"tools_in_user_message": False}) if not k or sample[0]["role"] == "system"])


@pytest.mark.parametrize(("kind", "index", "tools", "kwargs"), CASES)
def test_render_equals_official_string_ids_and_labels(kind: str, index: int, tools: Any, kwargs: dict[str, Any],
                                                      tok4: Any, template4: str) -> None:
    messages = (PLAIN if kind == "plain" else TOOL_SAMPLES)[index]
    rendered = ours(tok4, messages, False, tools, **kwargs)
    expected = official(tok4, template4, messages, False, tools, **kwargs)
    assert rendered.text == expected
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            assert ours(tok4, messages[:i], True, tools, **kwargs).text == official(
                tok4, template4, messages[:i], True, tools, **kwargs)
    encoded = tokenize_chat(tok4, rendered)
    assert encoded.input_ids == tok4(expected, add_special_tokens=False)["input_ids"]
    assert encoded.labels == labels(tok4, expected, spans(tok4, template4, messages, tools, **kwargs))
    assert encoded.input_ids.count(200000) == 1


def test_trained_tokens_are_replies_calls_and_end_of_turn(tok4: Any) -> None:
    rendered = ours(tok4, TOOL_SAMPLES[1], False, TOOLS)
    kinds = {(s.kind, s.trainable) for s in rendered.segments}
    assert ("tool_call", True) in kinds and ("tool_result", False) in kinds and ("tools", False) in kinds
    assert not {("tool_result", True), ("tools", True)} & kinds
    trained = tok4.decode([i for i in tokenize_chat(tok4, rendered).labels if i != IGNORE_INDEX])
    assert trained == ('<|python_start|><|python_end|>{"name": "get_weather", "parameters": {"city": "Tokyo"}}'
                       '{"name": "local_time", "parameters": {"tz": "Asia/Tokyo"}}<|eot|>25 °C and 21:04.<|eot|>')


def test_stop_tokens_and_features(tok4: Any) -> None:
    assert plugin.stop_tokens(SCOUT, tok4) == ["<|eot|>", "<|eom|>"]
    assert tok4.convert_tokens_to_ids(["<|eot|>", "<|eom|>"]) == [200008, 200007]
    features = plugin.chat_features(SCOUT, tok4)
    assert features.tools and not features.reasoning


@pytest.mark.parametrize(("messages", "kwargs", "match"), [
    ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "reasoning_content": "r"}], {},
     "reasoning"),
    (TOOL_SAMPLES[0], {"tools_in_user_message": False}, "no system message"),
    ([{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}], {}, "must be a user message"),
])
def test_what_the_template_cannot_show_is_refused(messages: Any, kwargs: Any, match: str, tok4: Any) -> None:
    with pytest.raises(DataError, match=match):
        ours(tok4, messages, False, TOOLS if "reasoning" not in match else None, **kwargs)
