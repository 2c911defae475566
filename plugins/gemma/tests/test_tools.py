"""Gemma 4's tool syntax: declarations, calls and results written as the official templates write them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from framework.errors import DataError
from framework_gemma import tools

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "array", "items": {"type": "integer"}, "nullable": True},
            "Options": {"type": "object", "properties": {"hourly": {"type": "boolean"}}}},
            "required": ["city"]}}},
    {"type": "function", "function": {"name": "搜索", "description": "网页 搜索"}},
]


def _text(pieces: list[tuple[str, bool]]) -> str:
    return "".join(text for text, _ in pieces)


def test_format_argument_matches_the_macro_on_nested_values() -> None:
    text = _text(tools.format_argument({"b": [1, True, None], "A": {"z": "s"}}, escape_keys=False))
    assert text == '{A:{z:<|"|>s<|"|>},b:[1,true,null]}'
    quoted = _text(tools.format_argument({"k": 2.5}))
    assert quoted == '{<|"|>k<|"|>:2.5}'


@pytest.mark.parametrize("which", ["small", "large"])
def test_declarations_equal_the_official_templates(which: str, tok4: Any, gemma4_template: Any) -> None:
    official = tok4.apply_chat_template([{"role": "user", "content": "Hi"}], tools=TOOLS, tokenize=False,
                                        chat_template=gemma4_template(which))
    declared = re.findall(r"<\|tool>.*?<tool\|>", official, flags=re.DOTALL)
    assert len(declared) == len(TOOLS)
    assert [tools.declaration(tool) for tool in TOOLS] == declared


def test_a_call_keeps_data_apart_from_syntax_and_sorts_keys_like_dictsort() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather",
                                                        "arguments": {"unit": "c", "City": "Paris <|\"|>"}}}
    pieces = tools.call_pieces(call, 1)
    assert _text(pieces) == '<|tool_call>call:get_weather{City:<|"|>Paris <|"|><|"|>,unit:<|"|>c<|"|>}<tool_call|>'
    assert [t for t, data in pieces if data] == ["get_weather", "City", 'Paris <|"|>', "unit", "c"]


@pytest.mark.parametrize("call", [
    {"function": {"arguments": {}}},
    {"function": {"name": "f", "arguments": "{\"a\": 1}"}},
])
def test_a_call_without_a_name_or_object_arguments_is_refused(call: dict[str, Any]) -> None:
    with pytest.raises(DataError, match="message 3 has a tool call"):
        tools.call_pieces(call, 3)


def test_results_are_written_key_by_key_or_as_one_value() -> None:
    assert _text(tools.response_pieces("f", {"b": 1, "a": "x"})) == \
        'response:f{a:<|"|>x<|"|>,b:1}<tool_response|>'
    assert _text(tools.response_pieces("f", "18 C")) == 'response:f{value:<|"|>18 C<|"|>}<tool_response|>'


def test_a_declaration_without_a_function_name_is_refused() -> None:
    with pytest.raises(DataError, match="no `function.name`"):
        tools.declaration({"type": "function", "function": {"description": "nameless"}})


def test_tool_results_must_answer_a_call() -> None:
    call = {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}
    tools.check_tool_messages([{"role": "user", "content": "q"}, call, {"role": "tool", "content": "1"},
                               {"role": "tool", "content": "2"}], 0)
    with pytest.raises(DataError, match="message 2 is a tool result that follows no assistant tool call"):
        tools.check_tool_messages([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                                   {"role": "tool", "content": "1"}], 0)
