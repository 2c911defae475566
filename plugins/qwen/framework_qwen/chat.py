"""Render conversations in Qwen's ChatML, character for character as the official templates do.

Every Qwen generation speaks ChatML: ``<|im_start|>{role}\\n{content}<|im_end|>\\n``. They differ in
the system turn and, for Qwen3, in the thinking block:

* v1, 1.5, 2: a default system turn "You are a helpful assistant." when the conversation has
  none (Qwen1.5/Qwen2 template ``qwen2-7b-instruct.jinja``; Qwen v1 ``make_context``/``chat()``
  in its remote code, default ``system="You are a helpful assistant."``).
* 2.5: default system "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
  (``qwen2.5-7b-instruct.jinja``); tool results become a ``user`` turn of ``<tool_response>``s.
* 3: no default system turn; an assistant turn after the last user query carries
  ``<think>\\n{reasoning}\\n</think>\\n\\n`` (the last turn always, empty when there is no
  reasoning); reasoning of earlier turns is dropped (``qwen3-*.jinja``, both revisions agree on
  string contents). ``enable_thinking=False`` adds an empty think block to the generation prompt.

What carries loss: an assistant reply as the model produces it at inference -- everything after
``<|im_start|>assistant\\n`` up to and including ``<|im_end|>`` (for Qwen3 the think block too;
it is prompt, not reply, when ``enable_thinking`` is False and the reply has no reasoning, since
the inference prompt then already holds the empty block). The ``\\n`` after ``<|im_end|>`` is not
trained: generation stops at ``<|im_end|>``, so that newline is always template text of the next
prompt, never model output.
"""

from __future__ import annotations

from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatOptions, RenderedChat, Segment

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

#: Default system prompt per variant (None: the template adds none).
DEFAULT_SYSTEM: dict[str, str | None] = {
    "1": "You are a helpful assistant.",
    "1.5": "You are a helpful assistant.",
    "2": "You are a helpful assistant.",
    "2.5": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "3": None,
}

#: Special tokens each variant's template emits (used by the tokenizer and weight checks).
TEMPLATE_TOKENS: dict[str, tuple[str, ...]] = {
    "1": (IM_START, IM_END),
    "1.5": (IM_START, IM_END),
    "2": (IM_START, IM_END),
    "2.5": (IM_START, IM_END),
    "3": (IM_START, IM_END, THINK_OPEN, THINK_CLOSE),
}

_ROLES = frozenset({"system", "user", "assistant", "tool"})


def variant_of(variant: str | None) -> str:
    """The variant to render; an unknown one (forced plugin) gets the most common format, Qwen2.5."""
    return variant if variant in DEFAULT_SYSTEM else "2.5"


def _check(messages: list[dict[str, Any]], variant: str) -> None:
    for i, message in enumerate(messages):
        if message.get("role") not in _ROLES:
            raise DataError(f"message {i} has role {message.get('role')!r}; Qwen chat knows "
                            "system, user, assistant and tool")
        if message.get("tool_calls") and variant in ("2.5", "3"):
            raise DataError(f"message {i} has tool_calls, which this plugin does not render",
                            hint="put the call text in the assistant content")


def _turn(role: str, content: str, index: int, trainable: bool) -> list[Segment]:
    """One plain ChatML turn; an assistant reply and its ``<|im_end|>`` carry loss."""
    return [
        Segment(f"{IM_START}{role}\n"),
        Segment(content, trainable=trainable, message_index=index, from_data=True),
        Segment(IM_END, trainable=trainable, message_index=index),
        Segment("\n"),
    ]


def _chatml(messages: list[dict[str, Any]], variant: str) -> list[Segment]:
    """v1, 1.5, 2, 2.5: every message a ChatML turn after the (default) system turn."""
    segments: list[Segment] = []
    default = DEFAULT_SYSTEM[variant]
    if messages[0]["role"] != "system" and default is not None:
        segments.append(Segment(f"{IM_START}system\n{default}{IM_END}\n"))
    for i, message in enumerate(messages):
        role = message["role"]
        if role == "tool" and variant == "2.5":
            segments.extend(_tool(messages, i))
            continue
        segments.extend(_turn(role, message["content"], i, role == "assistant"))
    return segments


