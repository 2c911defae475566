"""Phi-3's chat format, as published in the instruct checkpoints' tokenizer_config.json.

Each message is ``<|role|>`` and a newline, the content, ``<|end|>`` and a newline. A prompt
for generation ends with ``<|assistant|>`` and a newline; a training sample ends with the
tokenizer's eos token (``<|endoftext|>``) instead. There is no BOS in the template. Phi-3.5's
template differs only by skipping a system message with empty content, which the core never
passes (messages are validated non-empty first). Neither template has a tool syntax (see
``tools``), nor reasoning: the chat features declare plain text only.
source: https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/tokenizer_config.json
"""

from __future__ import annotations

from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatFeatures, ChatOptions, Message, RenderedChat, Segment
from framework_phi3 import tools as tool_syntax
from framework_phi3.vocab import END_OF_TEXT, END_OF_TURN, ROLE_TOKENS

#: Plain text only: the core refuses reasoning and tool data before rendering, with this note.
FEATURES = ChatFeatures(reasoning=False, tools=False, notes=(tool_syntax.NO_TOOL_SYNTAX,))


def render(messages: list[Message], options: ChatOptions, tokenizer: Any,
           tools: list[dict[str, Any]] | None = None) -> RenderedChat:
    """Segments of the rendered conversation: each reply and its ``<|end|>`` carry loss.

    The newline after ``<|end|>`` is template text: generation stops at ``<|end|>``, so the
    model never has to produce it. Tool content is refused, not dropped as the official
    template would (``FEATURES`` keeps the core from passing any).
    """
    found = tool_syntax.unrendered(messages, tools)
    if found:
        where, what = found
        raise DataError(f"{what}, which Phi-3's chat format cannot write ({tool_syntax.NO_TOOL_SYNTAX})",
                        where=where, hint="remove tool declarations, tool calls and tool messages")
    segments: list[Segment] = []
    for index, message in enumerate(messages):
        role = message["role"]
        if role not in ROLE_TOKENS:
            raise DataError(f"Phi-3's chat format has no {role!r} role (only system, user, assistant)",
                            where=f"message {index}", hint="convert or drop those messages")
        reply = role == "assistant"
        segments += [
            Segment(f"{ROLE_TOKENS[role]}\n", message_index=index),
            Segment(message["content"], trainable=reply, message_index=index, from_data=True),
            Segment(END_OF_TURN, trainable=reply, message_index=index),
            Segment("\n", message_index=index),
        ]
    if options.add_generation_prompt:
        segments.append(Segment(f"{ROLE_TOKENS['assistant']}\n"))
    else:
        segments.append(Segment(getattr(tokenizer, "eos_token", None) or END_OF_TEXT))
    return RenderedChat(tuple(s for s in segments if s.text))


def stop_tokens(vocab: dict[str, int] | None) -> list[str]:
    """``<|end|>`` ends every turn; ``<|endoftext|>`` ends the document."""
    wanted = [END_OF_TURN, END_OF_TEXT]
    return [t for t in wanted if vocab is None or t in vocab]
