"""Llama 4 tool use in the family's own syntax: declarations, fenced calls and results as the template writes them.

The launch template (``chat`` calls these helpers and places their text in the turns):

* ``tools`` given: the declarations (``json.dumps(indent=4)`` each, followed by a blank line) go
  after a fixed preamble into the first user message (``tools_in_user_message``, default true),
  or into the system turn, which then starts with ``Environment: ipython``;
* an assistant turn with calls is ``<|python_start|>`` + its text + ``<|python_end|>``, followed
  by each call as ``{"name": ..., "parameters": {...}}`` (the arguments as ``tojson``, non-ASCII
  kept; several calls in one turn are concatenated with nothing between them);
* a tool result is an ``ipython`` turn whose content is JSON-encoded (the template's ``tojson``:
  a string appears in quotes).

Unlike Llama 3.1 there is no ``<|python_tag|>`` built-in call syntax and the template never
writes ``<|eom|>`` (it is only a stop token). Source: the launch template (the plugin's
tests/oracles/templates, origin and sha256 in tests/oracles/SOURCES.md); the tests render tool
samples with it and compare strings, ids and labels.
"""

from __future__ import annotations

import json
from typing import Any

from framework.hookdata import Segment
from framework_llama4.vocab import PYTHON_END, PYTHON_START

ENVIRONMENT = "Environment: ipython\n"
#: The tool preambles of the template, verbatim.
JSON_FORMAT = ('Respond in the format {"name": function name, "parameters": dictionary of argument name and its '
               'value}.Do not use variables.\n\n')
TOOLS_IN_SYSTEM = ("You have access to the following functions. To call a function, please respond with JSON for a "
                   "function call." + JSON_FORMAT)
TOOLS_IN_USER = ("Given the following functions, please respond with a JSON for a function call with its proper "
                 "arguments that best answers the given prompt.\n\n" + JSON_FORMAT)


def declarations(tools: list[dict[str, Any]]) -> list[Segment]:
    """Each tool schema as the template prints it, one segment of kind ``tools`` each."""
    return [Segment(json.dumps(t, ensure_ascii=False, indent=4) + "\n\n", from_data=True, kind="tools")
            for t in tools]


def calls_text(calls: list[dict[str, Any]]) -> str:
    """The calls of one assistant turn, each as its JSON object, concatenated."""
    return "".join('{"name": "' + c["function"]["name"] + '", "parameters": '
                   + json.dumps(c["function"].get("arguments") or {}, ensure_ascii=False) + "}" for c in calls)


def call_segments(content: str, calls: list[dict[str, Any]], index: int) -> list[Segment]:
    """The trained body of a calling turn: the fenced text, then the calls (kind ``tool_call``)."""
    return [Segment(PYTHON_START, True, index, kind="tool_call"),
            Segment(content, True, index, True, "tool_call"),
            Segment(PYTHON_END, True, index, kind="tool_call"),
            Segment(calls_text(calls), True, index, True, "tool_call")]


def result_text(content: Any) -> str:
    """A tool result as the ``ipython`` turn shows it: ``tojson`` of the content (a string gets quotes)."""
    return json.dumps(content, ensure_ascii=False)
