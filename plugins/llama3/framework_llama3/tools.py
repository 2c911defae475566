"""Llama 3.1+ tool use in the family's own syntax: declarations, calls and results as the templates write them.

Llama 3.0's template has no tool format; 3.1, 3.2 and 3.3 share one (``chat`` calls these helpers
and places their text in the turns):

* ``tools`` given: the system block starts with ``Environment: ipython``; the declarations
  (``json.dumps(indent=4)`` each, followed by a blank line) go into the first user message after
  a fixed preamble, or into the system block when the option ``tools_in_user_message`` is false;
* a custom tool call is ``{"name": "...", "parameters": {...}}`` (the arguments as ``tojson``,
  non-ASCII kept), followed by ``<|eot_id|>``;
* with the 3.1 option ``builtin_tools`` the system block names them (``Tools: brave_search,
  wolfram_alpha``; ``code_interpreter`` only switches ipython mode on), a built-in call is
  ``<|python_tag|>name.call(key="value")`` with string values only, and every call ends with
  ``<|eom_id|>`` (the template's ipython mode);
* a tool result is an ``ipython`` turn whose content is JSON-encoded (the template's ``tojson``:
  a string result appears in quotes).

Source: the official chat templates of Llama-3.1-8B-Instruct and Llama-3.2-3B-Instruct (copies in
the plugin's tests/oracles/templates, origin and sha256 in tests/oracles/SOURCES.md); the tests
render tool samples with both and compare strings, ids and labels.
"""

from __future__ import annotations

import json
from typing import Any

from framework.errors import DataError
from framework.hookdata import Segment
from framework_llama3.vocab import PYTHON_TAG

ENVIRONMENT = "Environment: ipython\n"
#: The tool preambles of the 3.1/3.2 templates, verbatim.
JSON_FORMAT = ('Respond in the format {"name": function name, "parameters": dictionary of argument name and its '
               'value}.Do not use variables.\n\n')
TOOLS_IN_SYSTEM = ("You have access to the following functions. To call a function, please respond with JSON for a "
                   "function call." + JSON_FORMAT)
TOOLS_IN_USER = ("Given the following functions, please respond with a JSON for a function call with its proper "
                 "arguments that best answers the given prompt.\n\n" + JSON_FORMAT)
#: The built-in tool that switches ipython mode on without being listed on the ``Tools:`` line.
CODE_INTERPRETER = "code_interpreter"


def builtin_line(builtin: list[str]) -> str:
    """The system block's ``Tools: ...`` line of the 3.1 ``builtin_tools`` option."""
    return "Tools: " + ", ".join(t for t in builtin if t != CODE_INTERPRETER) + "\n\n"


def declarations(tools: list[dict[str, Any]]) -> list[Segment]:
    """Each tool schema as the template prints it, one segment of kind ``tools`` each."""
    return [Segment(json.dumps(t, ensure_ascii=False, indent=4) + "\n\n", from_data=True, kind="tools")
            for t in tools]


def call_text(call: dict[str, Any], builtin: list[str] | None) -> str:
    """One tool call: python-tag syntax for a built-in tool, the JSON object otherwise."""
    function = call["function"]
    name, arguments = function["name"], function.get("arguments") or {}
    if builtin is not None and name in builtin:
        if not all(isinstance(value, str) for value in arguments.values()):
            raise DataError(f"built-in tool call {name!r} has a non-string argument; the Llama 3.1 template writes "
                            'built-in calls as name.call(key="value") with string values only',
                            hint="give every argument of a built-in tool call as a string")
        args = ", ".join(f'{key}="{value}"' for key, value in arguments.items())
        return f"{PYTHON_TAG}{name}.call({args})"
    return '{"name": "' + name + '", "parameters": ' + json.dumps(arguments, ensure_ascii=False) + "}"


def result_text(content: Any) -> str:
    """A tool result as the ``ipython`` turn shows it: ``tojson`` of the content (a string gets quotes)."""
    return json.dumps(content, ensure_ascii=False)
