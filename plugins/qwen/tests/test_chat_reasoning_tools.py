"""Reasoning and tool-use samples against every official Qwen template that renders them.

Oracle: the verbatim templates in oracles/ rendered by transformers' ``apply_chat_template`` with
``tools=``. Labels are checked against spans found in the official string independently of the
plugin: each assistant reply from the end of its inference prompt (``<|im_start|>assistant\\n``
plus what the official generation prompt adds there, e.g. ``<think>\\n``) through ``<|im_end|>``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from framework.chat import IGNORE_INDEX, tokenize_chat
from framework.errors import DataError
from framework.hookdata import ChatOptions, ModelFacts
from framework_qwen import plugin

IM_START, IM_END = "<|im_start|>", "<|im_end|>"

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                   "required": ["city"]}}}
SEARCH = {"type": "function", "function": {
    "name": "search", "description": "搜索网页。",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "top_k": {"type": "integer"},
                                                    "filters": {"type": "object"}, "fresh": {"type": "boolean"}}}}}
TOOLS = [WEATHER, SEARCH]


def call(name: str, arguments: dict[str, Any], id_: str | None = None) -> dict[str, Any]:
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}


REASONING: dict[str, list[dict[str, Any]]] = {
    "multi_turn": [
        {"role": "user", "content": "What is 17 * 23?"},
        {"role": "assistant", "content": "391", "reasoning_content": "17 * 23 = 17 * 20 + 17 * 3 = 340 + 51."},
        {"role": "user", "content": "And 391 + 9?"},
        {"role": "assistant", "content": "400", "reasoning_content": "391 + 9 = 400."},
    ],
    "chinese": [
        {"role": "system", "content": "你是一个乐于助人的助手。"},
        {"role": "user", "content": "一年有多少天？"},
        {"role": "assistant", "content": "平年有365天，闰年有366天。",
         "reasoning_content": "用户问一年的天数。需要区分平年和闰年。"},
    ],
    "last_without_reasoning": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!", "reasoning_content": "A greeting."},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Goodbye!"},
    ],
}

TOOL_SAMPLES: dict[str, list[dict[str, Any]]] = {
    "call_result_answer": [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Paris"}, "call_1")]},
        {"role": "tool", "content": '{"temp": 3, "sky": "cloudy"}', "tool_call_id": "call_1"},
        {"role": "assistant", "content": "It is 3 °C and cloudy in Paris."},
    ],
    "two_calls_one_turn": [
        {"role": "user", "content": "Compare Paris and Oslo."},
        {"role": "assistant", "content": "Let me check both cities.",
         "tool_calls": [call("get_weather", {"city": "Paris"}), call("get_weather", {"city": "Oslo", "unit": "C"})]},
        {"role": "tool", "content": '{"temp": 3}', "name": "get_weather"},
        {"role": "tool", "content": '{"temp": -4}', "name": "get_weather"},
        {"role": "assistant", "content": "Paris is 7 degrees warmer than Oslo."},
    ],
    "chinese": [
        {"role": "user", "content": "帮我搜索一下北京的天气新闻。"},
        {"role": "assistant", "content": "",
         "tool_calls": [call("search", {"query": "北京 天气", "top_k": 3, "filters": {"lang": "zh", "days": [1, 2]},
                                        "fresh": True})]},
        {"role": "tool", "content": "北京今天晴，最高气温25度。"},
        {"role": "assistant", "content": "北京今天晴天，最高25度。"},
        {"role": "user", "content": "谢谢！"},
        {"role": "assistant", "content": "不客气。"},
    ],
}

REASONING_TOOLS = [
    {"role": "user", "content": "Is it colder in Oslo than in Paris?"},
    {"role": "assistant", "content": "", "reasoning_content": "I need both temperatures.",
     "tool_calls": [call("get_weather", {"city": "Oslo"}), call("get_weather", {"city": "Paris"})]},
    {"role": "tool", "content": '{"temp": -4}'},
    {"role": "tool", "content": '{"temp": 3}'},
    {"role": "assistant", "content": "Yes: Oslo is -4 °C, Paris 3 °C.", "reasoning_content": "-4 < 3."},
]

# variant -> (template file, renders reasoning, renders tools, thinking-on default, extra option sets)
TEMPLATES: dict[str, list[tuple[str, bool, bool, bool, list[dict[str, Any]]]]] = {
    "2.5": [("qwen2.5-7b-instruct.jinja", False, True, True, [{}])],
    "3": [(name, True, True, True, [{}, {"enable_thinking": True}, {"enable_thinking": False}])
          for name in ("qwen3-0.6b.rev-llamacpp.jinja", "qwen3-1.7b.rev-openvino.jinja")],
    "2507": [("2026/templates/Qwen-Qwen3-4B-Instruct-2507.jinja", False, True, True, [{}])],
    "3.5": [("2026/templates/Qwen-Qwen3.5-9B.jinja", True, True, True, [{}, {"enable_thinking": False}]),
            ("2026/templates/Qwen-Qwen3.5-0.8B.jinja", True, True, False, [{}, {"enable_thinking": True}])],
    "3.6": [("2026/templates/Qwen-Qwen3.6-27B.jinja", True, True, True,
             [{}, {"enable_thinking": False}, {"preserve_thinking": True}])],
    "3.8": [("2026/templates/Qwen-Qwen3.8-27B.jinja", True, True, True,
             [{}, {"enable_thinking": False}, {"preserve_thinking": False}, {"reasoning_effort": "low"},
              {"reasoning_effort": "medium"}])],
}


def samples(reasoning: bool, tools: bool) -> list[tuple[str, list[dict[str, Any]], list[dict[str, Any]] | None]]:
    out: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]] | None]] = []
    if reasoning:
        out += [(f"reasoning-{k}", v, None) for k, v in REASONING.items()]
    if tools:
        out += [(f"tools-{k}", v, TOOLS) for k, v in TOOL_SAMPLES.items()]
        out += [(f"tools-no-declaration-{k}", v, None) for k, v in TOOL_SAMPLES.items() if k == "two_calls_one_turn"]
    if reasoning and tools:
        out.append(("reasoning-tools", REASONING_TOOLS, TOOLS))
    return out


CASES = [(variant, entry, name) for variant, entries in TEMPLATES.items() for entry in entries
         for name, _, _ in samples(entry[1], entry[2])]


def facts(variant: str, template: str | None = None) -> ModelFacts:
    return ModelFacts(name_or_path="test", model_type="qwen3", variant=variant, chat_template=template)


def render(variant: str, messages: list[dict[str, Any]], tools: Any, generation: bool, template: str | None = None,
           **extra: Any) -> Any:
    options = ChatOptions(add_generation_prompt=generation, extra=tuple(extra.items()))
    return plugin.render_chat(facts=facts(variant, template), messages=messages, options=options, tokenizer=None,
                              tools=tools)


def official(tokenizer: Any, template: str, messages: list[dict[str, Any]], tools: Any, generation: bool,
             **extra: Any) -> str:
    return tokenizer.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=False,
                                         add_generation_prompt=generation, **extra)


def prompt_suffix(tokenizer: Any, template: str, **extra: Any) -> str:
    """What the official generation prompt adds after ``<|im_start|>assistant\\n``."""
    text = official(tokenizer, template, [{"role": "user", "content": "x"}], None, True, **extra)
    return text[text.rindex(f"{IM_START}assistant\n") + len(f"{IM_START}assistant\n"):]


def reply_regions(text: str, suffix: str) -> list[tuple[int, int]]:
    """Spans the model writes: after the inference prompt (the part of ``suffix`` the turn repeats) to <|im_end|>."""
    regions = []
    for found in re.finditer(re.escape(f"{IM_START}assistant\n"), text):
        start = found.end()
        end = text.find(IM_END, start)
        if end < 0:
            continue
        if suffix and text.startswith(suffix, start):
            start += len(suffix)
        elif suffix.startswith("<think>\n") and text.startswith("<think>\n", start):
            start += len("<think>\n")
        regions.append((start, end + len(IM_END)))
    return regions


def expected_labels(tokenizer: Any, text: str, regions: list[tuple[int, int]]) -> list[int]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return [tid if any(a < end and max(b, a + 1) > start for start, end in regions) else IGNORE_INDEX
            for tid, (a, b) in zip(enc["input_ids"], enc["offset_mapping"])]


@pytest.mark.parametrize(("variant", "entry", "name"), CASES,
                         ids=[f"{v}-{e[0].split('/')[-1]}-{n}" for v, e, n in CASES])
def test_matches_official_template_with_labels(tokenizer: Any, template: Any, variant: str, entry: Any,
                                               name: str) -> None:
    file, _, _, _, option_sets = entry
    source = template(file)
    messages, tools = next((m, t) for n, m, t in samples(entry[1], entry[2]) if n == name)
    for extra in option_sets:
        text = official(tokenizer, source, messages, tools, False, **extra)
        rendered = render(variant, messages, tools, False, source, **extra)
        assert rendered.text == text, extra
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        chat = tokenize_chat(tokenizer, rendered)
        assert chat.input_ids == ids
        regions = reply_regions(text, prompt_suffix(tokenizer, source, **extra))
        assert chat.labels == expected_labels(tokenizer, text, regions), extra
        # A reply may start inside a token ("<think>\n" + "\n</think>" tokenizes "\n\n" as one): the
        # labels take the whole token, as the ids of the full rendering are what is trained.
        decoded = tokenizer.decode([t for t in chat.labels if t != IGNORE_INDEX])
        assert all(text[a:b] in decoded for a, b in regions)
        # Every inference prompt of the conversation: before each assistant turn, with the generation prompt.
        for cut, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = messages[:cut]
            assert render(variant, prompt, tools, True, source, **extra).text == official(
                tokenizer, source, prompt, tools, True, **extra), (cut, extra)


def test_segment_kinds_mark_reasoning_calls_results_and_declarations() -> None:
    rendered = render("3.5", REASONING_TOOLS, TOOLS, False)
    kinds = {s.kind for s in rendered.segments}
    assert kinds == {"text", "reasoning", "tool_call", "tool_result", "tools"}
    for segment in rendered.segments:
        if segment.kind in ("reasoning", "tool_call"):
            assert segment.trainable and segment.message_index in (1, 4)
        if segment.kind in ("tool_result", "tools"):
            assert not segment.trainable
    reasoning = "".join(s.text for s in rendered.segments if s.kind == "reasoning" and s.message_index == 1)
    assert reasoning == "I need both temperatures.\n</think>\n\n"  # "<think>\n" is the inference prompt's
    calls = "".join(s.text for s in rendered.segments if s.kind == "tool_call")
    assert calls.count("<tool_call>") == 2 and "<parameter=city>\nOslo\n</parameter>" in calls


def test_empty_reasoning_stays_marked_when_its_block_is_prompt() -> None:
    """With thinking off the empty block is prompt text; a zero-length reasoning segment still says
    where the reply's reasoning sits (the core checks it before masking reasoning)."""
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "reasoning_content": ""}]
    for variant in ("3", "3.5"):
        off = render(variant, messages, None, False, enable_thinking=False)
        marked = [s for s in off.segments if s.kind == "reasoning"]
        assert [s.text for s in marked] == [""] and marked[0].trainable and marked[0].message_index == 1


