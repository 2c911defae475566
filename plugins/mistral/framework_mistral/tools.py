"""Tool declarations, calls and results as mistral-common serialises them.

mistral-common (Mistral's own tokenizer library, the ground truth behind every Hub template)
turns tools into JSON with ``json.dumps(..., ensure_ascii=False)`` and default separators:

* declarations: each OpenAI function schema normalised like ``Function.from_openai``:
  ``{"type": "function", "function": {"name", "description" ("" when absent), "parameters"
  ({} when absent)}}``, unknown keys dropped (``InstructTokenizerV2.encode_user_message``);
* v3 calls: one JSON list ``[{"name", "arguments", "id"}]`` (``InstructTokenizerV3._prepare_function_call``);
* v3 results: ``{"content": <the content parsed as JSON when it is JSON, else the string>,
  "call_id": id}`` (``InstructTokenizerV3._prepare_tool_result``);
* Tekken v7 calls as v3; v11 ``[TOOL_CALLS]name[CALL_ID]id[ARGS]{arguments}`` per call, v13
  the same without ``[CALL_ID]`` (``InstructTokenizerV11/V13``); v7/v11 results
  ``[TOOL_RESULTS]id[TOOL_CONTENT]content[/TOOL_RESULTS]``, v13 without the id and
  ``[TOOL_CONTENT]``.

The ``*_segments`` functions place these pieces in the rendered chat for ``chat.py``: calls are
trained (the model must learn to emit them), declarations and results never are.

Call ids must match ``^[a-zA-Z0-9]{9}$`` (``MistralRequestValidatorV3``); mistral-common's
fine-tuning mode lets only the calls of the conversation's last message go without one.
A wrong id is a data problem: ``DataError`` naming the message, never a crash.
"""

from __future__ import annotations

import json
import re
from typing import Any

from framework.errors import DataError
from framework.hookdata import Segment

CALL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
SRC = "mistral-common protocol/instruct/validator.py (_TOOL_CALL_ID_REGEX)"


def dumps(value: Any) -> str:
    """mistral-common's JSON: non-ASCII kept, default separators."""
    return json.dumps(value, ensure_ascii=False)


