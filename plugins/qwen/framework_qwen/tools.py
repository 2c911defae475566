"""Tool declarations, tool calls and tool results in Qwen's two syntaxes, as segments for ``chat``.

* Hermes JSON (Qwen2.5, Qwen3, Qwen3-2507; ``qwen2.5-7b-instruct.jinja``, ``qwen3-*.jinja``,
  ``Qwen-Qwen3-4B-Instruct-2507.jinja``): a ``# Tools`` block in the system turn with one JSON
  schema per line inside ``<tools></tools>`` and the Hermes instructions; each call is
  ``<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>``.
* XML (Qwen3.5/3.6/3.8; ``oracles/2026/templates``): the same ``<tools>`` JSON lines with other
  instructions and an ``<IMPORTANT>`` block; each call is
  ``<tool_call>\\n<function=NAME>\\n<parameter=KEY>\\nVALUE\\n</parameter>\\n</function>\\n</tool_call>``
  (Qwen3.5 writes non-string scalars with ``| string``, e.g. ``True``; 3.6/3.8 with ``| tojson``).
* Results, in both: consecutive ``tool`` messages share one ``user`` turn, each in
  ``<tool_response>\\n...\\n</tool_response>``.

JSON is written as transformers' ``tojson`` filter writes it (``json.dumps(ensure_ascii=False)``).
Calls are trainable (the model writes them); declarations and results never are.
"""

from __future__ import annotations

import json
from typing import Any

from framework.hookdata import Segment

from framework_qwen.vocab import IM_END, IM_START, TOOL_CALL_CLOSE, TOOL_CALL_OPEN

HERMES_TOOLS_HEAD = ("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
                     "You are provided with function signatures within <tools></tools> XML tags:\n<tools>")
HERMES_TOOLS_TAIL = ("\n</tools>\n\nFor each function call, return a json object with function name and arguments "
                     "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
                     "\"arguments\": <args-json-object>}\n</tool_call>")

XML_TOOLS_HEAD = "# Tools\n\nYou have access to the following functions:\n\n<tools>"
XML_TOOLS_TAIL = (
    "\n</tools>\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:\n\n"
    "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n"
    "<parameter=example_parameter_2>\nThis is the value for the second parameter\nthat can span\nmultiple lines\n"
    "</parameter>\n</function>\n</tool_call>\n\n<IMPORTANT>\nReminder:\n- Function calls MUST follow the specified "
    "format: an inner <function=...></function> block must be nested within <tool_call></tool_call> XML tags\n"
    "- Required parameters MUST be specified\n- You may provide optional reasoning for your function call in "
    "natural language BEFORE the function call, but NOT after\n- If there is no function call available, answer "
    "the question like normal with your current knowledge and do not tell the user about function calls\n"
    "</IMPORTANT>"
)


def tojson(value: Any) -> str:
    """transformers' ``tojson`` filter for chat templates: ``json.dumps`` without ASCII escapes."""
    return json.dumps(value, ensure_ascii=False)


def call_parts(call: dict[str, Any]) -> tuple[str, Any]:
    """(name, arguments) of an OpenAI-shaped tool call (also accepts the flat {name, arguments})."""
    function = call.get("function") or call
    return str(function.get("name", "")), function.get("arguments", {})


# ── Hermes JSON: Qwen2.5, Qwen3, Qwen3-2507 ─────────────────────────────────────────────────────

def hermes_system_turn(system: str | None, tools: list[dict[str, Any]], separator: str) -> list[Segment]:
    """The system turn that declares ``tools`` (Qwen2.5/3/2507), with the system text before it."""
    segments = [Segment(f"{IM_START}system\n")]
    if system is not None:
        segments += [Segment(system, message_index=0, from_data=True), Segment(separator)]
    segments.append(Segment(HERMES_TOOLS_HEAD, kind="tools"))
    for tool in tools:
        segments += [Segment("\n", kind="tools"), Segment(tojson(tool), from_data=True, kind="tools")]
    segments += [Segment(HERMES_TOOLS_TAIL, kind="tools"), Segment(f"{IM_END}\n")]
    return segments


