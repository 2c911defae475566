"""The ``[SYSTEM_PROMPT]`` formats of tokenizers v7, v11 and v13 (Tekken), as mistral-common encodes them.

Used by Mistral Small 3.1 (v7), Small 3.2 / Magistral Small / Devstral Small 1.x (v11) and
Ministral 3 / Magistral 1.2 / Devstral 2 (v13). mistral-common's ``InstructTokenizerV7`` and
its subclasses are the ground truth (the Hub templates are missing or wrong for several of
these models: see the README's departures table). Differences between the versions:

=====================  =================================  ============================  ===========
                       v7                                 v11                           v13
=====================  =================================  ============================  ===========
[AVAILABLE_TOOLS]      before the last user message       before the last user message  before the first
tool call              ``[TOOL_CALLS][{"name", "arguments",  ``[TOOL_CALLS]name[CALL_ID]  ``[TOOL_CALLS]name
                       "id"}]`` (one JSON list)           id[ARGS]{...}`` per call      [ARGS]{...}``
tool result            ``[TOOL_RESULTS]id[TOOL_CONTENT]   as v7                         ``[TOOL_RESULTS]
                       content[/TOOL_RESULTS]``                                         content[/TOOL_RESULTS]``
reasoning              refused                            refused                       ``[THINK]...[/THINK]``
=====================  =================================  ============================  ===========

System messages are ``[SYSTEM_PROMPT]...[/SYSTEM_PROMPT]`` where they stand; an assistant turn
is its reasoning, its text (right-stripped of spaces when it has no reasoning, as
``_encode_normal_content_assistant_message`` does), its tool calls and ``</s>``, all trained.
Tekken has no dummy prefix, so no space follows a control token.
"""

from __future__ import annotations

from typing import Any

from framework.errors import DataError
from framework.hookdata import Segment

from framework_mistral import tools as tool_json

FORMATS = ("v7", "v11", "v13")
ORDER = ("mistral-common: after the optional system messages, user and assistant turns alternate "
         "(tool results follow calls)")

#: The default system prompt of the reasoning models (Magistral Small 1.1+, Ministral 3 Reasoning):
#: the Hub template of mistralai/Ministral-3-14B-Reasoning-2512 inserts it when a conversation has
#: no system message, and the Magistral model cards ask for it. Three chunks: text, think, text.
REASONING_SYSTEM = (
    "# HOW YOU SHOULD THINK AND ANSWER\n\nFirst draft your thinking process (inner monologue) until you arrive at a "
    "response. Format your response using Markdown, and use LaTeX for any mathematical equations. Write both your "
    "thoughts and the response in the same language as the input.\n\nYour thinking process must follow the template "
    "below:",
    "Your thoughts or/and draft, like working through an exercise on scratch paper. Be as casual and as long as you "
    "want until you are confident to generate the response to the user.",
    "Here, provide a self-contained response.",
)


def _fail(message: str, index: int, role: Any, hint: str) -> DataError:
    return DataError(message, where=f"message {index} (role {role!r})", hint=hint)


def _check_order(messages: list[dict[str, Any]]) -> None:
    """mistral-common's validator: start with user/system; roles in an order the tokenizer knows."""
    allowed = {None: {"user", "system"}, "system": {"user", "assistant", "system"},
               "user": {"assistant", "system"}, "assistant": {"user", "tool"},
               "tool": {"assistant", "tool", "user"}}
    previous = None
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in allowed.get(previous, set()):
            raise _fail(f"{role!r} after {previous or 'the start'} is not a Mistral conversation", index, role,
                        "merge consecutive messages of one role; " + ORDER)
        previous = role


def _system(text: str, index: int | None) -> list[Segment]:
    return [Segment("[SYSTEM_PROMPT]"), Segment(text, message_index=index, from_data=index is not None),
            Segment("[/SYSTEM_PROMPT]")]


def default_system() -> list[Segment]:
    """The reasoning models' default system prompt, its middle part a closed think chunk."""
    first, think, last = REASONING_SYSTEM
    return [Segment("[SYSTEM_PROMPT]"), Segment(first), Segment("[THINK]"), Segment(think), Segment("[/THINK]"),
            Segment(last), Segment("[/SYSTEM_PROMPT]")]