def test_thinking_off_empty_block_is_prompt_not_label(tokenizer: Any) -> None:
    messages = REASONING["last_without_reasoning"]
    for variant in ("3", "3.5"):
        off = render(variant, messages, None, False, enable_thinking=False)
        assert "<think>\n\n</think>\n\n" in off.text
        assert not any(s.trainable and "think>" in s.text for s in off.segments), variant
        on = render(variant, messages, None, False)
        assert any(s.trainable and "</think>" in s.text for s in on.segments), variant


def test_reasoning_before_last_query_is_dropped_as_the_template_does() -> None:
    rendered = render("3", REASONING["multi_turn"], None, False)
    assert "17 * 20" not in rendered.text and "391 + 9 = 400." in rendered.text
    assert all(s.message_index == 3 for s in rendered.segments if s.kind == "reasoning")


def test_template_errors_are_one_line_data_errors() -> None:
    late_system = [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]
    with pytest.raises(DataError, match="System message must be at the beginning"):
        render("3.5", late_system, None, True)
    with pytest.raises(DataError, match="No user query"):
        render("3.5", [{"role": "system", "content": "s"}], None, True)
    with pytest.raises(DataError, match="reasoning_effort"):
        render("3.8", REASONING["chinese"], None, False, reasoning_effort="max")
    with pytest.raises(DataError, match="tools"):
        render("2", TOOL_SAMPLES["call_result_answer"][:2], TOOLS, True)


@pytest.mark.parametrize(("variant", "reasoning", "tools"), [
    ("1", False, False), ("1.5", False, False), ("2", False, False), ("2.5", False, True), ("3", True, True),
    ("2507", False, True), ("2507-thinking", True, True), ("3.5", True, True), ("3.6", True, True),
    ("3.8", True, True)])
def test_chat_features_per_variant(variant: str, reasoning: bool, tools: bool) -> None:
    declared = plugin.chat_features(facts=facts(variant), tokenizer=None)
    assert (declared.reasoning, declared.tools) == (reasoning, tools)
    assert declared.notes
