"""``framework_qwen.tools``: Qwen's Hermes JSON and XML tool syntax, against the official templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from framework.hookdata import Segment
from framework_qwen import tools

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "天气",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
CALL = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "北京", "metric": True}}}


def _text(segments: list[Any]) -> str:
    return "".join(s.text for s in segments)


@pytest.mark.parametrize(("template_name", "declarations"), [
    ("qwen2.5-7b-instruct.jinja", lambda: tools.hermes_system_turn("Be brief.", [WEATHER], "\n\n")),
    ("2026/templates/Qwen-Qwen3.5-9B.jinja",
     lambda: [Segment("<|im_start|>system\n"), *tools.xml_declarations([WEATHER]),
              Segment("\n\nBe brief.<|im_end|>\n")]),
])
def test_declarations_are_the_official_system_turn(tokenizer: Any, template: Any, template_name: str,
                                                   declarations: Any) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    official = tokenizer.apply_chat_template(messages, tools=[WEATHER], chat_template=template(template_name),
                                             tokenize=False)
    assert official.startswith(_text(declarations()))
    assert '"description": "天气"' in official  # tojson keeps non-ASCII text as it is


def test_hermes_call_is_json_the_model_writes() -> None:
    segments = tools.hermes_call(CALL, 3, "\n", arguments_as_given=False)
    text = _text(segments)
    assert text.startswith("\n<tool_call>\n") and text.endswith("\n</tool_call>")
    assert json.loads(text.strip()[len("<tool_call>"):-len("</tool_call>")]) == CALL["function"]
    assert all(s.trainable and s.kind == "tool_call" and s.message_index == 3 for s in segments)
    flat = {"name": "f", "arguments": '{"a": 1}'}
    assert tools.call_parts(flat) == ("f", '{"a": 1}')
    assert '"arguments": {"a": 1}}' in _text(tools.hermes_call(flat, 0, "", arguments_as_given=True))
    assert '"arguments": "{\\"a\\": 1}"}' in _text(tools.hermes_call(flat, 0, "", arguments_as_given=False))


def test_xml_calls_write_scalars_per_generation() -> None:
    message = {"role": "assistant", "content": "", "tool_calls": [CALL, {"name": "now", "arguments": {}}]}
    qwen35 = _text(tools.xml_calls("3.5", message, "", 1))
    assert qwen35 == ("<tool_call>\n<function=get_weather>\n<parameter=city>\n北京\n</parameter>\n"
                      "<parameter=metric>\nTrue\n</parameter>\n</function>\n</tool_call>\n"
                      "<tool_call>\n<function=now>\n</function>\n</tool_call>")
    assert "<parameter=metric>\ntrue\n</parameter>" in _text(tools.xml_calls("3.6", message, "", 1))
    assert _text(tools.xml_calls("3.8", message, "ok", 1)).startswith("\n\n<tool_call>")
    assert tools.xml_argument("3.5", {"k": [1, None]}) == '{"k": [1, null]}'


def test_consecutive_results_share_one_user_turn() -> None:
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "tool_calls": [CALL]},
                {"role": "tool", "content": " 晴 "}, {"role": "tool", "content": "25"}]
    hermes = _text(tools.hermes_result(messages, 2) + tools.hermes_result(messages, 3))
    assert hermes == ("<|im_start|>user\n<tool_response>\n 晴 \n</tool_response>"
                      "\n<tool_response>\n25\n</tool_response><|im_end|>\n")
    xml = _text(tools.xml_result(messages, 2) + tools.xml_result(messages, 3))
    assert xml == hermes.replace(" 晴 ", "晴")
    assert not any(s.trainable for s in tools.hermes_result(messages, 2) + tools.xml_result(messages, 3))
