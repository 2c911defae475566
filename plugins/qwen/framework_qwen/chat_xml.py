"""Render Qwen3.5, Qwen3.6 and Qwen3.8 conversations as their official templates do.

The three templates (oracles/2026/templates) share one layout, unlike Qwen3's:

* every content is ``trim``med; a system message anywhere but first, or a conversation with no
  user query, is an error of the template itself (here: a one-line data error);
* tools are declared in the system turn (``# Tools ... <tools>`` JSON lines, then an
  ``<IMPORTANT>`` block, then the system text); calls are XML:
  ``<tool_call>\\n<function=NAME>\\n<parameter=KEY>\\nVALUE\\n</parameter>\\n</function>\\n</tool_call>``;
* each assistant turn after the last user query shows ``<think>\\n{reasoning}\\n</think>\\n\\n``
  (empty when there is none), earlier turns show none; Qwen3.6 keeps them with
  ``preserve_thinking``, Qwen3.8 keeps them unless ``preserve_thinking`` is false;
* the generation prompt is ``<|im_start|>assistant\\n<think>\\n`` with thinking on and
  ``<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n`` with it off. Thinking is on unless
  ``enable_thinking=False``, except in the template of the 0.8B/2B checkpoints (off unless
  ``enable_thinking=True``);
* Qwen3.8 puts a reasoning-effort line at the top of the system turn while thinking is on
  (``reasoning_effort`` xhigh (default), medium (no line) or low).

So with thinking on, ``<think>\\n`` belongs to the inference prompt and the trained reply starts
with the reasoning; with thinking off and no reasoning, the whole empty block is prompt.
"""

from __future__ import annotations

from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatOptions, RenderedChat, Segment

from framework_qwen.chat import (
    IM_END,
    IM_START,
    THINK_CLOSE,
    THINK_OPEN,
    keep,
    last_query_index,
    reasoning_segment,
)
from framework_qwen.tools import xml_calls, xml_declarations, xml_result

#: Qwen3.8's system line per reasoning effort ("medium" adds none).
REASONING_EFFORT = {
    "xhigh": "Reasoning effort is set to xhigh. Please think carefully through the task, validate key assumptions, "
    "consider plausible alternatives, and prioritize correctness, consistency, and clarity in the final answer.",
    "medium": "",
    "low": "Reasoning effort is set to low. Keep your thinking brief and focused, moving directly to the conclusion "
    "without unnecessary elaboration.",
}


def thinking_on(options: ChatOptions, thinking_default: bool) -> bool:
    """Whether the inference prompt opens a think block (``enable_thinking`` or the template's default)."""
    value = options.get("enable_thinking")
    if thinking_default:
        return value is not False
    return value is True


def _instructions(variant: str, options: ChatOptions) -> str:
    if variant != "3.8" or options.get("enable_thinking") is False:
        return ""
    effort = options.get("reasoning_effort") or "xhigh"
    if effort not in REASONING_EFFORT:
        raise DataError(f"reasoning_effort {effort!r} is not one Qwen3.8 knows",
                        hint="use xhigh (default), medium or low")
    return REASONING_EFFORT[effort]


def _system(variant: str, messages: list[dict[str, Any]], options: ChatOptions,
            tools: list[dict[str, Any]] | None) -> list[Segment]:
    instructions = _instructions(variant, options)
    lead = instructions + "\n\n" if instructions else ""
    has_system = messages[0]["role"] == "system"
    system = messages[0]["content"].strip() if has_system else ""
    if tools:
        segments = [Segment(f"{IM_START}system\n{lead}"), *xml_declarations(tools)]
        if system:
            segments += [Segment("\n\n"), Segment(system, message_index=0, from_data=True)]
        return segments + [Segment(f"{IM_END}\n")]
    if variant != "3.8":
        if not has_system:
            return []
        return [Segment(f"{IM_START}system\n"), Segment(system, message_index=0, from_data=True),
                Segment(f"{IM_END}\n")]
    if system:
        return [Segment(f"{IM_START}system\n{lead}"), Segment(system, message_index=0, from_data=True),
                Segment(f"{IM_END}\n")]
    return [Segment(f"{IM_START}system\n{instructions}{IM_END}\n")] if instructions else []


def _shows_reasoning(variant: str, index: int, last_query: int, options: ChatOptions) -> bool:
    preserve = options.get("preserve_thinking")
    if variant == "3.6" and preserve is True:
        return True
    if variant == "3.8" and preserve is not False:
        return True
    return index > last_query


def _reasoning_and_answer(variant: str, message: dict[str, Any]) -> tuple[str, str]:
    content = message["content"].strip()
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str):
        return reasoning.strip(), content
    if variant != "3.8" and THINK_CLOSE in content:  # Qwen3.8 no longer parses inline think blocks
        reasoning = content.split(THINK_CLOSE)[0].rstrip("\n").split(THINK_OPEN)[-1].lstrip("\n")
        return reasoning.strip(), content.split(THINK_CLOSE)[-1].lstrip("\n")
    return "", content


def _assistant(variant: str, message: dict[str, Any], i: int, shows: bool, thinking: bool) -> list[Segment]:
    reasoning, content = _reasoning_and_answer(variant, message)
    segments = [Segment(f"{IM_START}assistant\n")]
    if shows:
        if thinking or reasoning:
            # The inference prompt ends in "<think>\n": the model writes from the reasoning on.
            segments += [Segment(f"{THINK_OPEN}\n"), reasoning_segment(reasoning, i),
                         Segment(f"\n{THINK_CLOSE}\n\n", trainable=True, message_index=i, kind="reasoning")]
        else:  # thinking off: the empty block is the inference prompt's
            segments += [Segment(f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"), reasoning_segment("", i)]
    segments.append(Segment(content, trainable=True, message_index=i, from_data=True))
    segments += xml_calls(variant, message, content, i)
    return segments + [Segment(IM_END, trainable=True, message_index=i), Segment("\n")]


def render(variant: str, messages: list[dict[str, Any]], options: ChatOptions,
           tools: list[dict[str, Any]] | None = None, thinking_default: bool = True) -> RenderedChat:
    """The conversation as the Qwen3.5/3.6/3.8 template renders it, in segments."""
    last_query = last_query_index([{**m, "content": m["content"].strip()} for m in messages])
    if last_query is None:
        raise DataError(f"the conversation has no user query, which the Qwen{variant} template requires "
                        "(it raises 'No user query found in messages.')")
    thinking = thinking_on(options, thinking_default)
    segments = _system(variant, messages, options, tools)
    for i, message in enumerate(messages):
        role = message["role"]
        if role == "system":
            if i:
                raise DataError(f"message {i} is a system message after the first, which the Qwen{variant} "
                                "template refuses ('System message must be at the beginning.')",
                                hint="merge it into the first system message")
            continue
        if role == "user":
            segments += [Segment(f"{IM_START}user\n"), Segment(message["content"].strip(), message_index=i,
                                                                from_data=True), Segment(f"{IM_END}\n")]
        elif role == "assistant":
            segments += _assistant(variant, message, i, _shows_reasoning(variant, i, last_query, options), thinking)
        else:
            segments += xml_result(messages, i)
    if options.add_generation_prompt:
        block = f"{THINK_OPEN}\n" if thinking else f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"
        segments.append(Segment(f"{IM_START}assistant\n{block}"))
    return RenderedChat(tuple(s for s in segments if keep(s)))
