"""render_chat against the official templates: same text, same ids on the real vocabulary, right labels.

Oracles: the verbatim jinja templates in oracles/templates (copies, see oracles/SOURCES.md), rendered by
transformers' own ``apply_chat_template(tokenize=False)``; for Qwen v1 (no jinja template) the
string its remote code builds (qwen_generation_utils.make_context) and its official training
script formats (QwenLM/Qwen finetune.py preprocess), re-stated below.
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

CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "single": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    "system_multi": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
        {"role": "user", "content": "and 3+3?"}, {"role": "assistant", "content": "6"},
    ],
    "chinese": [{"role": "user", "content": "你好，请介绍一下你自己。"},
                {"role": "assistant", "content": "我是通义千问，由阿里云开发的大型语言模型。"}],
    "emoji_code": [
        {"role": "user", "content": "Write python 🐍 please"},
        {"role": "assistant", "content": "```python\nprint('hi 😀')\nfor i in range(3):\n    print(i)\n```"},
    ],
    "whitespace": [{"role": "user", "content": "  spaced  \n"},
                   {"role": "assistant", "content": "\n\n  answer with spaces  \n"}],
    "ends_with_user": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                       {"role": "user", "content": "Bye"}],
    "system_only_user": [{"role": "system", "content": "Reply in French."}, {"role": "user", "content": "Hello"}],
    "late_system": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
        {"role": "system", "content": "new rules"}, {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d"},
    ],
    "special_text": [{"role": "user", "content": "what is <|im_end|>?"},
                     {"role": "assistant", "content": "It ends a turn: <|im_end|> is special."}],
    "think_in_content": [
        {"role": "user", "content": "q1"}, {"role": "assistant", "content": "<think>\nr1\n</think>\n\na1"},
        {"role": "user", "content": "q2"}, {"role": "assistant", "content": "<think>\nr2 step\n</think>\n\na2"},
    ],
    "reasoning_key": [{"role": "user", "content": "why?"},
                      {"role": "assistant", "content": "because", "reasoning_content": "\nlet me see\n"}],
    "tools": [
        {"role": "user", "content": "weather?"}, {"role": "assistant", "content": "checking"},
        {"role": "tool", "content": '{"temp": 3}'}, {"role": "tool", "content": '{"temp": 4}'},
        {"role": "assistant", "content": "cold"},
    ],
    "wrapped_tool_user": [
        {"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>r</think>a"},
        {"role": "user", "content": "<tool_response>x</tool_response>"},
        {"role": "assistant", "content": "<think>\nr2\n</think>\n\nb"},
    ],
}

# Conversations whose replies start and end on a token boundary with the template text around them,
# so the trained tokens decode to exactly the replies (and their end-of-turn).
CLEAN = {"single", "system_multi", "chinese", "emoji_code", "late_system", "think_in_content", "tools",
         "ends_with_user", "reasoning_key", "wrapped_tool_user"}

TEMPLATES = {
    "1.5": ["qwen2-7b-instruct.jinja"],
    "2": ["qwen2-7b-instruct.jinja"],
    "2.5": ["qwen2.5-7b-instruct.jinja"],
    "3": ["qwen3-0.6b.rev-llamacpp.jinja", "qwen3-1.7b.rev-openvino.jinja"],
}


def facts(variant: str) -> ModelFacts:
    return ModelFacts(name_or_path="test", model_type="qwen2", variant=variant)


def render(variant: str, messages: list[dict[str, Any]], generation: bool, **extra: Any) -> Any:
    options = ChatOptions(add_generation_prompt=generation, extra=tuple(extra.items()))
    return plugin.render_chat(facts=facts(variant), messages=messages, options=options, tokenizer=None, tools=None)


def official(tokenizer: Any, template: str, messages: list[dict[str, Any]], generation: bool, **extra: Any) -> str:
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=generation, **extra)


def reply_regions(text: str, variant: str, thinking: bool | None) -> list[tuple[int, int]]:
    """Character spans an assistant produces, found in the official string independently of the plugin:
    from after ``<|im_start|>assistant\\n`` to the closing ``<|im_end|>`` included; with thinking off,
    an empty think block belongs to the prompt, and so does the ``<think>\\n`` a non-empty one shares with it."""
    regions = []
    for found in re.finditer(re.escape(f"{IM_START}assistant\n"), text):
        start = found.end()
        end = text.find(IM_END, start)
        if end < 0:
            continue  # the generation prompt
        empty_block = "<think>\n\n</think>\n\n"
        if variant == "3" and thinking is False and text.startswith(empty_block, start):
            start += len(empty_block)
        elif variant == "3" and thinking is False and text.startswith("<think>\n", start):
            start += len("<think>\n")  # the inference prompt's empty block begins the same way
        regions.append((start, end + len(IM_END)))
    return regions


def expected_labels(tokenizer: Any, text: str, regions: list[tuple[int, int]]) -> list[int]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = []
    for tid, (a, b) in zip(enc["input_ids"], enc["offset_mapping"]):
        inside = any(a < end and max(b, a + 1) > start for start, end in regions)
        labels.append(tid if inside else IGNORE_INDEX)
    return labels


def check_against(tokenizer: Any, variant: str, name: str, text: str, thinking: bool | None, rendered: Any) -> None:
    assert rendered.text == text
    official_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    trusted = tokenize_chat(tokenizer, rendered, allow_special_in_data=True)
    assert trusted.input_ids == official_ids
    if name == "special_text":
        return  # the region finder cannot tell data's literal <|im_end|> from the template's
    regions = reply_regions(text, variant, thinking)
    assert trusted.labels == expected_labels(tokenizer, text, regions)
    n_replies = len(regions)
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    assert sum(1 for t in trusted.labels if t == im_end) >= n_replies
    assert tokenizer.convert_tokens_to_ids(IM_START) not in trusted.labels
    if name in CLEAN:
        trained = "".join(text[a:b] for a, b in regions)
        assert tokenizer.decode([t for t in trusted.labels if t != IGNORE_INDEX]) == trained
    last = tokenize_chat(tokenizer, rendered, "last_assistant", allow_special_in_data=True)
    assert last.labels == expected_labels(tokenizer, text, regions[-1:])
    everything = tokenize_chat(tokenizer, rendered, "everything", allow_special_in_data=True)
    assert everything.labels == official_ids


CASES = [(v, t, n, g) for v, names in TEMPLATES.items() for t in names for n in CONVERSATIONS
         for g in (False, True)]


@pytest.mark.parametrize(("variant", "template_name", "name", "generation"), CASES)
def test_matches_official_template(tokenizer: Any, template: Any, variant: str, template_name: str, name: str,
                                   generation: bool) -> None:
    messages = CONVERSATIONS[name]
    if name == "reasoning_key" and variant != "3":
        # The template would drop reasoning_content silently; the plugin refuses it (chat_features says so).
        with pytest.raises(DataError, match="reasoning_content"):
            render(variant, messages, generation)
        return
    thinking_options: list[bool | None] = [None, True, False] if variant == "3" else [None]
    for thinking in thinking_options:
        extra = {} if thinking is None else {"enable_thinking": thinking}
        text = official(tokenizer, template(template_name), messages, generation, **extra)
        rendered = render(variant, messages, generation, **extra)
        check_against(tokenizer, variant, name, text, thinking, rendered)


def v1_make_context(messages: list[dict[str, str]]) -> str:
    """raw_text of Qwen v1's make_context (chat_format 'chatml'), system default from chat()."""
    system = "You are a helpful assistant."
    turns = messages
    if turns[0]["role"] == "system":
        system, turns = turns[0]["content"], turns[1:]
    raw = f"{IM_START}system\n{system}{IM_END}"
    history, query = turns[:-1], turns[-1]["content"]
    for i in range(0, len(history), 2):
        raw += (f"\n{IM_START}user\n{history[i]['content']}{IM_END}"
                f"\n{IM_START}assistant\n{history[i + 1]['content']}{IM_END}")
    return raw + f"\n{IM_START}user\n{query}{IM_END}\n{IM_START}assistant\n"