def _tool_calls(fmt: str, message: dict[str, Any], index: int, last: bool) -> list[Segment]:
    def seg(text: str, data: bool = False) -> Segment:
        return Segment(text, trainable=True, message_index=index, from_data=data, kind="tool_call")

    if fmt == "v7":
        return [seg("[TOOL_CALLS]"), seg(tool_json.v3_calls(message, index, last), data=True)]
    out = []
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        out += [seg("[TOOL_CALLS]"), seg(str(function.get("name")), data=True)]
        if fmt == "v11":
            ident = tool_json.call_id(call.get("id"), index, "assistant", optional=last)
            if ident is not None:
                out += [seg("[CALL_ID]"), seg(ident, data=True)]
        out += [seg("[ARGS]"), seg(tool_json.dumps(function.get("arguments", {})), data=True)]
    return out


def _assistant(fmt: str, message: dict[str, Any], index: int, last: bool, eos: str) -> list[Segment]:
    reasoning = message.get("reasoning_content") or ""
    content = str(message.get("content") or "")
    calls = message.get("tool_calls") or []
    if not (reasoning or content or calls):
        raise _fail("an assistant message needs content, reasoning or tool calls", index, "assistant",
                    "drop the empty turn")
    out: list[Segment] = []
    if reasoning:
        if fmt != "v13":
            raise _fail(f"tokenizer {fmt} has no [THINK] tokens (reasoning arrived with v13)", index, "assistant",
                        "drop reasoning_content for this model, or train a reasoning Mistral (Magistral 1.2, "
                        "Ministral 3 Reasoning)")
        out += [Segment("[THINK]", True, index, kind="reasoning"),
                Segment(reasoning, True, index, from_data=True, kind="reasoning"),
                Segment("[/THINK]", True, index, kind="reasoning")]
    text = content if reasoning else content.rstrip(" ")
    if text:
        out.append(Segment(text, True, index, from_data=True))
    if calls:
        out += _tool_calls(fmt, message, index, last)
    return [*out, Segment(eos, True, index)]


def _tool_result(fmt: str, message: dict[str, Any], index: int) -> list[Segment]:
    content = str(message.get("content", ""))
    out = [Segment("[TOOL_RESULTS]", message_index=index, kind="tool_result")]
    if fmt in ("v7", "v11"):
        ident = tool_json.call_id(message.get("tool_call_id"), index, "tool")
        out += [Segment(str(ident), message_index=index, from_data=True, kind="tool_result"),
                Segment("[TOOL_CONTENT]", message_index=index, kind="tool_result")]
    return [*out, Segment(content, message_index=index, from_data=True, kind="tool_result"),
            Segment("[/TOOL_RESULTS]", message_index=index, kind="tool_result")]


def render(fmt: str, messages: list[dict[str, Any]], bos: str, eos: str, tools: list[dict[str, Any]] | None,
           reasoning_default_system: bool) -> list[Segment]:
    """Segments of a conversation in format ``fmt`` (v7, v11, v13); see the module docstring."""
    _check_order(messages)
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    tools_at = (users[0] if fmt == "v13" else users[-1]) if users and tools else None
    segments = [Segment(bos)]
    if reasoning_default_system and not any(m.get("role") == "system" for m in messages):
        segments += default_system()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "system":
            segments += _system(str(message.get("content", "")), index)
        elif role == "user":
            if index == tools_at:
                segments += [Segment("[AVAILABLE_TOOLS]", kind="tools"),
                             Segment(tool_json.dumps(tool_json.declarations(tools or [])), from_data=True,
                                     kind="tools"),
                             Segment("[/AVAILABLE_TOOLS]", kind="tools")]
            segments += [Segment("[INST]"), Segment(str(message.get("content", "")), message_index=index,
                                                     from_data=True), Segment("[/INST]")]
        elif role == "assistant":
            segments += _assistant(fmt, message, index, index == len(messages) - 1, eos)
        elif role == "tool":
            segments += _tool_result(fmt, message, index)
    return segments
