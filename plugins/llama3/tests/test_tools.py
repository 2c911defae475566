"""Tool use against the official 3.1/3.2 templates rendered by jinja with ``tools=``: same string, same ids,
labels exactly the replies and calls (with their end token), never the declarations or the results."""

from __future__ import annotations

from typing import Any

import pytest

from framework.chat import IGNORE_INDEX, tokenize_chat
from framework.errors import DataError
from framework.hookdata import ChatOptions
from framework_llama3 import plugin, tools

CONFIG_OF = {"3": "Meta-Llama-3-8B-Instruct", "3.1": "Llama-3.1-8B-Instruct", "3.2": "Llama-3.2-3B-Instruct"}
DATE = "02 Jan 2025"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "查询城市天气 / current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "城市"},
                                                    "unit": {"type": "string", "enum": ["c", "f"]}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "local_time", "description": "Local time in a timezone",
                                         "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
TOOLS = [WEATHER, TIME]


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": None, "type": "function", "function": {"name": name, "arguments": arguments}}]}


def result(content: str) -> dict[str, Any]:
    return {"role": "tool", "content": content}


SAMPLES: dict[str, list[dict[str, Any]]] = {
    "call-result-answer": [
        {"role": "user", "content": "What's the weather in Paris?"}, call("get_weather", city="Paris", unit="c"),
        result('{"temperature": 18, "sky": "cloudy"}'), {"role": "assistant", "content": "18 °C and cloudy."}],
    "two-calls": [
        {"role": "system", "content": "You are a travel assistant."},
        {"role": "user", "content": "Weather and time in Tokyo?"}, call("get_weather", city="Tokyo"),
        result('{"temperature": 25}'), call("local_time", tz="Asia/Tokyo"), result("21:04"),
        {"role": "assistant", "content": "25 °C, and it is 21:04 there."}],
    "chinese": [
        {"role": "system", "content": "你是一个乐于助人的助手。"}, {"role": "user", "content": "北京今天天气怎么样？"},
        call("get_weather", city="北京"), result('{"温度": 20, "天气": "晴"}'),
        {"role": "assistant", "content": "北京今天晴，气温 20 度。"}, {"role": "user", "content": "谢谢！"},
        {"role": "assistant", "content": "不客气 😊"}],
}
OPTIONS = {"default": {}, "in-system": {"tools_in_user_message": False},
           "builtin": {"builtin_tools": ["brave_search", "wolfram_alpha", "code_interpreter"]}}


def official(tok: Any, template: str, messages: list[dict[str, Any]], generation: bool, **kwargs: Any) -> str:
    return tok.apply_chat_template(messages, tools=TOOLS, chat_template=template, tokenize=False,
                                   add_generation_prompt=generation, date_string=DATE, **kwargs)


def ours(facts: Any, tok: Any, messages: list[dict[str, Any]], generation: bool, **kwargs: Any) -> Any:
    options = ChatOptions(add_generation_prompt=generation, extra=(("date_string", DATE), *kwargs.items()))
    return plugin.render_chat(facts, messages, options, tok, TOOLS)


def trained_spans(tok: Any, template: str, messages: list[dict[str, Any]], **kwargs: Any) -> list[tuple[int, int]]:
    """Each assistant turn: from the end of the official inference prompt to the end of the turn."""
    return [(len(official(tok, template, messages[:i], True, **kwargs)),
             len(official(tok, template, messages[: i + 1], False, **kwargs)))
            for i, m in enumerate(messages) if m["role"] == "assistant"]


def token_labels(tok: Any, text: str, spans: list[tuple[int, int]]) -> list[int]:
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    return [i if any(a <= s and e <= b for a, b in spans) else IGNORE_INDEX
            for i, (s, e) in zip(enc["input_ids"], enc["offset_mapping"])]


CASES = [(v, s, o) for v in ("3.1", "3.2") for s in SAMPLES for o in OPTIONS if not (v == "3.2" and o == "builtin")]


@pytest.mark.parametrize(("variant", "sample", "option"), CASES)
def test_tool_samples_equal_the_official_template(variant: str, sample: str, option: str, tok31: Any,
                                                  facts_for: Any, official_template: Any) -> None:
    facts, template, messages = facts_for(CONFIG_OF[variant], variant), official_template(variant), SAMPLES[sample]
    kwargs = OPTIONS[option]
    rendered = ours(facts, tok31, messages, False, **kwargs)
    expected = official(tok31, template, messages, False, **kwargs)
    assert rendered.text == expected
    for i in range(1, len(messages)):  # every inference prompt along the way
        if messages[i]["role"] == "assistant":
            assert ours(facts, tok31, messages[:i], True, **kwargs).text == official(
                tok31, template, messages[:i], True, **kwargs)
    encoded = tokenize_chat(tok31, rendered)
    assert encoded.input_ids == tok31(expected, add_special_tokens=False)["input_ids"]
    assert encoded.labels == token_labels(tok31, expected, trained_spans(tok31, template, messages, **kwargs))