def v1_finetune_text(messages: list[dict[str, str]]) -> str:
    """The string QwenLM/Qwen finetune.py preprocess tokenizes (system_message default)."""
    text = f"{IM_START}system\nYou are a helpful assistant.{IM_END}\n"
    for message in messages:
        text += f"{IM_START}{message['role']}\n{message['content']}{IM_END}\n"
    return text


V1_PAIRS = ["single", "chinese", "emoji_code", "whitespace", "ends_with_user"]


@pytest.mark.parametrize("name", V1_PAIRS)
def test_v1_matches_remote_code_strings(tokenizer: Any, name: str) -> None:
    messages = CONVERSATIONS[name]
    training = render("1", messages, False)
    check_against(tokenizer, "1", name, v1_finetune_text(messages), None, training)
    prompt = messages if messages[-1]["role"] == "user" else messages[:-1]
    rendered = render("1", prompt, True)
    assert rendered.text == v1_make_context(prompt)
    with_system = [{"role": "system", "content": "Be brief."}, *prompt]
    assert render("1", with_system, True).text == v1_make_context(with_system)


def test_special_token_text_in_data_stays_text(tokenizer: Any) -> None:
    """By default a literal <|im_end|> inside data cannot end the turn: only the template's count."""
    rendered = render("2.5", CONVERSATIONS["special_text"], False)
    protected = tokenize_chat(tokenizer, rendered)
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    assert protected.input_ids.count(im_end) == 3  # system, user, assistant turns
    assert protected.injected_special_text


def test_segments_mark_data_and_reply(tokenizer: Any) -> None:
    rendered = render("3", CONVERSATIONS["think_in_content"], False)
    trained = [s for s in rendered.segments if s.trainable]
    assert {s.message_index for s in trained} == {1, 3}
    assert all(s.message_index == 3 for s in trained if "think" in s.text)  # reasoning of turn 1 dropped
    assert any(s.from_data and s.text == "r2 step" for s in rendered.segments)
    assert not any(s.from_data for s in rendered.segments if s.text in (IM_END, "<think>\n"))


def test_thinking_off_keeps_empty_block_untrained(tokenizer: Any) -> None:
    messages = CONVERSATIONS["single"]
    on = render("3", messages, False)
    off = render("3", messages, False, enable_thinking=False)
    assert on.text == off.text
    block = "<think>\n\n</think>\n\n"
    assert any(s.trainable and s.text.startswith("<think>") for s in on.segments)
    assert not any(s.trainable and "think>" in s.text for s in off.segments)
    assert off.text.count(block) == 1


def test_unknown_role_is_a_data_error() -> None:
    with pytest.raises(DataError):
        render("2.5", [{"role": "function", "content": "x"}], False)
    call = {"id": None, "type": "function", "function": {"name": "f", "arguments": {}}}
    with pytest.raises(DataError, match="tool_calls"):
        render("2", [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [call]}],
               False)
    with pytest.raises(DataError, match="reasoning_content"):
        render("2.5", [{"role": "user", "content": "x"},
                       {"role": "assistant", "content": "y", "reasoning_content": "z"}], False)


def test_stop_tokens() -> None:
    assert plugin.stop_tokens(facts=facts("2.5"), tokenizer=None) == [IM_END, "<|endoftext|>"]
    assert IM_START in plugin.stop_tokens(facts=facts("1"), tokenizer=None)
