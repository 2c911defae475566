"""Render conversations in Qwen's ChatML, character for character as the official templates do.

Every Qwen generation speaks ChatML: ``<|im_start|>{role}\\n{content}<|im_end|>\\n``. They differ in
the system turn, the tools block, the thinking block and the tool-call syntax:

* v1, 1.5, 2: a default system turn "You are a helpful assistant." when the conversation has
  none (Qwen1.5/Qwen2 template ``qwen2-7b-instruct.jinja``; Qwen v1 ``make_context``/``chat()``
  in its remote code). No tools, no reasoning: the shipped templates render neither.
* 2.5: default system "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
  (``qwen2.5-7b-instruct.jinja``); Hermes tools: a ``# Tools`` block in the system turn,
  ``<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>`` in the reply, tool results as a
  ``user`` turn of ``<tool_response>``s.
* 3: no default system turn; Hermes tools as 2.5; an assistant turn after the last user query
  carries ``<think>\\n{reasoning}\\n</think>\\n\\n`` (the last turn always, empty when there is no
  reasoning); reasoning of earlier turns is dropped (``qwen3-*.jinja``). ``enable_thinking=False``
  adds an empty think block to the generation prompt.
* 2507 (Qwen3-Instruct-2507): Qwen3's Hermes tools without any thinking block.
* 3.5, 3.6, 3.8 (``oracles/2026/templates``, one layout unlike Qwen3's): every content is
  ``trim``med; a system message anywhere but first, or a conversation with no user query, is an
  error of the template itself (here: a one-line data error); tools are declared in the system turn
  before the system text and called in XML (``framework_qwen.tools``); each assistant turn after the
  last user query shows ``<think>\\n{reasoning}\\n</think>\\n\\n`` (empty when there is none), earlier
  turns none, except that Qwen3.6 keeps them with ``preserve_thinking`` and Qwen3.8 unless
  ``preserve_thinking`` is false. The generation prompt is ``<|im_start|>assistant\\n<think>\\n`` with
  thinking on and ``<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n`` with it off; thinking is on
  unless ``enable_thinking=False``, except in the template of the 0.8B/2B checkpoints (off unless
  ``enable_thinking=True``). Qwen3.8 puts a reasoning-effort line at the top of the system turn while
  thinking is on (``reasoning_effort`` xhigh (default), medium (no line) or low).

Tool syntax (Hermes JSON, XML, tool results) lives in ``framework_qwen.tools``; token names in
``framework_qwen.vocab``.

What carries loss: an assistant reply as the model produces it at inference -- everything after
the inference prompt (``<|im_start|>assistant\\n``) up to and including ``<|im_end|>`` (for Qwen3
the think block too; it is prompt, not reply, when ``enable_thinking`` is False and the reply has
no reasoning, since the inference prompt then already holds the empty block). The ``\\n`` after
``<|im_end|>`` is not trained: generation stops at ``<|im_end|>``, so that newline is always
template text of the next prompt, never model output. For Qwen3.5/3.6/3.8 with thinking on,
``<think>\\n`` belongs to the inference prompt and the trained reply starts with the reasoning; with
thinking off and no reasoning, the whole empty block is prompt.
"""

from __future__ import annotations

from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatFeatures, ChatOptions, RenderedChat, Segment

from framework_qwen.tools import (
    hermes_call,
    hermes_result,
    hermes_system_turn,
    xml_calls,
    xml_declarations,
    xml_result,
)
from framework_qwen.vocab import ENDOFTEXT, IM_END, IM_START, THINK_CLOSE, THINK_OPEN

QWEN2_SYSTEM = "You are a helpful assistant."
QWEN25_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

#: Default system prompt per variant (None: the template adds none).
DEFAULT_SYSTEM: dict[str, str | None] = {
    "1": QWEN2_SYSTEM, "1.5": QWEN2_SYSTEM, "2": QWEN2_SYSTEM, "2.5": QWEN25_SYSTEM,
    "3": None, "2507": None, "2507-thinking": None, "3.5": None, "3.6": None, "3.8": None,
}

#: Variants of the Qwen3.5 template family (XML tool calls, trimmed contents).
XML_VARIANTS = frozenset({"3.5", "3.6", "3.8"})
#: Variants whose template renders reasoning_content (think blocks).
THINKING_VARIANTS = frozenset({"3", "2507-thinking"}) | XML_VARIANTS
#: Variants whose template renders tools (a tools block, tool calls and tool results).
TOOL_VARIANTS = frozenset({"2.5", "3", "2507", "2507-thinking"}) | XML_VARIANTS

