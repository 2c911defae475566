"""Reasoning and tool content of one message, normalised to the shape every hook receives.

Published data writes the same thing many ways: the chain of thought as ``reasoning_content``
(what transformers chat templates read), ``reasoning`` or ``thinking``, or as a leading
``<think>...</think>`` block of the reply (R1 style); tool calls as OpenAI ``tool_calls``
(``arguments`` an object or a JSON string), the legacy ``function_call`` object, or a
ShareGPT ``function_call`` turn holding JSON; tool declarations as a list or a JSON string.
This module turns each into ``framework.hookdata.Message`` keys, so the family plugins see one
shape. It is plain dict work: it runs once per message on hundreds of thousands of samples.

A value that cannot be normalised raises ``Bad`` (the converter turns it into a ``Problem``
with the sample's file:line); nothing is silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: Message keys that may carry the chain of thought, in order of preference.
REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class Bad(Exception):
    """A record that cannot be converted; carries the problem (internal control flow)."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def type_name(value: Any) -> str:
    """How a JSON value is called in a message to the user."""
    return {str: "text", int: "a number", float: "a number", bool: "true/false", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def split_think(content: str) -> tuple[str | None, str]:
    """A leading ``<think>...</think>`` block cut off the reply: (reasoning, rest).

    Only a block at the very start (after whitespace) is taken, the way R1-style templates
    read it; anything else is left in the text for the data checks to report. The reasoning
    and the reply lose the blank lines around the tags, which every template re-adds itself.
    """
    if THINK_OPEN not in content:
        return None, content
    stripped = content.lstrip()
    if not stripped.startswith(THINK_OPEN):
        return None, content
    end = stripped.find(THINK_CLOSE)
    if end < 0:
        return None, content
    return stripped[len(THINK_OPEN) : end].strip(), stripped[end + len(THINK_CLOSE) :].lstrip()


def _at(where: str, key: str) -> str:
    """``messages[1].reasoning`` for a message, ``field 'reasoning'`` for a sample column."""
    return f"{where}.{key}" if where else f"field '{key}'"


def reasoning_of(turn: Mapping[str, Any], where: str) -> tuple[str | None, str | None]:
    """The reasoning field of a message and its key: (text, key), (None, None) when absent.

    ``where`` names the message (``messages[1]``), or is empty for a sample's own columns.
    """
    found: tuple[str | None, str | None] = (None, None)
    for key in REASONING_KEYS:
        value = turn.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Bad(
                "wrong-type",
                f"{_at(where, key)} is {type_name(value)}, not text",
                f"write '{key}' as the reasoning text (a JSON string)",
            )
        if found[0] is not None and value.strip() != found[0].strip():
            raise Bad(
                "reasoning-conflict",
                f"{where or 'the sample'} has two different reasonings, '{found[1]}' and '{key}'",
                "keep one reasoning field per message",
            )
        if found[0] is None:
            found = (value, key)
    return found


def _from_json(text: str, code: str, where: str, hint: str) -> Any:
    """A value some converters store as a JSON string, parsed; a data problem naming ``where`` if it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Bad(code, f"{where} is not valid JSON ({exc.msg} at column {exc.colno})", hint) from None


def parse_arguments(value: Any, where: str) -> dict[str, Any]:
    """Tool call arguments as a dict (parsed when the data gives a JSON string)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        value = _from_json(value, "tool-arguments-json", where,
                           "write the arguments as a JSON object (or a string holding one)")
    if not isinstance(value, dict):
        raise Bad(
            "tool-arguments-json",
            f"{where} is {type_name(value)}, not a JSON object",
            'write the arguments as an object of parameter names, e.g. {"city": "Paris"}',
        )
    return value


def tool_call(call: Any, where: str) -> dict[str, Any]:
    """One call in the OpenAI shape; the flat ``{"name", "arguments"}`` form is accepted too."""
    if not isinstance(call, dict):
        raise Bad(
            "wrong-type",
            f"{where} is {type_name(call)}, not a tool call object",
            'write {"type": "function", "function": {"name": ..., "arguments": {...}}}',
        )
    function = call.get("function", call)
    inner = f"{where}.function" if "function" in call else where
    if not isinstance(function, dict):
        raise Bad("wrong-type", f"{inner} is {type_name(function)}, not an object", "give the call a name and arguments")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise Bad("missing-field", f"{inner}.name is missing", "name the tool the call is for")
    key = "arguments" if "arguments" in function else "parameters"
    arguments = parse_arguments(function.get(key), f"{inner}.{key}")
    call_id = call.get("id")
    if call_id is not None and not isinstance(call_id, str):
        call_id = str(call_id)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_calls_of(turn: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """The calls of an assistant message: ``tool_calls`` and/or the legacy ``function_call``."""
    calls: list[dict[str, Any]] = []
    value = turn.get("tool_calls")
    if value is not None:
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            raise Bad("wrong-type", f"{where}.tool_calls is {type_name(value)}, not a list", "write a list of calls")
        calls.extend(tool_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(value))
    legacy = turn.get("function_call")
    if legacy is not None:
        calls.append(tool_call(legacy, f"{where}.function_call"))
    return calls


def calls_from_text(text: str, where: str) -> list[dict[str, Any]]:
    """The calls of a ShareGPT ``function_call`` turn: JSON of one call or a list of calls."""
    value = _from_json(text, "tool-arguments-json", where, 'write the call as JSON: {"name": ..., "arguments": {...}}')
    items = value if isinstance(value, list) else [value]
    return [tool_call(c, where if len(items) == 1 else f"{where}[{i}]") for i, c in enumerate(items)]


def tool_result(value: Any, where: str) -> str:
    """A tool result as text; a JSON object or list is written back as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, int, float, bool)):
        return json.dumps(value, ensure_ascii=False)
    raise Bad("missing-field", f"{where} is missing", "give every tool message the tool's result")


def tools_of(data: Mapping[str, Any]) -> tuple[dict[str, Any], ...] | None:
    """The sample's tool declarations (OpenAI function schemas), as given; None when absent.

    A JSON string (as some converters store them) is parsed. Each declaration must name its
    tool, at the top level or under ``function``.
    """
    value = data.get("tools")
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = _from_json(value, "tools-json", "field 'tools'", "write 'tools' as a list of function schemas")
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise Bad("wrong-type", f"field 'tools' is {type_name(value)}, not a list", "write a list of function schemas")
    for i, tool in enumerate(value):
        if tool_name(tool) is None:
            raise Bad(
                "tools-json",
                f"tools[{i}] names no function",
                'write {"type": "function", "function": {"name": ..., "description": ..., "parameters": {...}}}',
            )
    return tuple(value) if value else None


def tool_name(tool: Any) -> str | None:
    """The function name of one declaration (OpenAI wrapped or bare schema)."""
    if not isinstance(tool, dict):
        return None
    inner = tool.get("function") if isinstance(tool.get("function"), dict) else tool
    name = inner.get("name")
    return name if isinstance(name, str) and name else None


def assistant(content: str, reasoning: str | None, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """An assistant message with only the keys it has (empty reasoning is no reasoning)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None and reasoning.strip():
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    return message


def assistant_from(content: str, turn: Mapping[str, Any], where: str, content_key: str) -> dict[str, Any]:
    """Normalise an assistant turn: explicit reasoning field, or a leading think block."""
    reasoning, key = reasoning_of(turn, where)
    head, rest = split_think(content)
    if head is not None:
        if reasoning is not None and head.strip() != reasoning.strip():
            raise Bad(
                "reasoning-conflict",
                f"{where or 'the sample'} has reasoning both in '{key}' and in a <think> block of '{content_key}'",
                "keep the reasoning in one place",
            )
        reasoning, content = head if reasoning is None else reasoning, rest
    return assistant(content, reasoning, tool_calls_of(turn, where))


def has_reasoning(messages: Any) -> bool:
    """Any assistant message carries reasoning."""
    return any("reasoning_content" in m for m in messages)


def has_tools(messages: Any) -> bool:
    """Any message calls a tool or is a tool result."""
    return any("tool_calls" in m or m["role"] == "tool" for m in messages)


def reply_message(text: str) -> dict[str, Any]:
    """A generated reply as an assistant message: its think block becomes ``reasoning_content``.

    The reply may open with ``<think>`` or, when the inference prompt already opened the block
    (R1-style templates), start inside it and only close it. Kept apart, the reasoning is
    rendered (or dropped from earlier turns) by the template as it was in training.
    """
    reasoning, rest = split_think(text)
    if reasoning is None and THINK_CLOSE in text and THINK_OPEN not in text:
        head, _, rest = text.partition(THINK_CLOSE)
        reasoning, rest = head.strip(), rest.lstrip()
    return assistant(rest, reasoning, [])


def load_tools(path: str) -> list[dict[str, Any]]:
    """Tool declarations from a JSON file (a list of function schemas), for ``framework chat``."""
    from pathlib import Path

    from framework.errors import DataError

    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read the tools file ({exc.strerror})", where=str(file),
                        hint="pass a JSON file with a list of function schemas") from None
    try:
        tools = tools_of({"tools": text})
    except Bad as bad:
        raise DataError(bad.message, where=str(file), hint=bad.hint) from None
    if not tools:
        raise DataError("the tools file declares no tool", where=str(file), hint="write a list of function schemas")
    return list(tools)
