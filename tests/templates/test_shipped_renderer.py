"""The shipped-template renderer on a template that rewrites earlier turns (Qwen3's: reasoning
is kept only after the last user message) with tool declarations, calls and results."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from framework.builtin.generic import chat_features, render_chat
from framework.hookdata import ChatOptions

FIXTURES = Path(__file__).parent / "fixtures"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
CALL = {"id": None, "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
LOOP = [{"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "reasoning_content": "I should call the tool.", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "content": "18 C, sunny"},
        {"role": "assistant", "reasoning_content": "The tool says 18 C.", "content": "It is 18 C and sunny in Paris."}]


@pytest.fixture(scope="module")
def qwen3(borrowed: Callable[[str], Path]) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(borrowed("qwen25"))  # Qwen's vocabulary; <think> is plain text here
    tokenizer.chat_template = (FIXTURES / "qwen3-0.6b.jinja").read_text(encoding="utf-8")
    return tokenizer


def _trained(rendered: Any) -> list[tuple[int | None, str, str]]:
    return [(s.message_index, s.kind, s.text) for s in rendered.segments if s.trainable]


def test_tool_loop_after_the_last_user_turn_trains_every_reply(qwen3: Any) -> None:
    rendered = render_chat(LOOP, ChatOptions(), qwen3, TOOLS)
    assert rendered.text == qwen3.apply_chat_template(LOOP, tools=TOOLS, tokenize=False)
    trained = _trained(rendered)
    assert [(i, kind) for i, kind, _ in trained] == [
        (1, "reasoning"), (1, "tool_call"), (1, "text"), (3, "reasoning"), (3, "text"), (3, "text")]
    assert trained[0][2] == "<think>\nI should call the tool.\n</think>\n\n"
    assert '"name": "get_weather"' in trained[1][2] and trained[2][2] == "<|im_end|>"
    kinds = {s.kind for s in rendered.segments if not s.trainable}
    assert {"tools", "tool_result"} <= kinds
    result = next(s for s in rendered.segments if s.kind == "tool_result")
    assert result.text == "18 C, sunny" and result.from_data and result.message_index == 2


def test_replies_whose_reasoning_the_template_drops_stay_context(qwen3: Any) -> None:
    convo = [*LOOP, {"role": "user", "content": "Thanks"},
             {"role": "assistant", "reasoning_content": "Polite reply.", "content": "You're welcome!"}]
    rendered = render_chat(convo, ChatOptions(), qwen3, TOOLS)
    prompt = qwen3.apply_chat_template(convo[:-1], tools=TOOLS, tokenize=False, add_generation_prompt=True)
    assert rendered.text.startswith(prompt)  # the inference prompt of the last reply, as the template writes it
    assert "I should call the tool." not in rendered.text  # rewritten: earlier reasoning is gone from the context
    assert _trained(rendered) == [(5, "reasoning", "<think>\nPolite reply.\n</think>\n\n"),
                                  (5, "text", "You're welcome!"), (5, "text", "<|im_end|>")]


def test_chat_features_are_read_from_the_template(qwen3: Any) -> None:
    features = chat_features(qwen3)
    assert features.reasoning and features.tools
    plain = type(qwen3).from_pretrained(qwen3.name_or_path)
    plain.chat_template = (FIXTURES / "qwen2-7b-instruct.jinja").read_text(encoding="utf-8")
    assert not chat_features(plain).reasoning and not chat_features(plain).tools
    plain.chat_template = (FIXTURES / "deepseek-r1-distill-qwen-7b.jinja").read_text(encoding="utf-8")
    assert chat_features(plain).reasoning and not chat_features(plain).tools


def test_system_prompt_moved_into_the_last_user_turn(borrowed: Callable[[str], Path]) -> None:
    """Mistral v0.3's template puts the system prompt into the last user turn only while that turn is
    the last message: the sample is the inference prompt of the last reply (system where inference
    puts it), and the earlier reply, which appears unchanged in that context, is trained too."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(borrowed("mistral-llama3"))
    tokenizer.chat_template = (FIXTURES / "mistral-7b-instruct-v0.3.jinja").read_text(encoding="utf-8")
    convo = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
             {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Name a colour"},
             {"role": "assistant", "content": "Blue."}]
    rendered = render_chat(convo, ChatOptions(), tokenizer, None)
    prompt = tokenizer.apply_chat_template(convo[:-1], tokenize=False, add_generation_prompt=True)
    assert "Be brief." not in tokenizer.apply_chat_template(convo, tokenize=False)  # the full rendering drops it
    eos = tokenizer.eos_token
    assert rendered.text == prompt + " Blue." + eos
    trained = _trained(rendered)
    assert "".join(t for i, _, t in trained if i == 2) == " Hello." + eos
    assert "".join(t for i, _, t in trained if i == 4) == " Blue." + eos
    system = next(s for s in rendered.segments if s.message_index == 0)
    assert system.from_data and not system.trainable
