"""The chat format against the official templates: same string, same ids, right labels."""

from __future__ import annotations

from typing import Any

import pytest

from framework.chat import IGNORE_INDEX, tokenize_chat
from framework.errors import DataError
from framework.hookdata import ChatOptions
from framework_llama3 import chat, plugin

CONFIG_OF = {"3": "Meta-Llama-3-8B-Instruct", "3.1": "Llama-3.1-8B-Instruct", "3.2": "Llama-3.2-3B-Instruct"}
DATE = "02 Jan 2025"

CONVERSATIONS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
     {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another?"},
     {"role": "assistant", "content": "Red."}],
    [{"role": "user", "content": "用中文解释一下量子纠缠。"},
     {"role": "assistant", "content": "量子纠缠是指两个粒子的状态相互关联，即使相距遥远。"}],
    [{"role": "system", "content": "  你是一个乐于助人的助手。\n"}, {"role": "user", "content": "你好 👋"},
     {"role": "assistant", "content": "你好！🎉 有什么可以帮你？😊"}],
    [{"role": "user", "content": "Write python:\n```python\ndef f(x):\n    return x * 2\n```\nfix it"},
     {"role": "assistant", "content": "```python\ndef f(x: int) -> int:\n\treturn x * 2\n```\n"}],
    [{"role": "user", "content": "   leading and trailing   \n\n"},
     {"role": "assistant", "content": "\n\n  padded reply\t \n"}, {"role": "user", "content": "\r\nwindows\r\n"},
     {"role": "assistant", "content": " x "}],
    [{"role": "system", "content": "sys"}, {"role": "user", "content": "only a question"}],
    [{"role": "user", "content": "a\n\n\nb   c"}, {"role": "assistant", "content": "  multi\n\nparagraph\n\n  reply  "},
     {"role": "user", "content": "'s 'll ''' \"quotes\" 12345 3.14159"}],
    [{"role": "user", "content": "literal <|eot_id|> and <|start_header_id|> in data"},
     {"role": "assistant", "content": "I see <|eot_id|> as text."}],
]


def official_render(tok: Any, template: str, messages: list[dict[str, str]], generation: bool,
                    date: str | None) -> str:
    kwargs = {"date_string": date} if date else {}
    return tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                   add_generation_prompt=generation, **kwargs)


def render(facts: Any, tok: Any, messages: list[dict[str, str]], generation: bool, date: str | None) -> Any:
    extra = (("date_string", date),) if date else ()
    return plugin.render_chat(facts, messages, ChatOptions(add_generation_prompt=generation, extra=extra), tok,
                              None)


def expected_trained_spans(tok: Any, template: str, messages: list[dict[str, str]], date: str | None,
                           only_last: bool = False) -> list[tuple[int, int]]:
    """Character spans of each assistant reply + its end of turn, from prefix renders of the official template."""
    spans = []
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            start = len(official_render(tok, template, messages[:i], True, date))
            end = len(official_render(tok, template, messages[: i + 1], False, date))
            spans.append((start, end))
    return spans[-1:] if only_last else spans


def labels_from_spans(tok: Any, text: str, spans: list[tuple[int, int]]) -> list[int]:
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    return [i if any(a < max(e, s + 1) and s < b for a, b in spans) else IGNORE_INDEX
            for i, (s, e) in zip(enc["input_ids"], enc["offset_mapping"])]


CASES = [(v, d, g, i) for v in ("3", "3.1", "3.2") for d in ((None, DATE) if v != "3" else (None,))
         for g in (False, True) for i in range(len(CONVERSATIONS))]


