"""The official Llama 3 instruct format, rendered as segments.

Each turn is ``<|start_header_id|>ROLE<|end_header_id|>\\n\\n`` + content + ``<|eot_id|>``, the
content stripped of surrounding whitespace (the templates' ``| trim``), and the conversation
starts with ``<|begin_of_text|>`` emitted by the template itself. 3.1 and 3.2 always open with a
system block holding "Cutting Knowledge Date: December 2023" and "Today Date: ..." (pitfall L6),
followed by the user's system message if there is one; the date is ``date_string`` from the
options, else "26 Jul 2024" (3.1) or today's date (3.2, the template's ``strftime_now``).

Tool calling (``tools``, ``ipython``/``tool`` roles, ``<|python_tag|>``, ``<|eom_id|>``) is not
rendered: such conversations are refused with a clear error rather than rendered wrongly.
"""

from __future__ import annotations

import datetime
from typing import Any

from framework.errors import DataError
from framework.hookdata import ChatOptions, ModelFacts, RenderedChat, Segment
from framework_llama3.detect import variant_of
from framework_llama3.vocab import BOS, END_HEADER, EOT, START_HEADER

#: Default ``date_string`` of the Llama 3.1 template.
DATE_3_1 = "26 Jul 2024"
#: ``strftime_now`` format of the Llama 3.2 template.
DATE_FORMAT_3_2 = "%d %b %Y"
KNOWLEDGE_CUTOFF = "Cutting Knowledge Date: December 2023\n"
ROLES = ("system", "user", "assistant")
TOOL_OPTIONS = ("tools", "custom_tools", "builtin_tools")


def header(role: str) -> str:
    return f"{START_HEADER}{role}{END_HEADER}\n\n"


def _refuse_tools(messages: list[dict[str, Any]], options: ChatOptions) -> None:
    if any(options.get(key) for key in TOOL_OPTIONS):
        raise DataError("tool definitions are not supported by the llama3 plugin's chat format",
                        hint="remove `tools` from the conversation or train on plain turns")
    for i, message in enumerate(messages):
        if message.get("role") not in ROLES or "tool_calls" in message:
            raise DataError(f"message {i} has role {message.get('role')!r} or tool calls, which the llama3 plugin "
                            "does not render (tool calling uses ipython turns and <|python_tag|>)",
                            hint=f"use only the roles {', '.join(ROLES)}")


def _turns(messages: list[dict[str, Any]], first_index: int, bos: str) -> list[Segment]:
    """One header, content and end-of-turn per message; assistant content + eot carry loss."""
    segments: list[Segment] = []
    for offset, message in enumerate(messages):
        index = first_index + offset
        trained = message["role"] == "assistant"
        segments.append(Segment(bos + header(message["role"])))
        bos = ""
        segments.append(Segment(message["content"].strip(), trainable=trained, message_index=index, from_data=True))
        segments.append(Segment(EOT, trainable=trained, message_index=index))
    return segments


def _system_block(messages: list[dict[str, Any]], date: str, bos: str) -> tuple[list[Segment], int]:
    """The 3.1/3.2 system turn and how many messages it consumed (0 or 1)."""
    opening = Segment(f"{bos}{header('system')}{KNOWLEDGE_CUTOFF}Today Date: {date}\n\n")
    if messages and messages[0]["role"] == "system":
        text = messages[0]["content"].strip()
        return [opening, Segment(text, message_index=0, from_data=True), Segment(EOT)], 1
    return [opening, Segment(EOT)], 0


def date_string(variant: str, options: ChatOptions) -> str:
    """The template's ``date_string``: the option when given, else the variant's default."""
    given = options.get("date_string")
    if given:
        return str(given)
    if variant == "3.2":
        return datetime.datetime.now().strftime(DATE_FORMAT_3_2)
    return DATE_3_1


def render(facts: ModelFacts, messages: list[dict[str, Any]], options: ChatOptions, tokenizer: Any) -> RenderedChat:
    """Render ``messages`` exactly as the official template of ``facts.variant`` does."""
    _refuse_tools(messages, options)
    variant = facts.variant or variant_of(facts)[0]
    bos = getattr(tokenizer, "bos_token", None)
    bos = bos if isinstance(bos, str) and bos else BOS
    if variant == "3":
        segments = _turns(messages, 0, bos)
    else:
        segments, consumed = _system_block(messages, date_string(variant, options), bos)
        segments += _turns(messages[consumed:], consumed, "")
    if options.add_generation_prompt:
        segments.append(Segment(header("assistant")))
    return RenderedChat(tuple(s for s in segments if s.text))