def declarations(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tool list as mistral-common normalises OpenAI function schemas."""
    out = []
    for position, tool in enumerate(tools):
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise DataError("a tool declaration has no function name", where=f"tools[{position}]",
                            hint='declare tools as {"type": "function", "function": {"name": ..., "parameters": ...}}')
        out.append({"type": "function", "function": {
            "name": function["name"],
            "description": function.get("description") or "",
            "parameters": function.get("parameters") or {},
        }})
    return out


def parse_json(content: str) -> Any:
    """``InstructTokenizerV2._parse_json_content``: JSON when it parses, the string otherwise."""
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return content


def call_id(value: Any, index: int, role: str, optional: bool = False) -> str | None:
    """A checked call id; None only where mistral-common accepts a missing one (``optional``)."""
    if value in (None, "null") and optional:
        return None
    if isinstance(value, str) and CALL_ID.match(value):
        return value
    shown = "missing" if value is None else f"{value!r} ({len(str(value))} characters)"
    raise DataError(f"Mistral tool call id {shown}: mistral-common requires 9 letters or digits",
                    where=f"message {index} (role {role!r})",
                    hint="give every tool call and its tool message the same 9-character id, e.g. 'a1B2c3D4e'")


def v3_calls(message: dict[str, Any], index: int, last: bool) -> str:
    """The JSON list after ``[TOOL_CALLS]`` in v2/v3/v7 tokenizers."""
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        prepared: dict[str, Any] = {"name": function.get("name"), "arguments": function.get("arguments", {})}
        ident = call_id(call.get("id"), index, "assistant", optional=last)
        if ident is not None:
            prepared["id"] = ident
        calls.append(prepared)
    return dumps(calls)


def v3_result(message: dict[str, Any], index: int) -> str:
    """The JSON between ``[TOOL_RESULTS]`` and ``[/TOOL_RESULTS]`` in v3 tokenizers."""
    ident = call_id(message.get("tool_call_id"), index, "tool")
    return dumps({"content": parse_json(str(message.get("content", ""))), "call_id": ident})


# ── segments: where each piece sits in the rendered chat and which of it is trained ──────


def available_tools_segments(tools: list[dict[str, Any]], space: str) -> list[Segment]:
    """``[AVAILABLE_TOOLS]`` and the normalised declarations; ``space`` follows the marker in sentencepiece formats."""
    return [Segment("[AVAILABLE_TOOLS]", kind="tools"),
            Segment(space + dumps(declarations(tools)), from_data=True, kind="tools"),
            Segment("[/AVAILABLE_TOOLS]", kind="tools")]


def v3_call_segments(message: dict[str, Any], index: int, last: bool, space: str, eos: str) -> list[Segment]:
    """``[TOOL_CALLS]`` and the calls' JSON list (InstructTokenizerV3), trained with the closing eos."""
    if str(message.get("content") or "").strip():
        raise DataError("mistral-common cannot encode an assistant message with both text and tool_calls "
                        "in v3 tokenizers", where=f"message {index} (role 'assistant')",
                        hint="put the text in the final answer after the tool results, or drop it")
    calls = v3_calls(message, index, last)
    return [Segment("[TOOL_CALLS]", trainable=True, message_index=index, kind="tool_call"),
            Segment(space + calls, trainable=True, message_index=index, from_data=True, kind="tool_call"),
            Segment(eos, trainable=True, message_index=index, kind="tool_call")]


def v3_result_segments(message: dict[str, Any], index: int, space: str) -> list[Segment]:
    """``[TOOL_RESULTS]`` with mistral-common's ``{"content": ..., "call_id": ...}`` JSON; never trained.

    The Hub templates paste the content unquoted (``{"content": sunny, ...}``, not JSON for
    plain text); mistral-common parses JSON content and quotes the rest. The two agree on
    JSON objects; this follows mistral-common.
    """
    return [Segment("[TOOL_RESULTS]", message_index=index, kind="tool_result"),
            Segment(space + v3_result(message, index), message_index=index, from_data=True,
                    kind="tool_result"),
            Segment("[/TOOL_RESULTS]", message_index=index, kind="tool_result")]


def v7_call_segments(fmt: str, message: dict[str, Any], index: int, last: bool) -> list[Segment]:
    """Tekken calls, trained: v7 one ``[TOOL_CALLS]`` JSON list; per call v11
    ``[TOOL_CALLS]name[CALL_ID]id[ARGS]{...}`` and v13 the same without the id."""
    def seg(text: str, data: bool = False) -> Segment:
        return Segment(text, trainable=True, message_index=index, from_data=data, kind="tool_call")

    if fmt == "v7":
        return [seg("[TOOL_CALLS]"), seg(v3_calls(message, index, last), data=True)]
    out = []
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        out += [seg("[TOOL_CALLS]"), seg(str(function.get("name")), data=True)]
        if fmt == "v11":
            ident = call_id(call.get("id"), index, "assistant", optional=last)
            if ident is not None:
                out += [seg("[CALL_ID]"), seg(ident, data=True)]
        out += [seg("[ARGS]"), seg(dumps(function.get("arguments", {})), data=True)]
    return out


def v7_result_segments(fmt: str, message: dict[str, Any], index: int) -> list[Segment]:
    """Tekken results: v7/v11 ``[TOOL_RESULTS]id[TOOL_CONTENT]content[/TOOL_RESULTS]``, v13 without the id."""
    content = str(message.get("content", ""))
    out = [Segment("[TOOL_RESULTS]", message_index=index, kind="tool_result")]
    if fmt in ("v7", "v11"):
        ident = call_id(message.get("tool_call_id"), index, "tool")
        out += [Segment(str(ident), message_index=index, from_data=True, kind="tool_result"),
                Segment("[TOOL_CONTENT]", message_index=index, kind="tool_result")]
    return [*out, Segment(content, message_index=index, from_data=True, kind="tool_result"),
            Segment("[/TOOL_RESULTS]", message_index=index, kind="tool_result")]
