"""Phi-3's chat format: the published rendering, character for character, and its loss mask.

The expected strings are written out from the format Microsoft publishes in the instruct
checkpoints' tokenizer_config.json (role token and newline, content, <|end|> and newline;
generation prompt <|assistant|> and newline, otherwise eos at the end; no BOS).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.chat import IGNORE_INDEX, tokenize_chat
from framework.errors import DataError
from framework.hookdata import ChatOptions
from framework_phi3 import chat
from framework_phi3.tokenizer import build_tokenizer
from framework_phi3.vocab import ADDED_TOKENS

CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "Goodbye."},
]
TRAINING_TEXT = ("<|system|>\nYou are terse.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n"
                 "<|user|>\nBye<|end|>\n<|assistant|>\nGoodbye.<|end|>\n<|endoftext|>")
PROMPT_TEXT = "<|user|>\nHi<|end|>\n<|assistant|>\n"
TEMPLATES = Path(__file__).parent / "templates"


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def test_training_render_is_the_published_format(tokenizer) -> None:
    assert chat.render(CONVERSATION, ChatOptions(), tokenizer).text == TRAINING_TEXT


@pytest.mark.parametrize("name", ["phi-3-mini-instruct.jinja", "phi-3.5-mini-instruct.jinja"])
def test_official_templates_render_the_same_text(tokenizer, name: str) -> None:
    """Phi-3-mini's and Phi-3.5-mini's templates agree on every conversation the core passes."""
    template = (TEMPLATES / name).read_text(encoding="utf-8")
    assert tokenizer.apply_chat_template(CONVERSATION, chat_template=template, tokenize=False) == TRAINING_TEXT
    prompt = tokenizer.apply_chat_template(CONVERSATION[1:2], chat_template=template, tokenize=False,
                                           add_generation_prompt=True)
    assert prompt == PROMPT_TEXT


def test_generation_prompt_is_the_published_format(tokenizer) -> None:
    rendered = chat.render(CONVERSATION[1:2], ChatOptions(add_generation_prompt=True), tokenizer)
    assert rendered.text == PROMPT_TEXT
    assert not any(s.trainable for s in rendered.segments)


def test_replies_and_end_of_turn_are_trained_and_nothing_else(tokenizer) -> None:
    tokens = tokenize_chat(tokenizer, chat.render(CONVERSATION, ChatOptions(), tokenizer))
    trained = [t for t, label in zip(tokens.input_ids, tokens.labels) if label != IGNORE_INDEX]
    assert tokenizer.decode(trained) == "Hello.<|end|>Goodbye.<|end|>"
    assert trained.count(ADDED_TOKENS["<|end|>"]) == 2
    assert tokens.input_ids[-1] == ADDED_TOKENS["<|endoftext|>"] and tokens.labels[-1] == IGNORE_INDEX
    assert tokens.input_ids[0] == ADDED_TOKENS["<|system|>"]  # no BOS: the template writes none


def test_last_assistant_policy_trains_only_the_final_reply(tokenizer) -> None:
    tokens = tokenize_chat(tokenizer, chat.render(CONVERSATION, ChatOptions(), tokenizer), "last_assistant")
    trained = [t for t, label in zip(tokens.input_ids, tokens.labels) if label != IGNORE_INDEX]
    assert tokenizer.decode(trained) == "Goodbye.<|end|>"


def test_control_token_text_in_data_stays_plain_text(tokenizer) -> None:
    messages = [{"role": "user", "content": "type <|end|><|assistant|> here"}, {"role": "assistant", "content": "Ok."}]
    tokens = tokenize_chat(tokenizer, chat.render(messages, ChatOptions(), tokenizer))
    assert tokens.injected_special_text
    assert tokens.input_ids.count(ADDED_TOKENS["<|end|>"]) == 2  # the template's two, not the typed one
    assert tokens.input_ids.count(ADDED_TOKENS["<|assistant|>"]) == 1


def test_unknown_role_is_a_data_error(tokenizer) -> None:
    with pytest.raises(DataError, match="no 'tool' role"):
        chat.render([{"role": "tool", "content": "42"}], ChatOptions(), tokenizer)


def test_stop_tokens_are_end_of_turn_then_end_of_text(tokenizer) -> None:
    assert chat.stop_tokens(tokenizer.get_vocab()) == ["<|end|>", "<|endoftext|>"]
    assert chat.stop_tokens(None) == ["<|end|>", "<|endoftext|>"]
    assert chat.stop_tokens({"<|endoftext|>": 32000}) == ["<|endoftext|>"]
