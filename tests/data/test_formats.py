"""Format detection and conversion to conversations, with the problems bad records give."""

from __future__ import annotations

import pytest

from framework.data.formats import Example, detect_format, to_examples
from framework.data.records import Record
from framework.errors import DataError


def recs(*rows):
    return [Record(row, "d.jsonl", i) for i, row in enumerate(rows, start=1)]


def convert(fmt, *rows, **kwargs):
    return to_examples(recs(*rows), fmt, **kwargs)


def roles(example: Example):
    return [(m["role"], m["content"]) for m in example.messages]


@pytest.mark.parametrize(
    ("row", "fmt"),
    [
        ({"instruction": "q", "input": "", "output": "a"}, "alpaca"),
        ({"question": "q", "answer": "a"}, "alpaca"),
        ({"prompt": "q", "completion": "a"}, "alpaca"),
        ({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}, "sharegpt"),
        ({"conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "messages"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "messages"),
        ({"prompt": "q", "chosen": "a", "rejected": "b"}, "preference"),
        ({"text": "a document"}, "text"),
    ],
)
def test_detect_format(row, fmt):
    assert detect_format(recs(row)) == fmt


def test_detect_format_by_majority():
    rows = [{"instruction": "q", "output": "a"}] * 3 + [{"text": "t"}]
    assert detect_format(recs(*rows)) == "alpaca"


def test_unrecognisable_format_names_fields_and_formats():
    with pytest.raises(DataError) as exc:
        detect_format(recs({"foo": 1, "bar": 2}))
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith("d.jsonl:1: cannot tell the data format from the fields ['bar', 'foo']")
    assert "alpaca (instruction/input/output)" in message


def test_alpaca_conversion_with_input_system_history():
    row = {
        "system": "be brief",
        "instruction": "translate",
        "input": "你好",
        "output": "hello",
        "history": [["hi", "hey"]],
    }
    (example,), problems = convert("alpaca", row)
    assert not problems
    assert roles(example) == [
        ("system", "be brief"),
        ("user", "hi"),
        ("assistant", "hey"),
        ("user", "translate\n你好"),
        ("assistant", "hello"),
    ]
    assert example.field(4) == "output" and example.field(1) == "history[0][0]"


def test_alpaca_fast_path_matches_full_path():
    (plain,), _ = convert("alpaca", {"instruction": "q", "input": "", "output": "a"})
    (system,), _ = convert("alpaca", {"instruction": "q", "output": "a", "system": "s"})
    assert roles(plain) == [("user", "q"), ("assistant", "a")]
    assert roles(system) == [("system", "s"), ("user", "q"), ("assistant", "a")]


@pytest.mark.parametrize(
    ("row", "code", "text"),
    [
        ({"instruction": "q", "output": 42}, "wrong-type", "field 'output' is a number, not text"),
        ({"instruction": ["q"], "output": "a"}, "wrong-type", "field 'instruction' is a list"),
        ({"instruction": "q"}, "missing-field", "field 'output' is missing"),
        ({"output": "a"}, "missing-field", "field 'instruction' is missing"),
        ({"instruction": "q", "output": "a", "history": [["only one"]]}, "wrong-type", "history[0]"),
    ],
)
def test_alpaca_problems(row, code, text):
    examples, (problem,) = convert("alpaca", row)
    assert not examples
    assert (problem.code, problem.where) == (code, "d.jsonl:1")
    assert text in problem.message and problem.hint


def test_sharegpt_roles_and_system():
    row = {"system": "sys", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    (example,), _ = convert("sharegpt", row)
    assert roles(example) == [("system", "sys"), ("user", "q"), ("assistant", "a")]
    assert example.field(2) == "conversations[1].value"


def test_messages_text_parts_are_joined():
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": "c"},
        ]
    }
    (example,), _ = convert("messages", row)
    assert roles(example)[0] == ("user", "ab")


@pytest.mark.parametrize(
    ("turns", "code", "text"),
    [
        (
            [{"role": "user", "content": "q"}, {"role": "robot", "content": "x"}],
            "unknown-role",
            "messages[1].role is 'robot'",
        ),
        (  # control characters in a role stay escaped: the error is one line
            [{"role": "user", "content": "q"}, {"role": "\n", "content": "x"}],
            "unknown-role",
            "messages[1].role is '\\n'",
        ),
        (
            [{"role": "user", "content": "q"}, {"role": "tool", "content": "x"}],
            "tool-result-without-call",
            "messages[1].content is a tool result with no tool call before it",
        ),
        (
            [{"role": "user", "content": "q"}, {"role": "user", "content": "q2"}],
            "role-order",
            "messages[1].content is a user message",
        ),
        ([{"role": "assistant", "content": "a"}], "role-order", "messages[0].content is an assistant message"),
        ([{"role": "user", "content": "q"}], "role-order", "ends with a user message"),
        ([{"role": "user", "content": "q"}, {"role": "system", "content": "s"}], "role-order", "system message"),
        (
            [{"role": "user", "content": 3}, {"role": "assistant", "content": "a"}],
            "wrong-type",
            "messages[0].content is a number",
        ),
        ([{"content": "q"}], "missing-field", "messages[0] has no 'role'"),
        (["just text"], "wrong-type", "messages[0] is text, not a message object"),
        ([], "missing-field", "no user or assistant message"),
    ],
)
def test_message_problems(turns, code, text):
    examples, (problem,) = convert("messages", {"messages": turns})
    assert not examples
    assert problem.code == code and text in problem.message, problem


def test_preference_with_text_replies():
    (example,), _ = convert("preference", {"prompt": "q", "chosen": "good", "rejected": "bad"})
    assert roles(example) == [("user", "q"), ("assistant", "good")]
    assert example.rejected[-1]["content"] == "bad"
    assert example.rejected[:-1] == example.messages[:-1]


def test_preference_with_whole_conversations():
    convo = [{"role": "user", "content": "q"}]
    row = {
        "chosen": [*convo, {"role": "assistant", "content": "good"}],
        "rejected": [*convo, {"role": "assistant", "content": "bad"}],
    }
    (example,), _ = convert("preference", row)
    assert roles(example) == [("user", "q"), ("assistant", "good")]


def test_preference_with_instruction_and_message_prompt():
    (a,), _ = convert("preference", {"instruction": "q", "input": "x", "chosen": "g", "rejected": "b"})
    assert roles(a)[0] == ("user", "q\nx")
    (b,), _ = convert(
        "preference",
        {
            "prompt": [{"role": "user", "content": "q"}],
            "chosen": {"role": "assistant", "content": "g"},
            "rejected": "b",
        },
    )
    assert roles(b) == [("user", "q"), ("assistant", "g")]


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ({"prompt": "q", "chosen": "g"}, "missing-rejected"),
        ({"prompt": "q", "chosen": "g", "rejected": ""}, "missing-rejected"),
        ({"prompt": "q", "chosen": "g", "rejected": "g"}, "same-reply"),
        ({"prompt": "q", "rejected": "b"}, "missing-field"),
        ({"chosen": "g", "rejected": "b"}, "missing-field"),
    ],
)
def test_preference_problems(row, code):
    examples, (problem,) = convert("preference", row)
    assert not examples and problem.code == code


def test_text_format():
    (example,), _ = convert("text", {"text": "a document"})
    assert example.text == "a document" and example.messages == ()
    _, (problem,) = convert("text", {"text": 5})
    assert problem.code == "wrong-type"


def test_task_system_prompts():
    prompts = {"translate": "You translate.", "classify": "You classify."}
    rows = [
        {"instruction": "q", "output": "a", "task": "translate"},
        {"instruction": "q", "output": "a", "task": "classify", "system": "own prompt"},
        {"instruction": "q", "output": "a", "task": "summarise"},
        {"instruction": "q", "output": "a"},
    ]
    examples, problems = convert("alpaca", *rows, task_system_prompts=prompts)
    assert roles(examples[0])[0] == ("system", "You translate.")
    assert roles(examples[1])[0] == ("system", "own prompt")
    assert roles(examples[2])[0] == ("user", "q")
    assert [(p.code, p.line) for p in problems] == [("unknown-task", 3)]
    assert "task 'summarise' has no system prompt" in problems[0].message


def test_task_field_ignored_without_prompts():
    (example,), problems = convert("alpaca", {"instruction": "q", "output": "a", "task": "x"})
    assert not problems and roles(example)[0] == ("user", "q")
