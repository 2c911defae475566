"""Gemma's instruct format, rendered as segments.

Every generation uses the same turns (Google's formatting guide, https://ai.google.dev/gemma/docs/formatting;
the official templates of gemma-7b-it, gemma-2-9b-it and gemma-3-1b-it)::

    <bos><start_of_turn>user\\n{content | trim}<end_of_turn>\\n<start_of_turn>model\\n{content | trim}<end_of_turn>\\n

``assistant`` is written ``model``, content is stripped of surrounding whitespace (the
templates' ``| trim``, which is Python's ``str.strip``), and ``<bos>`` is emitted by the template
itself (the core tokenizes with ``add_special_tokens=False``, so there is exactly one).

System messages: Gemma has no system role. The Gemma 3 template folds the first system message
into the first user turn as ``system + "\\n\\n" + user`` (the system text is *not* trimmed there,
the user text is). The Gemma 1 / 2 templates raise "System role not supported" instead; this
plugin renders them the Gemma 3 way for every generation, because that is what Google's guide
says to do ("provide system-level instructions directly in the initial user prompt") and what
the later template does. Conversations without a system message render exactly as each
generation's official template.

Loss: each reply's content and its ``<end_of_turn>`` are trainable; the newline after
``<end_of_turn>`` is template text (generation stops at ``<end_of_turn>``, so the newline is
never produced by the model).
"""

from __future__ import annotations

from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatFeatures, ChatOptions, RenderedChat, Segment
from framework_gemma.vocab import BOS, END_OF_TURN, START_OF_TURN

ROLE_NAMES = {"user": "user", "assistant": "model"}
SYSTEM_SEPARATOR = "\n\n"


def turn_header(role: str) -> str:
    """``<start_of_turn>ROLE\\n`` with the role name the format uses (``model`` for the assistant)."""
    return f"{START_OF_TURN}{ROLE_NAMES[role]}\n"


def _content(message: dict[str, Any], index: int) -> str:
    content = message.get("content")
    if not isinstance(content, str):
        raise DataError(f"message {index} has non-text content ({type(content).__name__}); the gemma plugin "
                        "trains the language model on text turns only", hint="give each message a string content")
    return content


def _check_roles(messages: list[dict[str, Any]], first: int) -> None:
    """The templates' alternation rule: user, model, user, ... after the optional system message."""
    for offset, message in enumerate(messages[first:]):
        expected = "user" if offset % 2 == 0 else "assistant"
        if message.get("role") != expected:
            raise DataError(
                f"message {first + offset} has role {message.get('role')!r} where Gemma's format needs {expected!r}: "
                "roles must alternate user/assistant/user/... (a system message may only come first)",
                hint="merge consecutive messages of one role, or drop the extra ones",
            )


def bos_text(tokenizer: Any) -> str:
    """The template's ``bos_token``: the tokenizer's, or ``<bos>`` when it has none (pitfall G1)."""
    bos = getattr(tokenizer, "bos_token", None)
    return bos if isinstance(bos, str) and bos else BOS


#: What ``chat_features`` declares for Gemma 1-3: the templates have neither reasoning nor tools.
FEATURES = ChatFeatures(reasoning=False, tools=False, notes=(
    "Gemma 1-3 chat templates have no tool role, no tool declarations and no reasoning channel: samples "
    "with reasoning, tool calls or tool messages are refused (Gemma 4 renders them)",))


def _refuse_extras(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> None:
    """Never drop reasoning or tool calls silently (the core refuses them first; this is the last guard)."""
    if tools:
        raise DataError("the sample declares tools, which Gemma 1-3's chat format cannot show",
                        hint="drop `tools`, or train a Gemma 4 model")
    for index, message in enumerate(messages):
        extra = [key for key in ("reasoning_content", "tool_calls") if message.get(key)]
        if extra:
            raise DataError(f"message {index} carries {' and '.join(extra)}, which Gemma 1-3's chat format cannot "
                            "show", hint="drop those fields, or train a Gemma 4 model")


def render(messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
           tools: list[dict[str, Any]] | None = None) -> RenderedChat:
    """Render ``messages`` exactly as the official Gemma template does (system folded, see above).

    The format is the same in every generation, so no variant is needed.
    """
    _refuse_extras(messages, tools)
    has_system = bool(messages) and messages[0].get("role") == "system"
    first = 1 if has_system else 0
    _check_roles(messages, first)
    segments = [Segment(bos_text(tokenizer))]
    prefix: list[Segment] = []
    if has_system:
        prefix = [Segment(_content(messages[0], 0), message_index=0, from_data=True), Segment(SYSTEM_SEPARATOR)]
    for index in range(first, len(messages)):
        message = messages[index]
        trained = message["role"] == "assistant"
        segments.append(Segment(turn_header(message["role"])))
        if index == first:
            segments.extend(prefix)
        content = _content(message, index).strip()
        segments.append(Segment(content, trainable=trained, message_index=index, from_data=True))
        segments.append(Segment(END_OF_TURN, trainable=trained, message_index=index))
        segments.append(Segment("\n"))
    if options.add_generation_prompt:
        segments.append(Segment(turn_header("assistant")))
    return RenderedChat(tuple(s for s in segments if s.text))