def _tool(messages: list[dict[str, Any]], i: int) -> list[Segment]:
    """Qwen2.5/3: consecutive tool results share one ``user`` turn, each in ``<tool_response>``."""
    first = i == 0 or messages[i - 1]["role"] != "tool"
    last = i == len(messages) - 1 or messages[i + 1]["role"] != "tool"
    return [
        Segment(f"{IM_START}user" if first else ""),
        Segment("\n<tool_response>\n"),
        Segment(messages[i]["content"], message_index=i, from_data=True),
        Segment("\n</tool_response>"),
        Segment(f"{IM_END}\n" if last else ""),
    ]


def _last_query_index(messages: list[dict[str, Any]]) -> int:
    """Index of the last user message that is not a wrapped tool response (Qwen3 ``ns``)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        content = message["content"]
        if message["role"] == "user" and not (
            content.startswith("<tool_response>") and content.endswith("</tool_response>")
        ):
            return index
    return len(messages) - 1


def _split_reasoning(message: dict[str, Any]) -> tuple[str, str]:
    """(reasoning, answer) of an assistant message, parsed as the Qwen3 template parses it."""
    content = message["content"]
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str):
        return reasoning, content
    if THINK_CLOSE in content:
        reasoning = content.split(THINK_CLOSE)[0].rstrip("\n").split(THINK_OPEN)[-1].lstrip("\n")
        return reasoning, content.split(THINK_CLOSE)[-1].lstrip("\n")
    return "", content


def _qwen3(messages: list[dict[str, Any]], options: ChatOptions) -> list[Segment]:
    segments: list[Segment] = []
    if messages[0]["role"] == "system":
        segments.extend(_turn("system", messages[0]["content"], 0, False))
    last_query = _last_query_index(messages)
    thinking_prompt = options.get("enable_thinking") is not False
    for i, message in enumerate(messages):
        role = message["role"]
        if role == "system" and i == 0:
            continue
        if role == "tool":
            segments.extend(_tool(messages, i))
            continue
        if role != "assistant":
            segments.extend(_turn(role, message["content"], i, False))
            continue
        reasoning, answer = _split_reasoning(message)
        segments.append(Segment(f"{IM_START}assistant\n"))
        if i > last_query and (i == len(messages) - 1 or reasoning):
            # An empty think block is part of the inference prompt when thinking is switched off.
            block_trained = thinking_prompt or bool(reasoning.strip("\n"))
            segments += [
                Segment(f"{THINK_OPEN}\n", trainable=block_trained, message_index=i),
                Segment(reasoning.strip("\n"), trainable=True, message_index=i, from_data=True),
                Segment(f"\n{THINK_CLOSE}\n\n", trainable=block_trained, message_index=i),
            ]
            answer = answer.lstrip("\n")
        segments += [
            Segment(answer, trainable=True, message_index=i, from_data=True),
            Segment(IM_END, trainable=True, message_index=i),
            Segment("\n"),
        ]
    return segments


def generation_prompt(variant: str, options: ChatOptions) -> str:
    """What the template appends with ``add_generation_prompt``."""
    prompt = f"{IM_START}assistant\n"
    if variant == "3" and options.get("enable_thinking") is False:
        prompt += f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"
    return prompt


def render(variant: str | None, messages: list[dict[str, Any]], options: ChatOptions) -> RenderedChat:
    """The conversation as the official template of ``variant`` renders it, in segments."""
    chosen = variant_of(variant)
    if not messages:
        raise DataError("empty conversation")
    _check(messages, chosen)
    segments = _qwen3(messages, options) if chosen == "3" else _chatml(messages, chosen)
    if options.add_generation_prompt:
        segments.append(Segment(generation_prompt(chosen, options)))
    return RenderedChat(tuple(s for s in segments if s.text))