_CHATML = (IM_START, IM_END)
_THINK = (IM_START, IM_END, THINK_OPEN, THINK_CLOSE)
#: Special tokens each variant's template emits (used by the tokenizer and weight checks).
TEMPLATE_TOKENS: dict[str, tuple[str, ...]] = {
    variant: _THINK if variant in THINKING_VARIANTS else _CHATML for variant in DEFAULT_SYSTEM
}

_ROLES = frozenset({"system", "user", "assistant", "tool"})



def variant_of(variant: str | None) -> str:
    """The variant to render; an unknown one (forced plugin) gets the most common format, Qwen2.5."""
    return variant if variant in DEFAULT_SYSTEM else "2.5"


def features(variant: str | None) -> ChatFeatures:
    """What the variant's official template renders beyond plain text (the ``chat_features`` answer)."""
    chosen = variant_of(variant)
    reasoning, tools = chosen in THINKING_VARIANTS, chosen in TOOL_VARIANTS
    notes = []
    if reasoning:
        notes.append("reasoning_content as <think> blocks, dropped from assistant turns before the last user "
                     "query" + (" unless preserve_thinking" if chosen in ("3.6", "3.8") else "")
                     + " (official template)")
    if tools:
        notes.append("tools: XML <tool_call><function=...><parameter=...> calls" if chosen in XML_VARIANTS else
                     "tools: Hermes <tool_call> JSON calls")
        notes.append("tool results as <tool_response> blocks inside a user turn")
    else:
        notes.append(f"the Qwen{chosen} template renders no tools")
    return ChatFeatures(reasoning=reasoning, tools=tools, notes=tuple(notes))


def stop_tokens(variant: str | None) -> list[str]:
    """``<|im_end|>`` ends a turn; ``<|endoftext|>`` too (Qwen's generation configs stop on both,
    eos_token_id=[151645, 151643]); v1's chat() also stops on ``<|im_start|>``
    (qwen_generation_utils.get_stop_words_ids)."""
    tokens = [IM_END, ENDOFTEXT]
    if variant_of(variant) == "1":
        tokens.append(IM_START)
    return tokens


def _check(messages: list[dict[str, Any]], variant: str, tools: list[dict[str, Any]] | None) -> None:
    for i, message in enumerate(messages):
        if message.get("role") not in _ROLES:
            raise DataError(f"message {i} has role {message.get('role')!r}; Qwen chat knows "
                            "system, user, assistant and tool")
        if message.get("tool_calls") and variant not in TOOL_VARIANTS:
            raise DataError(f"message {i} has tool_calls, which the Qwen{variant} template does not render",
                            hint="use a Qwen2.5 or later model for tool-calling data")
        if message.get("reasoning_content") and variant not in THINKING_VARIANTS:
            raise DataError(f"message {i} has reasoning_content, which the Qwen{variant} template does not render",
                            hint="use a thinking model (Qwen3 or later) or drop the reasoning")
    if tools and variant not in TOOL_VARIANTS:
        raise DataError(f"the sample declares tools, which the Qwen{variant} template does not render",
                        hint="use a Qwen2.5 or later model for tool-calling data")


def _turn(role: str, content: str, index: int, trainable: bool) -> list[Segment]:
    """One plain ChatML turn; an assistant reply and its ``<|im_end|>`` carry loss."""
    return [
        Segment(f"{IM_START}{role}\n"),
        Segment(content, trainable=trainable, message_index=index, from_data=True),
        Segment(IM_END, trainable=trainable, message_index=index),
        Segment("\n"),
    ]


def _chatml(messages: list[dict[str, Any]], variant: str, tools: list[dict[str, Any]] | None) -> list[Segment]:
    """v1, 1.5, 2, 2.5: every message a ChatML turn after the (default) system turn."""
    segments: list[Segment] = []
    default = DEFAULT_SYSTEM[variant]
    has_system = messages[0]["role"] == "system"
    if tools:
        segments += hermes_system_turn(messages[0]["content"] if has_system else default, tools, "\n\n")
    elif not has_system and default is not None:
        segments.append(Segment(f"{IM_START}system\n{default}{IM_END}\n"))
    for i, message in enumerate(messages):
        role = message["role"]
        if i == 0 and has_system and tools:
            continue
        if role == "tool" and variant == "2.5":
            segments.extend(hermes_result(messages, i))
        elif role == "assistant" and message.get("tool_calls"):
            segments.extend(_qwen25_tool_reply(message, i))
        else:
            segments.extend(_turn(role, message["content"], i, role == "assistant"))
    return segments


