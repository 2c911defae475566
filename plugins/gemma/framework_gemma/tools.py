"""Tool declarations, tool calls and tool results in Gemma's own syntax.

Gemma 1-3 have no tool syntax: their templates (gemma-7b-it, gemma-2-9b-it, gemma-3-1b-it) know no
tool role and render no declarations, so ``chat`` refuses tool data for them. Gemma 4 has one, and
this module writes it exactly as Google's two shipped templates do (oracles:
google-gemma-4-E2B-it.jinja, google-gemma-4-31B-it.jinja; both carry the same macros)::

    declaration  <|tool>declaration:NAME{description:<|"|>...<|"|>,parameters:{...}}<tool|>   (system turn)
    call         <|tool_call>call:NAME{key:value,...}<tool_call|>                          (model turn)
    result       <|tool_response>response:NAME{value:<|"|>...<|"|>}<tool_response|>        (same model turn)

* Strings are quoted with the control token ``<|"|>``, never with ``"``; keys are sorted as jinja's
  ``dictsort`` does (case-insensitively). Keys of calls and results, and of objects nested in their
  values, are written bare (the template's ``format_argument`` with ``escape_keys=false``).
* A result that is a JSON object is written key by key; any other result is ``{value:...}``.
* Declarations are rendered by the official template's own macros, copied verbatim into
  ``templates/gemma4_tool_declaration.jinja``, because their schema walk (types upper-cased,
  ``enum``, ``nullable``, nested properties) is long and any re-implementation would drift.

Values are returned as pieces ``(text, from_data)`` so ``chat`` can keep text copied from the data
(names, keys, strings) apart from the syntax, and tokenize data text as plain characters.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from framework.errors import DataError
from framework_gemma.vocab import (
    G4_CALL_CLOSE,
    G4_CALL_OPEN,
    G4_QUOTE,
    G4_RESPONSE_CLOSE,
    G4_TOOL_CLOSE,
    G4_TOOL_OPEN,
)

Piece = tuple[str, bool]  # (text, copied from data)


# ── values: the template's format_argument ───────────────────────────────────────────────


def _sorted_items(mapping: dict[str, Any]) -> list[tuple[str, Any]]:
    """Jinja's ``dictsort``: by key, case-insensitively."""
    return sorted(mapping.items(), key=lambda item: item[0].lower() if isinstance(item[0], str) else item[0])


def format_argument(value: Any, escape_keys: bool = True) -> list[Piece]:
    """The template's ``format_argument`` macro, as pieces (strings from data, quotes as control tokens)."""
    if value is None:
        return [("null", False)]
    if isinstance(value, str):
        return [(G4_QUOTE, False), (value, True), (G4_QUOTE, False)]
    if isinstance(value, bool):
        return [("true" if value else "false", False)]
    if isinstance(value, dict):
        out: list[Piece] = [("{", False)]
        for n, (key, item) in enumerate(_sorted_items(value)):
            if n:
                out.append((",", False))
            out += [(G4_QUOTE, False), (key, True), (G4_QUOTE, False)] if escape_keys else [(key, True)]
            out.append((":", False))
            out += format_argument(item, escape_keys)
        return [*out, ("}", False)]
    if isinstance(value, (list, tuple)):
        out = [("[", False)]
        for n, item in enumerate(value):
            if n:
                out.append((",", False))
            out += format_argument(item, escape_keys)
        return [*out, ("]", False)]
    return [(str(value), True)]


# ── calls and results ────────────────────────────────────────────────────────────────────


def call_pieces(call: dict[str, Any], index: int) -> list[Piece]:
    """``<|tool_call>call:NAME{k:v,...}<tool_call|>`` for one OpenAI-style call of message ``index``."""
    function = call.get("function") or {}
    name, arguments = function.get("name"), function.get("arguments")
    if not isinstance(name, str) or not isinstance(arguments, (dict, type(None))):
        raise DataError(f"message {index} has a tool call without a name or with non-object arguments; Gemma 4's "
                        "template needs a function name and a JSON object", hint="give each call a name and "
                        "object arguments")
    out: list[Piece] = [(G4_CALL_OPEN, False), ("call:", False), (name, True), ("{", False)]
    for n, (key, value) in enumerate(_sorted_items(arguments or {})):
        if n:
            out.append((",", False))
        out += [(key, True), (":", False), *format_argument(value, escape_keys=False)]
    return [*out, ("}", False), (G4_CALL_CLOSE, False)]


def response_pieces(name: str, body: Any) -> list[Piece]:
    """``format_tool_response_block`` without its opener (the caller decides who emits ``<|tool_response>``)."""
    if isinstance(body, dict):
        out: list[Piece] = [("response:", False), (name, True), ("{", False)]
        for n, (key, value) in enumerate(_sorted_items(body)):
            if n:
                out.append((",", False))
            out += [(key, True), (":", False), *format_argument(value, escape_keys=False)]
        return [*out, ("}", False), (G4_RESPONSE_CLOSE, False)]
    return [("response:", False), (name, True), ("{value:", False), *format_argument(body, escape_keys=False),
            ("}", False), (G4_RESPONSE_CLOSE, False)]


def check_tool_messages(messages: list[dict[str, Any]], first: int) -> None:
    """The template silently skips a tool message that does not answer a call: refuse it instead."""
    answered = False
    for index in range(first, len(messages)):
        role = messages[index].get("role")
        if role == "tool" and not answered:
            raise DataError(f"message {index} is a tool result that follows no assistant tool call; Gemma 4's template "
                            "would drop it", hint="put tool messages right after the assistant message whose "
                            "tool_calls they answer")
        if role != "tool":
            answered = role == "assistant" and bool(messages[index].get("tool_calls"))


# ── declarations: the template's own macros ──────────────────────────────────────────────


@functools.lru_cache(maxsize=1)
def _declaration_template() -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    source = resources.files("framework_gemma").joinpath("templates/gemma4_tool_declaration.jinja")
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(source.read_text(encoding="utf-8"))


def declaration(tool: dict[str, Any]) -> str:
    """``<|tool>declaration:NAME{...}<tool|>`` rendered by the official macros (copied verbatim)."""
    if not isinstance(tool.get("function"), dict) or not tool["function"].get("name"):
        raise DataError("a tool declaration has no `function.name`; Gemma 4's template renders OpenAI function "
                        "schemas", hint='declare tools as {"type": "function", "function": {"name": ..., ...}}')
    return G4_TOOL_OPEN + _declaration_template().render(tool=tool) + G4_TOOL_CLOSE
