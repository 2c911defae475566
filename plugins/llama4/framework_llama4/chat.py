"""The official Llama 4 instruct format (the launch template), rendered as segments.

``<|begin_of_text|>``, then each turn ``<|header_start|>ROLE<|header_end|>\\n\\n`` + content +
``<|eot|>``. Unlike Llama 3.1 there is no hidden system block: a system turn appears only when
the conversation has a system message (its content trimmed); other turns keep their content
exactly (no trim). Generation prompt: ``<|header_start|>assistant<|header_end|>\\n\\n``.

Tools (``chat_features(tools=True)``), exactly as the template renders them: the declarations go
into the first user message (or the system turn), an assistant turn with calls is trained whole
(fenced text, calls, ``<|eot|>``), a tool result is an ``ipython`` turn, never trained. ``tools``
writes declarations, calls and results in the family's syntax; this module places them in the turns.

``<|eom|>`` is never emitted by the template; it is a stop token (Meta's ``stop_tokens``). What
the template cannot show is refused in one line: reasoning (the launch template has no thinking
format), tools with ``tools_in_user_message=false`` and no system message (the template would
drop the declarations), a first message after the system one that is not a user message when
tools go into it.
"""

from __future__ import annotations

from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatFeatures, ChatOptions, ModelFacts, RenderedChat, Segment
from framework_llama4.tools import ENVIRONMENT, TOOLS_IN_SYSTEM, TOOLS_IN_USER, call_segments, declarations, result_text
from framework_llama4.vocab import BOS, EOM, EOT, HEADER_END, HEADER_START


def header(role: str) -> str:
    return f"{HEADER_START}{role}{HEADER_END}\n\n"


def features() -> ChatFeatures:
    return ChatFeatures(tools=True, notes=(
        "tools: declarations in the first user message (tools_in_user_message) or the system turn, calls as "
        "<|python_start|>text<|python_end|>{json}... <|eot|>, results as ipython turns",
        "reasoning: the Llama 4 launch template has no thinking format"))


def stop_tokens(facts: ModelFacts, vocab: dict[str, int] | None) -> list[str]:
    """``<|eot|>`` ends a reply, ``<|eom|>`` a turn that waits for a tool result (Meta's stop tokens).

    Only those the vocabulary has; none when the shipped template is another format (the core
    reads its end token from that template). Source: ``llama_models/llama4/tokenizer.py``.
    """
    if facts.chat_format == "shipped":
        return []
    return [t for t in (EOT, EOM) if vocab is None or t in vocab]


def _turn(message: dict[str, Any], index: int) -> list[Segment]:
    role, content = message["role"], message.get("content") or ""
    if message.get("tool_calls"):
        return [Segment(header("assistant")), *call_segments(content, message["tool_calls"], index),
                Segment(EOT, True, index, kind="tool_call")]
    if role == "tool":
        return [Segment(header("ipython")), Segment(result_text(content), False, index, True, "tool_result"),
                Segment(EOT, kind="tool_result")]
    trained = role == "assistant"
    return [Segment(header(role)), Segment(content, trained, index, True), Segment(EOT, trained, index)]


def _check(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, in_user: bool) -> None:
    for i, message in enumerate(messages):
        if message.get("reasoning_content"):
            raise DataError(f"message {i} carries reasoning, which the Llama 4 chat template does not render",
                            hint="remove the reasoning or use a model with a thinking format")
    if tools is None:
        return
    has_system = bool(messages) and messages[0]["role"] == "system"
    if not in_user and not has_system:
        raise DataError("tools_in_user_message is false but the conversation has no system message: the Llama 4 "
                        "template would drop the tool declarations", hint="add a system message")
    first = 1 if has_system else 0
    if in_user and (first >= len(messages) or messages[first]["role"] != "user"):
        raise DataError(f"message {first} must be a user message: the Llama 4 template puts the tool declarations "
                        "in the first message after the system one and renders it as a user turn",
                        hint="start the conversation (after the system message) with a user message")


def render(messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
           tools: list[dict[str, Any]] | None = None) -> RenderedChat:
    """Render ``messages`` (and ``tools``) exactly as the Llama 4 launch template does."""
    in_user = bool(options.get("tools_in_user_message", True))
    _check(messages, tools, in_user)
    bos = getattr(tokenizer, "bos_token", None)
    segments = [Segment(bos if isinstance(bos, str) and bos else BOS)]
    first = 0
    if messages and messages[0]["role"] == "system":
        segments.append(Segment(header("system") + (ENVIRONMENT if tools is not None else "")))
        if tools is not None and not in_user:
            segments += [Segment(TOOLS_IN_SYSTEM), *declarations(tools)]
        segments += [Segment(messages[0]["content"].strip(), message_index=0, from_data=True), Segment(EOT)]
        first = 1
    if tools is not None and in_user:
        segments += [Segment(header("user") + TOOLS_IN_USER), *declarations(tools),
                     Segment(messages[first]["content"].strip(), message_index=first, from_data=True), Segment(EOT)]
        first += 1
    segments += [s for i in range(first, len(messages)) for s in _turn(messages[i], i)]
    if options.add_generation_prompt:
        segments.append(Segment(header("assistant")))
    return RenderedChat(tuple(s for s in segments if s.text))