def _qwen25_tool_reply(message: dict[str, Any], i: int) -> list[Segment]:
    """Qwen2.5: ``<|im_start|>assistant`` + (``\\n`` content) + ``\\n<tool_call>...`` per call.

    The inference prompt ends in ``assistant\\n``: that newline is the one before the content, or
    before the first call when there is no content, so the reply starts right after it."""
    segments = [Segment(f"{IM_START}assistant\n")]
    content = message["content"]
    if content:
        segments.append(Segment(content, trainable=True, message_index=i, from_data=True))
    for n, call in enumerate(message["tool_calls"]):
        segments += hermes_call(call, i, "" if n == 0 and not content else "\n", arguments_as_given=False)
    return segments + [Segment(IM_END, trainable=True, message_index=i), Segment("\n")]


def last_query_index(messages: list[dict[str, Any]]) -> int | None:
    """Index of the last user message that is not a wrapped tool response (the templates' ``ns``)."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        content = message["content"]
        if message["role"] == "user" and not (
            content.startswith("<tool_response>") and content.endswith("</tool_response>")
        ):
            return index
    return None


def split_reasoning(message: dict[str, Any]) -> tuple[str, str]:
    """(reasoning, answer) of an assistant message, parsed as the Qwen3 template parses it."""
    content = message["content"]
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str):
        return reasoning, content
    if THINK_CLOSE in content:
        reasoning = content.split(THINK_CLOSE)[0].rstrip("\n").split(THINK_OPEN)[-1].lstrip("\n")
        return reasoning, content.split(THINK_CLOSE)[-1].lstrip("\n")
    return "", content


def _think_block(reasoning: str, index: int, thinking_prompt: bool) -> list[Segment]:
    """``<think>\n{reasoning}\n</think>\n\n`` as reasoning segments.

    With thinking off the inference prompt already ends in ``<think>\n\n</think>\n\n``: the part
    of the block the prompt holds is prompt (all of it for an empty block, ``<think>\n`` otherwise)."""
    trained = thinking_prompt or bool(reasoning)
    return [
        Segment(f"{THINK_OPEN}\n", trainable=thinking_prompt, message_index=index,
                kind="reasoning" if thinking_prompt else "text"),
        reasoning_segment(reasoning, index),
        Segment(f"\n{THINK_CLOSE}\n\n", trainable=trained, message_index=index,
                kind="reasoning" if trained else "text"),
    ]


def reasoning_segment(reasoning: str, index: int) -> Segment:
    """The reasoning text, trained and marked; kept even when empty, so the core sees where a reply's
    (empty) reasoning sits when ``data.train_on_reasoning`` is off."""
    return Segment(reasoning, trainable=True, message_index=index, from_data=True, kind="reasoning")


def keep(segment: Segment) -> bool:
    """Segments worth keeping: text, and the reasoning marker even when empty."""
    return bool(segment.text) or segment.kind == "reasoning"


def _qwen3(messages: list[dict[str, Any]], options: ChatOptions, tools: list[dict[str, Any]] | None,
           thinking: bool) -> list[Segment]:
    """Qwen3 (``thinking``: its hybrid template) and Qwen3-Instruct-2507 (no think blocks at all)."""
    segments: list[Segment] = []
    has_system = messages[0]["role"] == "system"
    if tools:
        segments += hermes_system_turn(messages[0]["content"] if has_system else None, tools, "\n\n")
    elif has_system:
        segments.extend(_turn("system", messages[0]["content"], 0, False))
    found = last_query_index(messages)
    last_query = len(messages) - 1 if found is None else found
    thinking_prompt = options.get("enable_thinking") is not False
    for i, message in enumerate(messages):
        role = message["role"]
        if role == "system" and i == 0:
            continue
        if role == "tool":
            segments.extend(hermes_result(messages, i))
            continue
        if role != "assistant":
            segments.extend(_turn(role, message["content"], i, False))
            continue
        reasoning, answer = split_reasoning(message) if thinking else ("", message["content"])
        segments.append(Segment(f"{IM_START}assistant\n"))
        if thinking and i > last_query and (i == len(messages) - 1 or reasoning):
            # An empty think block is part of the inference prompt when thinking is switched off.
            segments += _think_block(reasoning.strip("\n"), i, thinking_prompt)
            segments.append(Segment(answer.lstrip("\n"), trainable=True, message_index=i, from_data=True))
        else:
            segments.append(Segment(answer, trainable=True, message_index=i, from_data=True))
        for n, call in enumerate(message.get("tool_calls") or ()):
            segments += hermes_call(call, i, "\n" if n > 0 or answer else "", arguments_as_given=True)
        segments += [Segment(IM_END, trainable=True, message_index=i), Segment("\n")]
    return segments


# ── Qwen3.5, Qwen3.6, Qwen3.8 ───────────────────────────────────────────────────────────────────

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


def _qwen38_instructions(variant: str, options: ChatOptions) -> str:
    if variant != "3.8" or options.get("enable_thinking") is False:
        return ""
    effort = options.get("reasoning_effort") or "xhigh"
    if effort not in REASONING_EFFORT:
        raise DataError(f"reasoning_effort {effort!r} is not one Qwen3.8 knows",
                        hint="use xhigh (default), medium or low")
    return REASONING_EFFORT[effort]


def _qwen35_system(variant: str, messages: list[dict[str, Any]], options: ChatOptions,
            tools: list[dict[str, Any]] | None) -> list[Segment]:
    instructions = _qwen38_instructions(variant, options)
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


def _qwen35_shows_reasoning(variant: str, index: int, last_query: int, options: ChatOptions) -> bool:
    preserve = options.get("preserve_thinking")
    if variant == "3.6" and preserve is True:
        return True
    if variant == "3.8" and preserve is not False:
        return True
    return index > last_query


def _qwen35_reasoning_and_answer(variant: str, message: dict[str, Any]) -> tuple[str, str]:
    content = message["content"].strip()
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str):
        return reasoning.strip(), content
    if variant != "3.8" and THINK_CLOSE in content:  # Qwen3.8 no longer parses inline think blocks
        reasoning = content.split(THINK_CLOSE)[0].rstrip("\n").split(THINK_OPEN)[-1].lstrip("\n")
        return reasoning.strip(), content.split(THINK_CLOSE)[-1].lstrip("\n")
    return "", content


def _qwen35_assistant(variant: str, message: dict[str, Any], i: int, shows: bool, thinking: bool) -> list[Segment]:
    reasoning, content = _qwen35_reasoning_and_answer(variant, message)
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


def _render_qwen35(variant: str, messages: list[dict[str, Any]], options: ChatOptions,
                   tools: list[dict[str, Any]] | None = None, thinking_default: bool = True) -> RenderedChat:
    """The conversation as the Qwen3.5/3.6/3.8 template renders it, in segments."""
    last_query = last_query_index([{**m, "content": m["content"].strip()} for m in messages])
    if last_query is None:
        raise DataError(f"the conversation has no user query, which the Qwen{variant} template requires "
                        "(it raises 'No user query found in messages.')")
    thinking = thinking_on(options, thinking_default)
    segments = _qwen35_system(variant, messages, options, tools)
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
            shows = _qwen35_shows_reasoning(variant, i, last_query, options)
            segments += _qwen35_assistant(variant, message, i, shows, thinking)
        else:
            segments += xml_result(messages, i)
    if options.add_generation_prompt:
        block = f"{THINK_OPEN}\n" if thinking else f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"
        segments.append(Segment(f"{IM_START}assistant\n{block}"))
    return RenderedChat(tuple(s for s in segments if keep(s)))


def generation_prompt(variant: str, options: ChatOptions) -> str:
    """What the template appends with ``add_generation_prompt``."""
    prompt = f"{IM_START}assistant\n"
    if variant in ("3", "2507-thinking") and options.get("enable_thinking") is False:
        prompt += f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"
    return prompt


def render(variant: str | None, messages: list[dict[str, Any]], options: ChatOptions,
           tools: list[dict[str, Any]] | None = None, thinking_default: bool = True) -> RenderedChat:
    """The conversation as the official template of ``variant`` renders it, in segments.

    ``thinking_default`` is False for templates that think only when asked (Qwen3.5 0.8B/2B)."""
    chosen = variant_of(variant)
    if not messages:
        raise DataError("empty conversation")
    _check(messages, chosen, tools)
    if chosen in XML_VARIANTS:
        return _render_qwen35(chosen, messages, options, tools, thinking_default)
    if chosen in ("3", "2507", "2507-thinking"):
        segments = _qwen3(messages, options, tools, thinking=chosen != "2507")
    else:
        segments = _chatml(messages, chosen, tools)
    if options.add_generation_prompt:
        segments.append(Segment(generation_prompt(chosen, options)))
    return RenderedChat(tuple(s for s in segments if keep(s)))
