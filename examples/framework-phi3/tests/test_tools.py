"""Phi-3 has no tool syntax: the official templates lose tool content, the plugin refuses it instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.data.content_checks import features_note, refuse_undeclared
from framework.data.formats import Example
from framework.errors import DataError
from framework.hookdata import ChatOptions
from framework_phi3 import chat, tools
from framework_phi3.tokenizer import build_tokenizer

TEMPLATES = Path(__file__).parent / "templates"
CITY = {"type": "object", "properties": {"city": {"type": "string"}}}
WEATHER = {"type": "function", "function": {"name": "weather", "description": "Weather in a city", "parameters": CITY}}
CALL = {"type": "function", "function": {"name": "weather", "arguments": {"city": "Paris"}}}
WITH_TOOLS = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
    {"role": "tool", "content": "18 C, sunny"},
    {"role": "assistant", "content": "Sunny, 18 C."},
]


@pytest.mark.parametrize("name", ["phi-3-mini-instruct.jinja", "phi-3.5-mini-instruct.jinja"])
def test_official_templates_drop_tool_content_silently(name: str) -> None:
    """What the plugin refuses: the template renders the tool turn, the call and the declarations as nothing."""
    template = (TEMPLATES / name).read_text(encoding="utf-8")
    rendered = build_tokenizer().apply_chat_template(WITH_TOOLS, tools=[WEATHER], chat_template=template,
                                                     tokenize=False)
    assert "18 C, sunny" not in rendered and '"city"' not in rendered and "Weather in a city" not in rendered
    assert rendered == ("<|user|>\nWeather in Paris?<|end|>\n<|assistant|>\n<|end|>\n"
                        "<|assistant|>\nSunny, 18 C.<|end|>\n<|endoftext|>")


def test_features_declare_no_tools_with_the_reason() -> None:
    assert not chat.FEATURES.tools and not chat.FEATURES.reasoning
    assert chat.FEATURES.notes == (tools.NO_TOOL_SYNTAX,)
    assert features_note(chat.FEATURES, "phi3").endswith(f"(no reasoning, no tools) ({tools.NO_TOOL_SYNTAX})")


def test_the_core_refuses_tool_samples_before_rendering() -> None:
    sample = Example(messages=tuple(WITH_TOOLS), source="chat.jsonl", line=3)
    with pytest.raises(DataError) as caught:
        refuse_undeclared([sample], chat.FEATURES, "phi3")
    assert caught.value.where == "chat.jsonl:3" and "tool calls" in str(caught.value)


def test_render_refuses_declarations_and_calls_instead_of_dropping_them() -> None:
    tokenizer = build_tokenizer()
    plain = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    with pytest.raises(DataError, match="1 tool declaration") as declared:
        chat.render(plain, ChatOptions(), tokenizer, [WEATHER])
    assert declared.value.where == "field 'tools'"
    with pytest.raises(DataError, match="1 tool call") as called:
        chat.render(WITH_TOOLS, ChatOptions(), tokenizer)
    assert called.value.where == "message 1"


def test_plain_conversations_have_no_unrendered_tool_content() -> None:
    assert tools.unrendered([{"role": "user", "content": "Hi"}], None) is None
    assert tools.unrendered([{"role": "user", "content": "Hi"}], []) is None
    assert tools.unrendered(WITH_TOOLS[:2], None) == ("message 1", "1 tool call(s)")
