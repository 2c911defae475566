"""The chat format against the official templates: same string, same ids, right labels.

Token ids are compared on the synthetic Gemma vocabulary of conftest.py (Gemma's special tokens
at Gemma's ids; the real tokenizer cannot be obtained offline).
"""

from __future__ import annotations

from typing import Any

import pytest

from framework.chat import IGNORE_INDEX, tokenize_chat
from framework.errors import DataError
from framework.hookdata import ChatOptions, ModelFacts
from framework_gemma import plugin

#: Facts of a Gemma 3 model whose chat the plugin renders itself (no shipped template of another format).
PLAIN = ModelFacts(name_or_path="google/gemma-3-1b-it", model_type="gemma3_text", variant="3")


def render_chat(messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
                tools: list[dict[str, Any]] | None = None) -> Any:
    """The render_chat hook as the core calls it."""
    return plugin.render_chat(facts=PLAIN, messages=messages, options=options, tokenizer=tokenizer, tools=tools)

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
    [{"role": "system", "content": "   "}, {"role": "user", "content": "blank system"},
     {"role": "assistant", "content": ""}],
    [{"role": "user", "content": "literal <end_of_turn> and <start_of_turn>model in data"},
     {"role": "assistant", "content": "I see <end_of_turn> as text."}],
]
WITH_SYSTEM = [i for i, c in enumerate(CONVERSATIONS) if c[0]["role"] == "system"]
INJECTED = [i for i, c in enumerate(CONVERSATIONS) if "<end_of_turn>" in c[0]["content"]]


def official_render(tok: Any, template: str, messages: list[dict[str, str]], generation: bool) -> str:
    return tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=generation)


def expected_trained_spans(tok: Any, template: str, messages: list[dict[str, str]],
                           only_last: bool = False) -> list[tuple[int, int]]:
    """Each reply + its <end_of_turn>, from prefix renders of the official template (the "\\n" after it excluded)."""
    spans = []
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            start = len(official_render(tok, template, messages[:i], True))
            end = len(official_render(tok, template, messages[: i + 1], False)) - 1
            spans.append((start, end))
    return spans[-1:] if only_last else spans


def labels_from_spans(tok: Any, text: str, spans: list[tuple[int, int]]) -> list[int]:
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    return [i if any(a < max(e, s + 1) and s < b for a, b in spans) else IGNORE_INDEX
            for i, (s, e) in zip(enc["input_ids"], enc["offset_mapping"])]


def oracle(generation: str, index: int) -> str:
    """The template that defines the expected string: a system message is only defined by Gemma 3's."""
    return "3" if index in WITH_SYSTEM else generation


CASES = [(g, p, i) for g in ("1", "2", "3") for p in (False, True) for i in range(len(CONVERSATIONS))]


