"""Reasoning and tool-use data: every input shape normalised, checked, refused when the renderer
cannot render it, masked as configured, and marked by ``framework render``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from framework.chat import IGNORE_INDEX, KINDS
from framework.data.content_checks import content_problem
from framework.data.formats import Example, IgnoredFields, to_examples
from framework.data.pipeline import prepare_preference, prepare_sft
from framework.data.records import Record
from framework.errors import DataError
from framework.hookdata import ChatFeatures, RenderedChat, Segment
from framework.render_view import marked, spans

ALL = ChatFeatures(reasoning=True, tools=True)
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def thinking_chatml(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, options: dict[str, Any] | None = None
) -> RenderedChat:
    """A ChatML-like template with think blocks, JSON tool calls and tool turns, segments with kinds."""
    segs = [Segment("<s>")]
    if tools:
        segs += [Segment("<|start|>system\n"), Segment(json.dumps(tools), kind="tools"), Segment("<|end|>\n")]
    for i, m in enumerate(messages):
        segs.append(Segment(f"<|start|>{m['role']}\n"))
        if m["role"] == "assistant":
            if "reasoning_content" in m:
                segs.append(Segment(f"<think>\n{m['reasoning_content']}\n</think>\n\n", True, i, kind="reasoning"))
            if m["content"]:
                segs.append(Segment(m["content"], True, i, from_data=True))
            for call in m.get("tool_calls", ()):
                segs.append(Segment(json.dumps(call["function"], ensure_ascii=False), True, i, kind="tool_call"))
            segs += [Segment("<|end|>", True, i), Segment("\n")]
        else:
            kind = "tool_result" if m["role"] == "tool" else "text"
            segs += [Segment(m["content"], message_index=i, from_data=True, kind=kind), Segment("<|end|>\n")]
    return RenderedChat(tuple(segs))


def thinking_chatml_prompt(messages: list[dict[str, Any]], tools: Any = None, options: Any = None) -> RenderedChat:
    return RenderedChat((*thinking_chatml(messages, tools).segments, Segment("<|start|>assistant\n")))


def convert(fmt: str, *rows: dict[str, Any]) -> tuple[list[Example], list[Any]]:
    return to_examples([Record(r, "d.jsonl", i) for i, r in enumerate(rows, start=1)], fmt)


def one(fmt: str, row: dict[str, Any]) -> Example:
    examples, problems = convert(fmt, row)
    assert not problems, problems
    return examples[0]


USER = {"role": "user", "content": "北京天气?"}
CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "北京"}}}


# ── input shapes ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning", "thinking"])
def test_reasoning_fields_become_reasoning_content(key: str) -> None:
    ex = one("messages", {"messages": [USER, {"role": "assistant", "content": "晴", key: "先查一下。"}]})
    assert ex.messages[1] == {"role": "assistant", "content": "晴", "reasoning_content": "先查一下。"}


def test_leading_think_block_is_split_off_r1_style() -> None:
    ex = one("messages", {"messages": [USER, {"role": "assistant", "content": "<think>\n先查一下。\n</think>\n\n晴"}]})
    assert ex.messages[1] == {"role": "assistant", "content": "晴", "reasoning_content": "先查一下。"}


def test_empty_think_block_is_no_reasoning() -> None:
    ex = one("messages", {"messages": [USER, {"role": "assistant", "content": "<think>\n\n</think>\n\n晴"}]})
    assert ex.messages[1] == {"role": "assistant", "content": "晴"}


@pytest.mark.parametrize(
    "assistant",
    [
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "北京"}'}}]},
        {"role": "assistant", "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "北京"}}]},
    ],
    ids=["object-arguments", "json-string-arguments", "flat-call"],
)
def test_tool_call_shapes(assistant: dict[str, Any]) -> None:
    row = {"messages": [USER, assistant, {"role": "tool", "tool_call_id": "c1", "content": {"temp": 3}},
                        {"role": "assistant", "content": "3度"}], "tools": [WEATHER]}
    ex = one("messages", row)
    assert ex.messages[1] == {"role": "assistant", "content": "", "tool_calls": [CALL]}
    assert ex.messages[2] == {"role": "tool", "content": '{"temp": 3}', "tool_call_id": "c1"}
    assert ex.tools == (WEATHER,)


def test_legacy_function_call_and_tools_as_json_text() -> None:
    row = {"messages": [USER, {"role": "assistant", "content": None,
                               "function_call": {"name": "get_weather", "arguments": '{"city": "北京"}'}},
                        {"role": "function", "name": "get_weather", "content": "晴"},
                        {"role": "assistant", "content": "晴"}],
           "tools": json.dumps([WEATHER])}
    ex = one("messages", row)
    assert ex.messages[1]["tool_calls"][0]["function"] == CALL["function"]
    assert ex.messages[2] == {"role": "tool", "content": "晴", "name": "get_weather"}
    assert ex.tools == (WEATHER,)


def test_sharegpt_function_call_and_observation_turns() -> None:
    two = json.dumps([{"name": "get_weather", "arguments": {"city": "北京"}},
                      {"name": "get_weather", "arguments": {"city": "上海"}}], ensure_ascii=False)
    row = {"conversations": [{"from": "human", "value": "北京和上海?"},
                             {"from": "gpt", "value": "我查一下。"},
                             {"from": "function_call", "value": two},
                             {"from": "observation", "value": "晴"},
                             {"from": "observation", "value": "雨"},
                             {"from": "gpt", "value": "北京晴，上海雨。", "reasoning": "两个结果"}],
           "tools": json.dumps([WEATHER])}
    ex = one("sharegpt", row)
    assert [m["role"] for m in ex.messages] == ["user", "assistant", "tool", "tool", "assistant"]
    assert ex.messages[1]["content"] == "我查一下。"  # the text and the calls are one assistant turn
    assert [c["function"]["arguments"]["city"] for c in ex.messages[1]["tool_calls"]] == ["北京", "上海"]
    assert ex.messages[4]["reasoning_content"] == "两个结果"


@pytest.mark.parametrize("row", [
    {"instruction": "1+1?", "output": "2", "reasoning": "一加一"},
    {"instruction": "1+1?", "output": "2", "reasoning_content": "一加一"},
    {"instruction": "1+1?", "output": "<think>一加一</think>2"},
])
def test_alpaca_reasoning_column_or_think_block(row: dict[str, Any]) -> None:
    ex = one("alpaca", row)
    assert ex.messages[-1] == {"role": "assistant", "content": "2", "reasoning_content": "一加一"}


def test_enable_thinking_is_a_template_option() -> None:
    ex = one("messages", {"messages": [USER, {"role": "assistant", "content": "晴"}], "enable_thinking": False})
    assert ex.options == (("enable_thinking", False),)


def test_preference_replies_keep_their_reasoning() -> None:
    row = {"prompt": "1+1?", "chosen": "<think>一加一</think>2",
           "rejected": {"role": "assistant", "content": "3", "reasoning_content": "乱猜"}}
    ex = one("preference", row)
    assert ex.messages[-1] == {"role": "assistant", "content": "2", "reasoning_content": "一加一"}
    assert ex.rejected[-1] == {"role": "assistant", "content": "3", "reasoning_content": "乱猜"}


@pytest.mark.parametrize(
    ("row", "code", "text"),
    [
        ({"messages": [USER, {"role": "assistant", "tool_calls": [
            {"function": {"name": "get_weather", "arguments": "{city: 北京}"}}]}, {"role": "tool", "content": "x"},
            {"role": "assistant", "content": "y"}]},
         "tool-arguments-json", "messages[1].tool_calls[0].function.arguments is not valid JSON"),
        ({"messages": [USER, {"role": "assistant", "content": "<think>a</think>b", "reasoning": "c"}]},
         "reasoning-conflict", "messages[1] has reasoning both in 'reasoning'"),
        ({"messages": [USER, {"role": "assistant", "content": "b"}], "tools": "[{"},
         "tools-json", "field 'tools' is not valid JSON"),
        ({"messages": [USER, {"role": "assistant", "content": "b"}], "enable_thinking": "yes"},
         "wrong-type", "field 'enable_thinking' is text"),
        ({"messages": [USER, {"role": "tool", "content": "x"}, {"role": "assistant", "content": "b"}]},
         "tool-result-without-call", "messages[1].content is a tool result with no tool call before it"),
        ({"messages": [USER, {"role": "assistant", "content": "", "tool_calls": [CALL]}, USER]},
         "role-order", "messages[2].content is a user message where a tool message belongs"),
    ],
)
def test_conversion_problems_name_the_field(row: dict[str, Any], code: str, text: str) -> None:
    examples, (problem,) = convert("messages", row)
    assert not examples and problem.code == code and text in problem.message and problem.where == "d.jsonl:1"


def test_unused_fields_are_counted_with_an_example_position() -> None:
    rows = [{"id": i, "messages": [USER, {"role": "assistant", "content": f"a{i}", "weight": 0}]} for i in range(3)]
    ignored = IgnoredFields()
    examples, _ = to_examples([Record(r, "d.jsonl", i + 1) for i, r in enumerate(rows)], "messages", ignored=ignored)
    assert len(examples) == 3
    assert ignored.note() == ("fields not used (not trained, not rendered): 'id' in 3 (e.g. d.jsonl:1), "
                              "'messages[].weight' in 3 (e.g. d.jsonl:1)")


# ── checks ───────────────────────────────────────────────────────────────────────────────────


def _checked(messages: list[dict[str, Any]], **extra: Any) -> Any:
    ex = one("messages", {"messages": messages, **extra})
    return content_problem(ex)


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ({"role": "assistant", "content": "<think>a</think>b<think>c"}, "think-unbalanced"),
        ({"role": "assistant", "content": "ok </think> b"}, "think-unbalanced"),
        ({"role": "assistant", "content": "<think>a<think>b</think>c</think>d"}, "think-nested"),
        ({"role": "assistant", "content": "x", "reasoning_content": "a <think> b"}, "think-nested"),
        ({"role": "assistant", "content": "答案 <think>后来想</think> 完"}, "think-not-at-start"),
    ],
)
def test_think_tag_checks(reply: dict[str, Any], code: str) -> None:
    problem = _checked([USER, reply])
    assert problem is not None and problem.code == code and problem.where == "d.jsonl:1"


def test_tool_checks() -> None:
    other = {"type": "function", "function": {"name": "get_time"}}
    calls = [USER, {"role": "assistant", "content": "", "tool_calls": [CALL]},
             {"role": "tool", "content": "晴"}, {"role": "assistant", "content": "晴"}]
    assert _checked(calls, tools=[WEATHER]) is None
    assert _checked(calls) is None  # no declarations: nothing to compare the name with
    unknown = _checked(calls, tools=[other])
    assert unknown.code == "unknown-tool" and "'get_weather'" in unknown.message and "get_time" in unknown.message
    extra = _checked([*calls[:3], {"role": "tool", "content": "again"}, calls[3]])
    assert extra.code == "tool-result-without-call" and "more results than calls" in extra.message
    wrong_id = [*calls[:2], {"role": "tool", "tool_call_id": "zz", "content": "晴"}, calls[3]]
    assert _checked(wrong_id).code == "tool-result-without-call"


def test_enable_thinking_without_reasoning_is_reported() -> None:
    reply = {"role": "assistant", "content": "晴"}
    assert _checked([USER, reply], enable_thinking=True).code == "empty-reasoning"
    assert _checked([USER, {**reply, "reasoning_content": "想"}], enable_thinking=True) is None
    assert _checked([USER, reply], enable_thinking=False) is None


def _rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(4):
        rows.append({"messages": [{"role": "user", "content": f"question {i}?"},
                                  {"role": "assistant", "content": f"answer {i}.", "reasoning_content": f"think {i}"}]})
    rows.append({"tools": [WEATHER], "messages": [
        USER, {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "晴 3度"}, {"role": "assistant", "content": "北京晴。"}]})
    return rows


def test_checks_drop_and_count_by_default_and_stop_with_strict(kit: Any, tokenizer: Any) -> None:
    bad = {"messages": [USER, {"role": "assistant", "content": "answer <think>late</think>"}]}
    path = kit.jsonl("d.jsonl", [*_rows(), bad])
    data = prepare_sft(path, tokenizer, thinking_chatml, cutoff_len=256, features=ALL)
    assert data.report.dropped == {"think-not-at-start": 1} and data.report.kept == 5
    assert data.report.content == {"reasoning": 4, "tool_calls": 1, "tool_results": 1, "tools": 1}
    lines = "\n".join(data.report.lines())
    assert "samples with reasoning 4, tool calls 1, tool results 1, tools 1" in lines
    assert "mixed thinking: 4 samples have reasoning, 1 have none" in lines
    assert "the chat renderer renders reasoning and tools" in lines
    assert any("<think>\nthink 0\n</think>\n\nanswer 0." == t for t in data.sample_texts)
    with pytest.raises(DataError) as exc:
        prepare_sft(path, tokenizer, thinking_chatml, cutoff_len=256, features=ALL, strict=True)
    assert exc.value.line().startswith(f"{path}:6: think-not-at-start: messages[1].content has a <think> block")


# ── refusal of content the renderer does not declare ───────────────────────────────────────


@pytest.mark.parametrize(
    ("features", "text"),
    [
        (None, "the sample has reasoning (messages[1].content), which plugin demo (x 1) does not render"),
        (ChatFeatures(reasoning=True), "the sample has tool calls (messages[1].content), which plugin demo (x 1)"),
        (ChatFeatures(tools=True), "the sample has reasoning (messages[1].content)"),
    ],
)
def test_undeclared_content_is_refused_in_one_line(kit: Any, tokenizer: Any, features: Any, text: str) -> None:
    rows = _rows()
    path = kit.jsonl("d.jsonl", rows[-1:] + rows[:-1] if features == ChatFeatures(reasoning=True) else rows)
    with pytest.raises(DataError) as exc:
        prepare_sft(path, tokenizer, thinking_chatml, cutoff_len=256, features=features,
                    renderer_name="plugin demo (x 1)")
    line = exc.value.line()
    assert "\n" not in line and exc.value.exit_code == 2
    assert line.startswith(f"{path}:1: {text}") and "from the data, or use a plugin" in line


# ── masking ──────────────────────────────────────────────────────────────────────────────────


def _trained_text(tokenizer: Any, row: dict[str, Any]) -> str:
    return tokenizer.decode([t for t, l in zip(row["input_ids"], row["labels"]) if l != IGNORE_INDEX])


def _pieces(tokenizer: Any, row: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(k, tokenizer.decode(row["input_ids"][s:e]), t) for s, e, k, t in
            ((x["start"], x["end"], x["kind"], x["trained"]) for x in spans(row["input_ids"], row["labels"], row["kinds"]))]


@pytest.mark.parametrize("train_on_reasoning", [True, False])
def test_reasoning_is_trained_or_masked_and_tool_results_never(kit: Any, tokenizer: Any, train_on_reasoning: bool) -> None:
    path = kit.jsonl("d.jsonl", _rows())
    data = prepare_sft(path, tokenizer, thinking_chatml, cutoff_len=256, features=ALL, seed=0,
                       train_on_reasoning=train_on_reasoning, with_kinds=True)
    rows = sorted(data.train, key=lambda r: len(r["input_ids"]))
    thinking, tools = rows[0], rows[-1]
    i = tokenizer.decode(thinking["input_ids"]).split("question ")[1][0]
    expected = f"<think>\nthink {i}\n</think>\n\nanswer {i}.<|end|>" if train_on_reasoning else f"answer {i}.<|end|>"
    assert _trained_text(tokenizer, thinking) == expected
    pieces = _pieces(tokenizer, tools)
    kinds = {(k, t) for k, _, t in pieces}
    assert ("tools", False) in kinds and ("tool_result", False) in kinds and ("tool_call", True) in kinds
    result = next(text for k, text, _ in pieces if k == "tool_result")
    assert result == "晴 3度"
    assert _trained_text(tokenizer, tools) == (
        '{"name": "get_weather", "arguments": {"city": "北京"}}<|end|>北京晴。<|end|>'
    )
    reasoning = [t for k, _, t in _pieces(tokenizer, thinking) if k == "reasoning"]
    assert reasoning == [train_on_reasoning]


def test_last_assistant_policy_still_applies_with_tools(kit: Any, tokenizer: Any) -> None:
    path = kit.jsonl("d.jsonl", _rows()[-1:])
    data = prepare_sft(path, tokenizer, thinking_chatml, cutoff_len=256, features=ALL, train_on="last_assistant")
    assert _trained_text(tokenizer, data.train[0]) == "北京晴。<|end|>"


def test_render_view_names_each_kind(kit: Any, tokenizer: Any) -> None:
    rows = _rows()
    path = kit.jsonl("d.jsonl", [rows[0], rows[-1]])
    data = prepare_sft(path, tokenizer, thinking_chatml, cutoff_len=256, features=ALL, with_kinds=True,
                       train_on_reasoning=False)
    text = "\n".join(marked(tokenizer, r["input_ids"], r["labels"], r["kinds"]) for r in data.train)
    assert "⟨reasoning: <think>\nthink 0\n</think>\n\n⟩⟦answer 0.<|end|>⟧" in text
    assert '⟦tool_call: {"name": "get_weather"' in text and "⟨tool_result: 晴 3度⟩" in text
    assert "⟨tools: [{" in text
    assert KINDS[0] == "text"


def test_dpo_prompt_is_the_inference_prompt_with_reasoning_replies(kit: Any, tokenizer: Any) -> None:
    rows = [{"prompt": f"question {i}?", "chosen": f"<think>think {i}</think>answer {i}.",
             "rejected": {"role": "assistant", "content": f"wrong {i}.", "reasoning_content": f"guess {i}"}}
            for i in range(3)]
    data = prepare_preference(kit.jsonl("p.jsonl", rows), tokenizer, thinking_chatml,
                              render_prompt=thinking_chatml_prompt, cutoff_len=256, features=ALL, seed=0)
    row = data.train[0]
    i = row["prompt"].split("question ")[1][0]
    assert row["prompt"] == f"<s><|start|>user\nquestion {i}?<|end|>\n<|start|>assistant\n"
    assert row["chosen"] == f"<think>\nthink {i}\n</think>\n\nanswer {i}.<|end|>"
    assert row["rejected"] == f"<think>\nguess {i}\n</think>\n\nwrong {i}.<|end|>"
    with pytest.raises(DataError, match="the sample has reasoning"):
        prepare_preference(kit.jsonl("p.jsonl", rows), tokenizer, thinking_chatml,
                           render_prompt=thinking_chatml_prompt, cutoff_len=256)


# ── framework chat ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("text", ["<think>\n先想。\n</think>\n\n答案", "先想。\n</think>\n\n答案"])
def test_generated_reply_keeps_reasoning_apart(text: str) -> None:
    from framework.data.messages import reply_message

    assert reply_message(text) == {"role": "assistant", "content": "答案", "reasoning_content": "先想。"}
    assert reply_message("答案") == {"role": "assistant", "content": "答案"}


def test_chat_tools_file(tmp_path: Any) -> None:
    from framework.data.messages import load_tools

    good = tmp_path / "tools.json"
    good.write_text(json.dumps([WEATHER]))
    assert load_tools(str(good)) == [WEATHER]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"type": "function"}]')
    with pytest.raises(DataError) as exc:
        load_tools(str(bad))
    assert exc.value.line() == f"{bad}: tools[0] names no function. " + (
        'write {"type": "function", "function": {"name": ..., "description": ..., "parameters": {...}}}')


def test_masking_reasoning_refuses_a_renderer_that_does_not_mark_it(kit: Any, tokenizer: Any) -> None:
    from framework.errors import PluginError

    def unmarked(messages: list[dict[str, Any]], tools: Any = None, options: Any = None) -> RenderedChat:
        return RenderedChat(tuple(Segment(s.text, s.trainable, s.message_index, s.from_data)
                                  for s in thinking_chatml(messages, tools).segments))

    path = kit.jsonl("d.jsonl", _rows()[:2])
    assert prepare_sft(path, tokenizer, unmarked, cutoff_len=256, features=ALL).report.kept == 2
    with pytest.raises(PluginError) as exc:
        prepare_sft(path, tokenizer, unmarked, cutoff_len=256, features=ALL, train_on_reasoning=False,
                    renderer_name="plugin demo (x 1)")
    assert str(exc.value).startswith(f"plugin demo (x 1) rendered the reasoning of {path}:1 without marking it")


def test_unused_message_fields_of_preference_prompts_are_counted() -> None:
    row = {"prompt": [{"role": "user", "content": "1+1?", "lang": "en"}], "chosen": "2", "rejected": "3", "id": 7}
    ignored = IgnoredFields()
    examples, _ = to_examples([Record(row, "p.jsonl", 1)], "preference", ignored=ignored)
    assert len(examples) == 1 and ignored.counts == {"id": 1, "prompt[].lang": 1}


def test_a_renderer_refusing_a_sample_is_reported_at_its_file_and_line(kit: Any, tokenizer: Any) -> None:
    def picky(messages: list[dict[str, Any]], tools: Any = None, options: Any = None) -> RenderedChat:
        for i, m in enumerate(messages):
            for call in m.get("tool_calls", ()):
                if len(call["id"] or "") != 9:
                    raise DataError("tool call id must have 9 characters", where=f"message {i}", hint="fix the id")
        return thinking_chatml(messages, tools)

    path = kit.jsonl("d.jsonl", _rows())
    with pytest.raises(DataError) as exc:
        prepare_sft(path, tokenizer, picky, cutoff_len=256, features=ALL)
    assert exc.value.line() == f"{path}:5: message 1: tool call id must have 9 characters. fix the id"
