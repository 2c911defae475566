"""The Llama 4 tool syntax: declarations, fenced calls and results, each as the launch template writes it.

Whole tool conversations (call -> result -> answer, several calls, text beside a call, declarations in
the user or system turn) are compared with the template in test_chat.py; here each helper of
``framework_llama4.tools`` is checked on its own.
"""

from __future__ import annotations

from typing import Any

from framework_llama4 import tools

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "查询城市天气 / current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "local_time", "description": "Local time",
                                      "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}]


def test_tool_syntax_helpers_write_what_the_official_template_writes(tok4: Any, template4: str) -> None:
    """The helpers ``chat`` places in the turns, each found verbatim in the launch template's rendering."""
    calling = {"role": "assistant", "content": "先查一下。", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "北京"}}},
        {"type": "function", "function": {"name": "local_time", "arguments": {}}}]}
    messages = [{"role": "user", "content": "北京天气和时间？"}, calling, {"role": "tool", "content": "晴"}]
    expected = tok4.apply_chat_template(messages, tools=TOOLS, chat_template=template4, tokenize=False)
    calls = tools.calls_text(messages[1]["tool_calls"])
    assert calls == '{"name": "get_weather", "parameters": {"city": "北京"}}{"name": "local_time", "parameters": {}}'
    segments = tools.call_segments("先查一下。", messages[1]["tool_calls"], 1)
    assert all(s.trainable and s.kind == "tool_call" and s.message_index == 1 for s in segments)
    body = "".join(s.text for s in segments)
    assert body == f"<|python_start|>先查一下。<|python_end|>{calls}" and f"{body}<|eot|>" in expected
    assert tools.result_text("晴") == '"晴"' and '<|header_end|>\n\n"晴"<|eot|>' in expected
    assert tools.TOOLS_IN_USER in expected and all(d.text in expected for d in tools.declarations(TOOLS))
