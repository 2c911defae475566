"""The official Llama 3 instruct format, rendered as segments, tool use included (3.1 and later).

Each turn is ``<|start_header_id|>ROLE<|end_header_id|>\\n\\n`` + content + ``<|eot_id|>``, the
content stripped of surrounding whitespace (the templates' ``| trim``), and the conversation
starts with ``<|begin_of_text|>`` emitted by the template itself. 3.1 and 3.2 always open with a
system block holding "Cutting Knowledge Date: December 2023" and "Today Date: ..." (pitfall L6),
followed by the user's system message if there is one; the date is ``date_string`` from the
options, else "26 Jul 2024" (3.1) or today's date (3.2, the template's ``strftime_now``).

Tools (3.1/3.2 only; Llama 3.0's template has none), exactly as the official templates render them:
the declarations go into the first user message (or the system block), an assistant tool call is
its own trained turn ending in ``<|eot_id|>`` (``<|eom_id|>`` under ``builtin_tools``), a tool result
is an ``ipython`` turn, never trained. ``tools`` writes declarations, calls and results in the
family's syntax; this module places them in the turns.

A turn ends with ``<|eot_id|>``; from 3.1 on ``<|eom_id|>`` ends a call that waits for a tool
result: both are the format's stop tokens (``stop_tokens``).

What the template cannot show is refused, never dropped: two calls in one assistant turn (the
template raises "This model only supports single tool-calls at once!"), text beside a call (the
template prints only the call), reasoning (Llama 3 has no thinking format).
"""

from __future__ import annotations

import datetime
from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatFeatures, ChatOptions, ModelFacts, RenderedChat, Segment
from framework_llama3.detect import variant_of
from framework_llama3.tools import (
    ENVIRONMENT,
    TOOLS_IN_SYSTEM,
    TOOLS_IN_USER,
    builtin_line,
    call_text,
    declarations,
    result_text,
)
from framework_llama3.vocab import BOS, END_HEADER, EOM, EOT, START_HEADER

#: Default ``date_string`` of the Llama 3.1 template.
DATE_3_1 = "26 Jul 2024"
#: ``strftime_now`` format of the Llama 3.2 template.
DATE_FORMAT_3_2 = "%d %b %Y"
KNOWLEDGE_CUTOFF = "Cutting Knowledge Date: December 2023\n"
ROLES_3_0 = ("system", "user", "assistant")


def header(role: str) -> str:
    return f"{START_HEADER}{role}{END_HEADER}\n\n"


def features(facts: ModelFacts) -> ChatFeatures:
    """Tools from 3.1 on (the 3.0 template has no tool role); no reasoning in any Llama 3."""
    variant = facts.variant or variant_of(facts)[0]
    if variant == "3":
        return ChatFeatures(notes=("Llama 3.0's template has no tool or reasoning format",))
    return ChatFeatures(tools=True, notes=(
        "tools: Environment: ipython, declarations in the first user message (tools_in_user_message), "
        "JSON calls ending in <|eot_id|> (<|eom_id|> under builtin_tools), results as ipython turns",
        "reasoning: Llama 3 has no thinking format"))


def stop_tokens(facts: ModelFacts, vocab: dict[str, int] | None) -> list[str]:
    """End-of-turn tokens of the format: ``<|eot_id|>``, plus ``<|eom_id|>`` from 3.1 on.

    None of a vocabulary that lacks them (a 3.0 vocabulary has no ``<|eom_id|>``), none when the
    shipped template is another format (the core reads its end token from that template).
    """
    if facts.chat_format == "shipped":
        return []
    variant = facts.variant or variant_of(facts)[0]
    wanted = [EOT] if variant == "3" else [EOT, EOM]
    return [t for t in wanted if vocab is None or t in vocab]


def date_string(variant: str, options: ChatOptions) -> str:
    """The template's ``date_string``: the option when given, else the variant's default."""
    given = options.get("date_string")
    if given:
        return str(given)
    if variant == "3.2":
        return datetime.datetime.now().strftime(DATE_FORMAT_3_2)
    return DATE_3_1


