"""Conversations the contract renders with every family plugin.

They cover what templates get wrong most often: a first turn with and without a system
prompt, several turns (history must render the same way the last turn does) and non-ASCII
text. Contents carry no leading or trailing whitespace, so a template that trims content
still contains each one verbatim.
"""

from __future__ import annotations

Conversation = list[dict[str, str]]

SAMPLE_CONVERSATIONS: tuple[Conversation, ...] = (
    [
        {"role": "user", "content": "What is two plus two?"},
        {"role": "assistant", "content": "Two plus two is four."},
    ],
    [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "Name a primary colour."},
        {"role": "assistant", "content": "Red is a primary colour."},
    ],
    [
        {"role": "user", "content": "Say hello."},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Now say goodbye."},
        {"role": "assistant", "content": "Goodbye, see you soon."},
    ],
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "你好，请介绍一下你自己。"},
        {"role": "assistant", "content": "我是一个语言模型助手。"},
        {"role": "user", "content": "Thanks, and in English?"},
        {"role": "assistant", "content": "I am a language model assistant."},
    ],
)

#: Samples for ``check_data``: ordinary text in the two scripts the example data uses.
SAMPLE_TEXTS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "Fine-tuning adapts a pretrained model to new data.",
    "今天天气很好，我们去公园散步吧。",
)