@pytest.mark.parametrize(("generation", "prompt", "index"), CASES)
def test_render_equals_official_string_and_ids(generation: str, prompt: bool, index: int,
                                               tokenizers: dict[str, Any], official_template: Any) -> None:
    tok, messages = tokenizers[generation], CONVERSATIONS[index]
    rendered = render_chat(messages, ChatOptions(add_generation_prompt=prompt), tok)
    expected = official_render(tok, official_template(oracle(generation, index)), messages, prompt)
    assert rendered.text == expected
    tokenized = tokenize_chat(tok, rendered)
    assert tokenized.input_ids[0] == 2 and tokenized.input_ids.count(2) == 1  # exactly one <bos>, first
    eot = tok.convert_tokens_to_ids("<end_of_turn>")
    if index in INJECTED:
        # Control-token text inside data stays text (the core's protection), unlike a naive tokenize.
        assert tokenized.input_ids.count(eot) == expected.count("<end_of_turn>") - 2
        return
    assert tokenized.input_ids == tok(expected, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("generation", ["1", "2"])
def test_gemma_1_2_templates_refuse_system_and_the_plugin_folds_it(generation: str, tokenizers: dict[str, Any],
                                                                   official_template: Any) -> None:
    """The Gemma 1/2 templates raise on a system message; the plugin folds it like Gemma 3 (README)."""
    import jinja2

    tok, messages = tokenizers[generation], CONVERSATIONS[2]
    with pytest.raises(jinja2.exceptions.TemplateError, match="System role not supported"):
        official_render(tok, official_template(generation), messages, False)
    text = render_chat(messages, ChatOptions(), tok).text
    assert text.startswith("<bos><start_of_turn>user\nYou are terse.\n\nName a colour.<end_of_turn>\n")


@pytest.mark.parametrize("generation", ["1", "2", "3"])
@pytest.mark.parametrize("index", [i for i in range(len(CONVERSATIONS)) if i not in INJECTED])
def test_labels_train_replies_and_their_end_of_turn(generation: str, index: int, tokenizers: dict[str, Any],
                                                    official_template: Any) -> None:
    tok, messages = tokenizers[generation], CONVERSATIONS[index]
    template = official_template(oracle(generation, index))
    rendered = render_chat(messages, ChatOptions(), tok)
    text = rendered.text
    all_turns = tokenize_chat(tok, rendered, "all_assistant")
    assert all_turns.labels == labels_from_spans(tok, text, expected_trained_spans(tok, template, messages))
    last = tokenize_chat(tok, rendered, "last_assistant")
    assert last.labels == labels_from_spans(tok, text, expected_trained_spans(tok, template, messages, True))
    assert tokenize_chat(tok, rendered, "everything").labels == all_turns.input_ids
    trained = [i for i in all_turns.labels if i != IGNORE_INDEX]
    eot, sot = tok.convert_tokens_to_ids("<end_of_turn>"), tok.convert_tokens_to_ids("<start_of_turn>")
    replies = sum(m["role"] == "assistant" for m in messages)
    assert trained.count(eot) == replies  # every reply's <end_of_turn>, and no other
    assert not {2, sot} & set(trained)
    ends = [k for k, label in enumerate(all_turns.labels) if label == eot]
    assert all(all_turns.labels[k + 1] == IGNORE_INDEX for k in ends if k + 1 < len(all_turns.labels))


def test_base_tokenizer_without_template_gets_the_instruct_format(tok12: Any) -> None:
    assert not tok12.chat_template
    text = render_chat(CONVERSATIONS[0], ChatOptions(add_generation_prompt=True), tok12).text
    assert text == ("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
                    "<start_of_turn>model\n")


def test_system_only_conversation(tok3: Any, official_template: Any) -> None:
    messages = [{"role": "system", "content": "x"}]
    for prompt in (False, True):
        ours = render_chat(messages, ChatOptions(add_generation_prompt=prompt), tok3).text
        assert ours == official_render(tok3, official_template("3"), messages, prompt)


def test_missing_bos_token_still_renders_bos(build_tokenizer: Any) -> None:
    """G1: the format starts with <bos> even when the tokenizer has lost its bos_token."""
    tok = build_tokenizer("3", bos_token=None)
    assert render_chat(CONVERSATIONS[0], ChatOptions(), tok).text.startswith("<bos><start_of_turn>")


@pytest.mark.parametrize("bad", [
    [{"role": "assistant", "content": "first"}],
    [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    [{"role": "user", "content": "a"}, {"role": "system", "content": "late"}],
    [{"role": "user", "content": "a"}, {"role": "tool", "content": "42"}],
    [{"role": "user", "content": ["not", "text"]}],
])
def test_non_alternating_or_non_text_turns_are_refused(bad: list[dict[str, Any]], tok3: Any) -> None:
    with pytest.raises(DataError):
        render_chat(bad, ChatOptions(), tok3)


def test_stop_tokens(tok12: Any) -> None:
    assert plugin.stop_tokens(PLAIN, tok12) == ["<end_of_turn>"]
    assert plugin.stop_tokens(PLAIN, None) == ["<end_of_turn>"]