@pytest.mark.parametrize("option", ["default", "builtin"])
def test_labels_are_calls_answers_and_their_end_tokens(option: str, tok31: Any, facts_for: Any) -> None:
    facts, messages = facts_for(CONFIG_OF["3.1"], "3.1"), SAMPLES["two-calls"]
    rendered = ours(facts, tok31, messages, False, **OPTIONS[option])
    kinds = {(s.kind, s.trainable) for s in rendered.segments}
    assert {("tool_call", True), ("tool_result", False), ("tools", False), ("text", True)} <= kinds
    assert not {("tool_result", True), ("tools", True)} & kinds
    trained = tok31.decode([i for i in tokenize_chat(tok31, rendered).labels if i != IGNORE_INDEX])
    end = "<|eom_id|>" if option == "builtin" else "<|eot_id|>"
    assert trained == ('{"name": "get_weather", "parameters": {"city": "Tokyo"}}' + end
                       + '{"name": "local_time", "parameters": {"tz": "Asia/Tokyo"}}' + end
                       + "25 °C, and it is 21:04 there.<|eot_id|>")


def test_builtin_tool_calls_use_python_tag_and_eom(tok31: Any, facts_for: Any, official_template: Any) -> None:
    messages = [{"role": "user", "content": "Search the news"}, call("brave_search", query="llama 3.1"),
                result("results..."), {"role": "assistant", "content": "Here they are."}]
    kwargs = OPTIONS["builtin"]
    text = ours(facts_for(CONFIG_OF["3.1"], "3.1"), tok31, messages, False, **kwargs).text
    assert text == official(tok31, official_template("3.1"), messages, False, **kwargs)
    assert '<|python_tag|>brave_search.call(query="llama 3.1")<|eom_id|>' in text
    assert "Environment: ipython\nTools: brave_search, wolfram_alpha\n\n" in text


def test_chat_features_by_variant(tok31: Any, facts_for: Any) -> None:
    assert not plugin.chat_features(facts_for(CONFIG_OF["3"], "3"), tok31).tools
    for variant in ("3.1", "3.2"):
        features = plugin.chat_features(facts_for(CONFIG_OF[variant], variant), tok31)
        assert features.tools and not features.reasoning


@pytest.mark.parametrize(("messages", "match"), [
    ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [
        {"id": None, "type": "function", "function": {"name": "get_weather", "arguments": {"city": "a"}}},
        {"id": None, "type": "function", "function": {"name": "local_time", "arguments": {}}}]}], "2 tool calls"),
    ([{"role": "user", "content": "x"}, {**call("get_weather", city="a"), "content": "Let me check."}],
     "text besides its tool call"),
    ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "reasoning_content": "hmm"}],
     "reasoning"),
    ([{"role": "system", "content": "s"}], "no user message"),
    ([{"role": "user", "content": "x"}, call("brave_search", count=3)], "non-string argument"),
])
def test_what_the_template_cannot_show_is_refused(messages: list[dict[str, Any]], match: str, tok31: Any,
                                                  facts_for: Any, official_template: Any) -> None:
    kwargs = OPTIONS["builtin"] if match == "non-string argument" else {}
    with pytest.raises(DataError, match=match):
        ours(facts_for(CONFIG_OF["3.1"], "3.1"), tok31, messages, False, **kwargs)
    if match in ("2 tool calls", "non-string argument"):  # the official template refuses it too
        with pytest.raises(Exception, match="single tool-calls|str|int"):
            official(tok31, official_template("3.1"), messages, False, **kwargs)


def test_tool_syntax_helpers_write_what_the_official_template_writes(tok31: Any, official_template: Any) -> None:
    """The helpers ``chat`` places in the turns, each found verbatim in the official 3.1 rendering."""
    builtin = OPTIONS["builtin"]["builtin_tools"]
    messages = [{"role": "user", "content": "Search, then weather"}, call("brave_search", query="北京 \"天气\""),
                result("晴"), call("get_weather", city="北京"), result('{"温度": 20}')]
    expected = official(tok31, official_template("3.1"), messages, False, builtin_tools=builtin)
    search, weather = (tools.call_text(m["tool_calls"][0], builtin) for m in (messages[1], messages[3]))
    assert search == '<|python_tag|>brave_search.call(query="北京 "天气"")'  # no escaping, as the template
    assert weather == '{"name": "get_weather", "parameters": {"city": "北京"}}'
    assert f"{search}<|eom_id|>" in expected and f"{weather}<|eom_id|>" in expected
    assert tools.result_text("晴") == '"晴"' and '\n\n"晴"<|eot_id|>' in expected
    assert tools.result_text('{"温度": 20}') == '"{\\"温度\\": 20}"' and tools.result_text('{"温度": 20}') in expected
    line = tools.builtin_line(builtin)  # code_interpreter switches ipython mode on but is not listed
    assert line == "Tools: brave_search, wolfram_alpha\n\n" and line in expected
    assert all(d.text in expected and d.kind == "tools" for d in tools.declarations(TOOLS))