@pytest.mark.parametrize(("variant", "date", "generation", "index"), CASES)
def test_render_equals_official_string_and_ids(variant: str, date: str | None, generation: bool, index: int,
                                               tokenizers: dict[str, Any], facts_for: Any,
                                               official_template: Any) -> None:
    tok, template, messages = tokenizers[variant], official_template(variant), CONVERSATIONS[index]
    facts = facts_for(CONFIG_OF[variant], variant)
    rendered = render(facts, tok, messages, generation, date)
    expected = official_render(tok, template, messages, generation, date)
    assert rendered.text == expected
    tokenized = tokenize_chat(tok, rendered)
    if "<|eot_id|>" in messages[0]["content"]:
        # Control-token text inside data stays text (the core's protection), unlike a naive tokenize.
        assert tokenized.input_ids.count(128009) == expected.count("<|eot_id|>") - 2
        return
    assert tokenized.input_ids == tok(expected, add_special_tokens=False)["input_ids"]
    assert tokenized.input_ids.count(128000) == 1 and tokenized.input_ids[0] == 128000


@pytest.mark.parametrize("variant", ["3", "3.1", "3.2"])
@pytest.mark.parametrize("index", [i for i, c in enumerate(CONVERSATIONS) if "<|eot_id|>" not in c[0]["content"]])
def test_labels_train_replies_and_their_end_of_turn(variant: str, index: int, tokenizers: dict[str, Any],
                                                    facts_for: Any, official_template: Any) -> None:
    tok, template, messages = tokenizers[variant], official_template(variant), CONVERSATIONS[index]
    facts = facts_for(CONFIG_OF[variant], variant)
    rendered = render(facts, tok, messages, False, DATE)
    text = rendered.text
    all_turns = tokenize_chat(tok, rendered, "all_assistant")
    assert all_turns.labels == labels_from_spans(tok, text, expected_trained_spans(tok, template, messages, DATE))
    last = tokenize_chat(tok, rendered, "last_assistant")
    assert last.labels == labels_from_spans(tok, text, expected_trained_spans(tok, template, messages, DATE, True))
    assert tokenize_chat(tok, rendered, "everything").labels == all_turns.input_ids
    trained = [i for i in all_turns.labels if i != IGNORE_INDEX]
    replies = sum(m["role"] == "assistant" for m in messages)
    assert trained.count(128009) == replies  # every reply's <|eot_id|>, and no other
    assert not {128000, 128006, 128007} & set(trained)


def test_default_dates(tok31: Any, facts_for: Any, official_template: Any) -> None:
    messages = CONVERSATIONS[0]
    text31 = render(facts_for(CONFIG_OF["3.1"], "3.1"), tok31, messages, False, None).text
    assert "Today Date: 26 Jul 2024\n\n" in text31
    text32 = render(facts_for(CONFIG_OF["3.2"], "3.2"), tok31, messages, False, None).text
    assert text32 == official_render(tok31, official_template("3.2"), messages, False, None)


def test_base_tokenizer_without_template_gets_the_instruct_format(tok3: Any, facts_for: Any) -> None:
    assert not tok3.chat_template
    text = render(facts_for("Meta-Llama-3-8B", "3"), tok3, CONVERSATIONS[0], True, None).text
    assert text == ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_variant_falls_back_to_detection(tok31: Any, facts_for: Any) -> None:
    text = render(facts_for(CONFIG_OF["3.1"]), tok31, CONVERSATIONS[0], False, None).text
    assert "Cutting Knowledge Date" in text


@pytest.mark.parametrize("bad", [
    [{"role": "user", "content": "x"}, {"role": "tool", "content": "42"}],
    [{"role": "user", "content": "x"},
     {"role": "assistant", "content": "", "tool_calls": [{"id": None, "type": "function",
                                                          "function": {"name": "f", "arguments": {}}}]}],
])
def test_llama30_refuses_tool_turns(bad: list[dict[str, Any]], tok3: Any, facts_for: Any) -> None:
    """Llama 3.0's template has no tool format: refused in one line, never rendered as a plain turn."""
    with pytest.raises(DataError, match="Llama 3.0"):
        render(facts_for(CONFIG_OF["3"], "3"), tok3, bad, False, None)
    with pytest.raises(DataError, match="Llama 3.0"):
        chat.render(facts_for(CONFIG_OF["3"], "3"), CONVERSATIONS[0], ChatOptions(), tok3,
                    [{"type": "function", "function": {"name": "f"}}])