def hermes_call(call: dict[str, Any], index: int, separator: str, arguments_as_given: bool) -> list[Segment]:
    """``<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>`` (trainable: the model writes it).

    ``arguments_as_given``: Qwen3's templates print string arguments as they are, Qwen2.5's always
    through ``tojson``."""
    name, arguments = call_parts(call)
    shown = arguments if arguments_as_given and isinstance(arguments, str) else tojson(arguments)
    kind = "tool_call"
    return [
        Segment(f'{separator}{TOOL_CALL_OPEN}\n{{"name": "', trainable=True, message_index=index, kind=kind),
        Segment(name, trainable=True, message_index=index, from_data=True, kind=kind),
        Segment('", "arguments": ', trainable=True, message_index=index, kind=kind),
        Segment(shown, trainable=True, message_index=index, from_data=True, kind=kind),
        Segment(f"}}\n{TOOL_CALL_CLOSE}", trainable=True, message_index=index, kind=kind),
    ]


def hermes_result(messages: list[dict[str, Any]], i: int) -> list[Segment]:
    """Qwen2.5/3: consecutive tool results share one ``user`` turn, each in ``<tool_response>``."""
    first = i == 0 or messages[i - 1]["role"] != "tool"
    last = i == len(messages) - 1 or messages[i + 1]["role"] != "tool"
    return [
        Segment(f"{IM_START}user" if first else ""),
        Segment("\n<tool_response>\n", kind="tool_result"),
        Segment(messages[i]["content"], message_index=i, from_data=True, kind="tool_result"),
        Segment("\n</tool_response>", kind="tool_result"),
        Segment(f"{IM_END}\n" if last else ""),
    ]


# ── XML: Qwen3.5, Qwen3.6, Qwen3.8 ───────────────────────────────────────────────────────────────

def xml_declarations(tools: list[dict[str, Any]]) -> list[Segment]:
    """The ``# Tools`` block of the Qwen3.5 templates: JSON schemas, the XML call format, ``<IMPORTANT>``."""
    segments = [Segment(XML_TOOLS_HEAD, kind="tools")]
    for tool in tools:
        segments += [Segment("\n", kind="tools"), Segment(tojson(tool), from_data=True, kind="tools")]
    segments.append(Segment(XML_TOOLS_TAIL, kind="tools"))
    return segments


def xml_argument(variant: str, value: Any) -> str:
    """A parameter value: strings as they are; objects and lists as JSON; other scalars per template."""
    if isinstance(value, str):
        return value
    if variant == "3.5" and not isinstance(value, (dict, list, tuple)):
        return str(value)  # Qwen3.5's ``| string``: True, None, 1.5
    return tojson(value)  # Qwen3.6/3.8's ``| tojson``: true, null, 1.5


def xml_calls(variant: str, message: dict[str, Any], content: str, i: int) -> list[Segment]:
    """Every call of an assistant message in XML, after its (trimmed) ``content``; all trainable."""
    segments: list[Segment] = []

    def add(text: str, from_data: bool = False) -> None:
        segments.append(Segment(text, trainable=True, message_index=i, from_data=from_data, kind="tool_call"))

    for n, call in enumerate(message.get("tool_calls") or ()):
        name, arguments = call_parts(call)
        add(("\n\n" if content else "") if n == 0 else "\n")
        add("<tool_call>\n<function=")
        add(name, True)
        add(">\n")
        if isinstance(arguments, dict):
            for key, value in arguments.items():
                add("<parameter=")
                add(str(key), True)
                add(">\n")
                add(xml_argument(variant, value), True)
                add("\n</parameter>\n")
        add("</function>\n</tool_call>")
    return segments


def xml_result(messages: list[dict[str, Any]], i: int) -> list[Segment]:
    """Qwen3.5/3.6/3.8: as ``hermes_result`` with the content trimmed; a leading tool message opens no turn."""
    opens = i > 0 and messages[i - 1]["role"] != "tool"
    closes = i == len(messages) - 1 or messages[i + 1]["role"] != "tool"
    return [
        Segment(f"{IM_START}user" if opens else ""),
        Segment("\n<tool_response>\n", kind="tool_result"),
        Segment(messages[i]["content"].strip(), message_index=i, from_data=True, kind="tool_result"),
        Segment("\n</tool_response>", kind="tool_result"),
        Segment(f"{IM_END}\n" if closes else ""),
    ]