def _refuse(messages: list[dict[str, Any]], variant: str, tools: list[dict[str, Any]] | None) -> None:
    """Data the official template of ``variant`` cannot show: one line naming the message."""
    if variant == "3" and tools:
        raise DataError("tool declarations are not rendered by Llama 3.0's chat template",
                        hint="use a Llama 3.1+ model for tool-use data, or remove `tools`")
    for i, message in enumerate(messages):
        if message.get("reasoning_content"):
            raise DataError(f"message {i} carries reasoning, which no Llama 3 chat template renders",
                            hint="remove the reasoning or use a model with a thinking format")
        calls = message.get("tool_calls")
        if variant == "3" and (message.get("role") not in ROLES_3_0 or calls):
            raise DataError(f"message {i} has role {message.get('role')!r} or tool calls, which Llama 3.0's chat "
                            "template does not render", hint="use a Llama 3.1+ model for tool-use data")
        if not calls:
            continue
        if len(calls) != 1:
            raise DataError(f"message {i} makes {len(calls)} tool calls in one turn; the Llama 3.1 template renders "
                            "one call per assistant turn", hint="split them into consecutive call/result turns")
        if str(message.get("content") or "").strip():
            raise DataError(f"message {i} has text besides its tool call; the Llama 3.1 template renders only the "
                            "call", hint="put the text in its own assistant turn or remove it")


def _turn(message: dict[str, Any], index: int, builtin: list[str] | None, bos: str) -> list[Segment]:
    """One message: header, content, end of turn; assistant text or call + end carry loss."""
    role = message["role"]
    if message.get("tool_calls"):
        end = EOM if builtin is not None else EOT
        return [Segment(bos + header("assistant")),
                Segment(call_text(message["tool_calls"][0], builtin), True, index, True, "tool_call"),
                Segment(end, True, index, kind="tool_call")]
    if role == "tool":
        content = result_text(message["content"])
        return [Segment(bos + header("ipython")), Segment(content, False, index, True, "tool_result"),
                Segment(EOT, kind="tool_result")]
    trained = role == "assistant"
    return [Segment(bos + header(role)), Segment(message["content"].strip(), trained, index, True),
            Segment(EOT, trained, index)]


def _system_block(messages: list[dict[str, Any]], variant: str, options: ChatOptions,
                  tools: list[dict[str, Any]] | None, builtin: list[str] | None, in_user: bool,
                  bos: str) -> tuple[list[Segment], int]:
    """The 3.1/3.2 system turn and how many messages it consumed (0 or 1)."""
    opening = bos + header("system")
    if builtin is not None or tools is not None:
        opening += ENVIRONMENT
    if builtin is not None:
        opening += builtin_line(builtin)
    segments = [Segment(f"{opening}{KNOWLEDGE_CUTOFF}Today Date: {date_string(variant, options)}\n\n")]
    if tools is not None and not in_user:
        segments += [Segment(TOOLS_IN_SYSTEM), *declarations(tools)]
    consumed = 0
    if messages and messages[0]["role"] == "system":
        segments.append(Segment(messages[0]["content"].strip(), message_index=0, from_data=True))
        consumed = 1
    return [*segments, Segment(EOT)], consumed


def _tools_in_first_user(messages: list[dict[str, Any]], first: int, tools: list[dict[str, Any]]) -> list[Segment]:
    """The 3.1/3.2 templates move the declarations into the first message after the system one."""
    if first >= len(messages):
        raise DataError("tools are declared but the conversation has no user message to carry them (the Llama 3.1 "
                        "template puts them in the first user message)", hint="add a user message")
    message = messages[first]
    if message["role"] != "user":
        raise DataError(f"message {first} is {message['role']!r}, but the Llama 3.1 template puts tool "
                        "declarations in the first message and renders it as a user turn",
                        hint="start the conversation (after the system message) with a user message")
    return [Segment(header("user") + TOOLS_IN_USER), *declarations(tools),
            Segment(message["content"].strip(), message_index=first, from_data=True), Segment(EOT)]


def render(facts: ModelFacts, messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any,
           tools: list[dict[str, Any]] | None = None) -> RenderedChat:
    """Render ``messages`` (and ``tools``) exactly as the official template of ``facts.variant`` does."""
    variant = facts.variant or variant_of(facts)[0]
    _refuse(messages, variant, tools)
    bos = getattr(tokenizer, "bos_token", None)
    bos = bos if isinstance(bos, str) and bos else BOS
    if variant == "3":
        segments = [s for i, m in enumerate(messages) for s in _turn(m, i, None, bos if i == 0 else "")]
    else:
        builtin = options.get("builtin_tools") if variant == "3.1" else None
        builtin = list(builtin) if builtin is not None else None
        in_user = bool(options.get("tools_in_user_message", True))
        segments, first = _system_block(messages, variant, options, tools, builtin, in_user, bos)
        if tools is not None and in_user:
            segments += _tools_in_first_user(messages, first, tools)
            first += 1
        segments += [s for i in range(first, len(messages)) for s in _turn(messages[i], i, builtin, "")]
    if options.add_generation_prompt:
        segments.append(Segment(header("assistant")))
    return RenderedChat(tuple(s for s in segments if s.text))
