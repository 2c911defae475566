"""Dataset formats: recognise one from its field names and turn records into conversations.

Five formats cover what fine-tuning data is published in:

- ``alpaca``: ``instruction`` / ``input`` / ``output`` (+ ``system``, ``history`` as
  ``[[question, answer], ...]``); ``question``/``query``/``prompt`` and ``response``/``answer``/
  ``completion`` are accepted as the same fields.
- ``sharegpt``: ``conversations`` of ``{"from", "value"}`` with ``human``/``gpt``/``system``
  (``user``/``assistant`` too), ``function_call`` (the assistant's call, JSON in ``value``) and
  ``observation`` (the tool's result) turns, optional top-level ``system``.
- ``messages``: OpenAI style ``messages`` of ``{"role", "content"}``, with ``tool`` messages and
  assistant ``tool_calls``.
- ``preference``: ``prompt`` (text or messages) or ``instruction``/``input``, with ``chosen``
  and ``rejected`` as text or messages.
- ``text``: ``text`` (continued pre-training).

Every conversation format also reads reasoning (an assistant's ``reasoning_content``,
``reasoning`` or ``thinking``, or a leading ``<think>...</think>`` block; alpaca's reasoning
column), sample-level ``tools`` and ``enable_thinking``; ``framework.data.messages`` normalises
them into the ``framework.hookdata.Message`` shape.

A record that cannot become a valid conversation gives a ``Problem`` (dropped and counted, or
fatal with ``strict``); only an unrecognisable dataset is an error here. A field the converter
does not use is counted in ``IgnoredFields`` and reported, never silently discarded.
Conversion is plain dict work, no validation library: it runs once per sample on hundreds of
thousands of samples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from framework.data.messages import (
    REASONING_KEYS,
    THINK_OPEN,
    Bad as _Bad,
    assistant,
    assistant_from,
    calls_from_text,
    reasoning_of,
    tool_result,
    tools_of,
    type_name as _type_name,
)
from framework.data.problems import Problem
from framework.data.records import Record
from framework.errors import DataError

Format = Literal["alpaca", "sharegpt", "messages", "preference", "text"]
FORMATS: tuple[str, ...] = get_args(Format)

INSTRUCTION_KEYS = ("instruction", "question", "query", "prompt")
INPUT_KEYS = ("input", "context")
OUTPUT_KEYS = ("output", "response", "answer", "completion")
CONVERSATION_KEYS = ("messages", "conversations", "conversation")

#: Role names found in published data, mapped to the roles a chat template knows.
ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
    "ipython": "tool",
}
#: ShareGPT's assistant turn that calls a tool (JSON of the call in ``value``).
CALL_ROLE = "function_call"

#: Sample fields every conversation format reads besides its own.
_COMMON_KEYS = frozenset({"system", "tools", "task", "enable_thinking"})
_KNOWN_KEYS = {
    "alpaca": _COMMON_KEYS | {*INSTRUCTION_KEYS, *INPUT_KEYS, *OUTPUT_KEYS, "history", *REASONING_KEYS},
    "sharegpt": _COMMON_KEYS | set(CONVERSATION_KEYS),
    "messages": _COMMON_KEYS | set(CONVERSATION_KEYS),
    "preference": _COMMON_KEYS
    | {"prompt", "chosen", "rejected", "history", *INSTRUCTION_KEYS, *INPUT_KEYS, *CONVERSATION_KEYS},
    "text": frozenset({"text"}),
}
#: Message keys read per role, besides the role and content keys.
_ROLE_KEYS = {"assistant": frozenset({*REASONING_KEYS, "tool_calls", "function_call"}),
              "tool": frozenset({"tool_call_id", "name"})}

_FORMAT_HELP = (
    "alpaca (instruction/input/output), sharegpt (conversations of from/value), messages (role/content), "
    "preference (prompt/chosen/rejected) or text (text)"
)
_ORDER_HINT = (
    "a conversation is an optional system message, then user and assistant messages taking turns "
    "(an assistant's tool calls followed by their tool results, then the assistant again), "
    "ending with the assistant's reply"
)


@dataclass(frozen=True, slots=True)
class Example:
    """A validated sample.

    ``messages`` (``framework.hookdata.Message`` dicts) is an optional system message, then
    user/assistant messages taking turns (tool results after an assistant's calls), ending with
    the assistant (empty for the ``text`` format). ``rejected`` is the same conversation with
    the rejected reply (preference data). ``fields`` names the record field each message came
    from, for messages that point the user at the right place. ``tools`` are the sample's tool
    declarations for the renderer, ``options`` its template options (``enable_thinking``) and
    ``ignored`` the record fields the conversion did not use (reported by ``IgnoredFields``).
    """

    messages: tuple[dict[str, Any], ...]
    source: str
    line: int
    rejected: tuple[dict[str, Any], ...] | None = None
    text: str | None = None
    fields: tuple[str, ...] = ()
    tools: tuple[dict[str, Any], ...] | None = None
    options: tuple[tuple[str, Any], ...] = ()
    ignored: tuple[str, ...] = ()

    def field(self, index: int) -> str:
        """The record field message ``index`` came from."""
        return self.fields[index] if index < len(self.fields) else f"messages[{index}]"


@dataclass
class IgnoredFields:
    """Record fields no converter reads, counted per field with the first sample that has one.

    Data is never silently discarded: the data report prints one line per field.
    """

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, example: Example) -> None:
        """Count the fields one sample did not use."""
        for name in example.ignored:
            self.counts[name] = self.counts.get(name, 0) + 1
            self.first.setdefault(name, f"{example.source}:{example.line}")

    def note(self) -> str | None:
        """One line for the data report, or None when every field was used."""
        if not self.counts:
            return None
        parts = [f"'{name}' in {n} (e.g. {self.first[name]})" for name, n in sorted(self.counts.items())]
        return "fields not used (not trained, not rendered): " + ", ".join(parts)


def record_format(data: Mapping[str, Any]) -> Format | None:
    """The format one record's keys suggest, or None."""
    if "chosen" in data or "rejected" in data:
        return "preference"
    for key in CONVERSATION_KEYS:
        turns = data.get(key)
        if isinstance(turns, list):
            first = next((t for t in turns if isinstance(t, dict)), None)
            if first is not None and ("from" in first or "value" in first):
                return "sharegpt"
            if first is not None and ("role" in first or "content" in first):
                return "messages"
            return "sharegpt" if key == "conversations" else "messages"
    if "instruction" in data or any(k in data for k in OUTPUT_KEYS):
        return "alpaca"
    if "text" in data:
        return "text"
    return None


def detect_format(records: Sequence[Record], *, probe: int = 2000) -> Format:
    """The format most of the first ``probe`` records have; DataError when none is recognisable."""
    votes = Counter(record_format(r.data) for r in records[:probe])
    votes.pop(None, None)
    if not votes:
        first = records[0] if records else None
        keys = sorted(first.data)[:8] if first else []
        where = f"{first.source}:{first.line}" if first else None
        raise DataError(
            f"cannot tell the data format from the fields {keys}",
            where=where,
            hint=f"use the field names of {_FORMAT_HELP}",
        )
    best = max(votes.values())
    return next(f for f in FORMATS if votes.get(f) == best)  # type: ignore[return-value]


def to_examples(
    records: Sequence[Record],
    fmt: Format,
    *,
    task_system_prompts: Mapping[str, str] | None = None,
    ignored: IgnoredFields | None = None,
) -> tuple[list[Example], list[Problem]]:
    """Convert records to examples; records that cannot be converted become problems.

    Args:
        records: raw records from ``read_records``.
        fmt: their format (``detect_format``).
        task_system_prompts: system prompt per value of a record's ``task`` field, so one
            model can learn several tasks told apart by their system prompt. A record's own
            system message wins over its task's.
        ignored: counts the fields the converted samples did not use (for the report).
    """
    convert = _CONVERTERS[fmt]
    known = _KNOWN_KEYS[fmt] if task_system_prompts is not None else _KNOWN_KEYS[fmt] - {"task"}
    examples: list[Example] = []
    problems: list[Problem] = []
    for rec in records:
        data = rec.data
        try:
            example = convert(data, rec)
            if task_system_prompts is not None and "task" in data and example.messages:
                example = _with_task_prompt(example, data["task"], task_system_prompts)
        except _Bad as bad:
            problems.append(Problem(bad.code, bad.message, rec.source, rec.line, bad.hint))
            continue
        if not known.issuperset(data):
            unused = [k for k in data if k not in known and data[k] is not None]
            if unused:
                example = replace(example, ignored=(*sorted(unused), *example.ignored))
        if ignored is not None and example.ignored:
            ignored.add(example)
        examples.append(example)
    return examples, problems


# ──────────────────────────────────────────────────────────────────────────────────────────


def _text(data: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise _Bad("missing-field", f"field '{key}' is missing", f"add '{key}' to every sample")
        return None
    if not isinstance(value, str):
        raise _Bad("wrong-type", f"field '{key}' is {_type_name(value)}, not text", f"write '{key}' as a JSON string")
    return value


def _first_key(data: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in data:
            return key
    return None


def _content(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in value):
        parts = [p.get("text") for p in value]
        if all(isinstance(p, str) for p in parts):
            return "".join(parts)  # type: ignore[arg-type]
    if value is None:
        raise _Bad("missing-field", f"{where} is missing", "give every message its text")
    raise _Bad("wrong-type", f"{where} is {_type_name(value)}, not text", "write message contents as JSON strings")


def _turns(
    turns: Any, key: str, role_key: str, content_key: str, ignored: list[str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Messages and their field names from a list of turn objects.

    Message keys the converter does not read are added to ``ignored`` as ``key[].name``.
    """
    if not isinstance(turns, list):
        raise _Bad(
            "wrong-type",
            f"field '{key}' is {_type_name(turns)}, not a list of messages",
            f"write '{key}' as a JSON list",
        )
    messages: list[dict[str, Any]] = []
    fields: list[str] = []
    for i, turn in enumerate(turns):
        name = f"{key}[{i}]"
        if not isinstance(turn, dict):
            raise _Bad(
                "wrong-type",
                f"{name} is {_type_name(turn)}, not a message object",
                f'write {{"{role_key}": ..., "{content_key}": ...}}',
            )
        role = turn.get(role_key)
        if role is None:
            raise _Bad("missing-field", f"{name} has no '{role_key}'", f"give every message a '{role_key}'")
        lowered = role.lower() if isinstance(role, str) else None
        mapped = "assistant" if lowered == CALL_ROLE else ROLE_ALIASES.get(lowered) if lowered else None
        if mapped is None:
            raise _Bad(
                "unknown-role",
                f"{name}.{role_key} is {role!r}, not a known role",
                "use system, user, assistant or tool (human, gpt, function_call and observation also work)",
            )
        where = f"{name}.{content_key}"
        value = turn.get(content_key)
        if lowered == CALL_ROLE:
            if not isinstance(value, str):
                raise _Bad("wrong-type", f"{where} is {_type_name(value)}, not the call's JSON text", "write the call as JSON text")
            calls = calls_from_text(value, where)
            previous = messages[-1] if messages else None
            if previous is not None and previous["role"] == "assistant" and "tool_calls" not in previous:
                previous["tool_calls"] = calls  # a reply's text, then its call: one assistant turn
                continue
            message = assistant("", reasoning_of(turn, name)[0], calls)
        elif mapped == "assistant" and len(turn) == 2 and type(value) is str and THINK_OPEN not in value:
            message = {"role": "assistant", "content": value}  # the common case, kept cheap
        elif mapped == "assistant":
            calls_only = value is None and (turn.get("tool_calls") or turn.get("function_call"))
            message = assistant_from("" if calls_only else _content(value, where), turn, name, content_key)
        elif mapped == "tool":
            message = {"role": "tool", "content": tool_result(value, where)}
            for extra in ("tool_call_id", "name"):
                if turn.get(extra) is not None:
                    message[extra] = str(turn[extra])
        else:
            message = {"role": mapped, "content": _content(value, where)}
        if ignored is not None and len(turn) > 2:
            read = _ROLE_KEYS.get(mapped, frozenset())
            ignored.extend(
                f"{key}[].{k}" for k in turn if k not in (role_key, content_key) and k not in read and turn[k] is not None
            )
        messages.append(message)
        fields.append(where)
    return messages, fields


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeio" else f"a {word}"  # "a user"


def _check_order(messages: list[dict[str, Any]], fields: list[str], last: str) -> None:
    """Optional system first, then user/assistant taking turns, ending with ``last``.

    An assistant message with ``tool_calls`` is followed by one or more tool results, then
    by the assistant again.
    """
    if not messages or (len(messages) == 1 and messages[0]["role"] == "system"):
        raise _Bad("missing-field", "the sample has no user or assistant message", _ORDER_HINT)
    start = 1 if messages[0]["role"] == "system" else 0
    for i in range(start, len(messages)):
        previous = messages[i - 1] if i > start else None
        if previous is None or previous["role"] == "system":
            allowed: tuple[str, ...] = ("user",)
        elif previous["role"] == "user":
            allowed = ("assistant",)
        elif previous["role"] == "assistant":
            allowed = ("tool",) if "tool_calls" in previous else ("user",)
        else:
            allowed = ("tool", "assistant")
        role = messages[i]["role"]
        if role in allowed:
            continue
        if role == "tool":
            raise _Bad(
                "tool-result-without-call",
                f"{fields[i]} is a tool result with no tool call before it",
                "put the assistant message whose tool_calls it answers before it",
            )
        expected = " or ".join(_a(r) for r in allowed)
        raise _Bad("role-order", f"{fields[i]} is {_a(role)} message where {expected} message belongs", _ORDER_HINT)
    if messages[-1]["role"] != last:
        raise _Bad(
            "role-order",
            f"the conversation ends with {_a(messages[-1]['role'])} message, not the {last}'s",
            _ORDER_HINT,
        )


def _with_task_prompt(example: Example, task: Any, prompts: Mapping[str, str]) -> Example:
    if not isinstance(task, str):
        raise _Bad("wrong-type", f"field 'task' is {_type_name(task)}, not text", "write 'task' as a JSON string")
    if example.messages[0]["role"] == "system":
        return example
    prompt = prompts.get(task)
    if prompt is None:
        known = ", ".join(sorted(prompts)[:5])
        raise _Bad(
            "unknown-task",
            f"task '{task}' has no system prompt (known: {known})",
            "add the task to the task system prompts",
        )
    system = ({"role": "system", "content": prompt},)
    rejected = system + example.rejected if example.rejected is not None else None
    return replace(example, messages=system + example.messages, rejected=rejected, fields=("task", *example.fields))


def _sample_extras(data: Mapping[str, Any]) -> dict[str, Any]:
    """The sample-level fields every conversation format reads: tools and enable_thinking."""
    extras: dict[str, Any] = {}
    tools = tools_of(data) if "tools" in data else None
    if tools is not None:
        extras["tools"] = tools
    thinking = data.get("enable_thinking")
    if thinking is not None:
        if not isinstance(thinking, bool):
            raise _Bad(
                "wrong-type",
                f"field 'enable_thinking' is {_type_name(thinking)}, not true/false",
                "write enable_thinking as true or false",
            )
        extras["options"] = (("enable_thinking", thinking),)
    return extras


_ALPACA_FIELDS = ("instruction", "output")
_ALPACA_SYSTEM_FIELDS = ("system", "instruction", "output")


def _alpaca_prompt(data: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str], str]:
    """System, history and the user message of an alpaca record (and the instruction key)."""
    key = _first_key(data, INSTRUCTION_KEYS) or "instruction"
    instruction = _text(data, key, required=False)
    input_key = _first_key(data, INPUT_KEYS)
    extra = _text(data, input_key, required=False) if input_key else None
    if instruction is None and extra is None:
        raise _Bad("missing-field", f"field '{key}' is missing", f"add '{key}' to every sample")
    user = f"{instruction}\n{extra}" if instruction and extra else (instruction or extra or "")
    messages: list[dict[str, Any]] = []
    fields: list[str] = []
    system = _text(data, "system", required=False)
    if system is not None:
        messages.append({"role": "system", "content": system})
        fields.append("system")
    history = data.get("history")
    if history is not None:
        if not isinstance(history, list):
            raise _Bad(
                "wrong-type",
                f"field 'history' is {_type_name(history)}, not a list",
                "write history as [[question, answer], ...]",
            )
        for i, pair in enumerate(history):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)):
                raise _Bad(
                    "wrong-type",
                    f"history[{i}] is not a [question, answer] pair of texts",
                    "write history as [[question, answer], ...]",
                )
            messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
            fields += [f"history[{i}][0]", f"history[{i}][1]"]
    messages.append({"role": "user", "content": user})
    fields.append(key)
    return messages, fields, key


_ALPACA_FAST = frozenset({*INSTRUCTION_KEYS, *INPUT_KEYS, *OUTPUT_KEYS, "system"})


def _alpaca(data: Mapping[str, Any], rec: Record) -> Example:
    if _ALPACA_FAST.issuperset(data):  # the common case, kept cheap
        key = _first_key(data, INSTRUCTION_KEYS) or "instruction"
        instruction = data.get(key)
        input_key = _first_key(data, INPUT_KEYS)
        extra = data.get(input_key) if input_key else None
        if type(instruction) is str and (extra is None or extra == ""):
            out_key = _first_key(data, OUTPUT_KEYS) or "output"
            output = data.get(out_key)
            system = data.get("system")
            if type(output) is str and THINK_OPEN in output:
                output = None  # a leading think block: the full path splits it off
            if type(instruction) is str and type(output) is str and system is None:
                msgs = ({"role": "user", "content": instruction}, {"role": "assistant", "content": output})
                return Example(msgs, rec.source, rec.line, fields=_ALPACA_FIELDS)
            if type(instruction) is str and type(output) is str and type(system) is str:
                msgs = (
                    {"role": "system", "content": system},
                    {"role": "user", "content": instruction},
                    {"role": "assistant", "content": output},
                )
                return Example(msgs, rec.source, rec.line, fields=_ALPACA_SYSTEM_FIELDS)
    messages, fields, _ = _alpaca_prompt(data)
    out_key = _first_key(data, OUTPUT_KEYS) or "output"
    output = _text(data, out_key, required=True)
    reasoning = {k: data[k] for k in REASONING_KEYS if k in data}
    messages.append(assistant_from(output or "", reasoning, "", out_key))
    fields.append(out_key)
    return Example(tuple(messages), rec.source, rec.line, fields=tuple(fields), **_sample_extras(data))


def _conversation(
    data: Mapping[str, Any], role_key: str, content_key: str, ignored: list[str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    key = _first_key(data, CONVERSATION_KEYS) or "messages"
    if key not in data:
        raise _Bad("missing-field", f"field '{key}' is missing", f"add '{key}' to every sample")
    messages, fields = _turns(data[key], key, role_key, content_key, ignored)
    system = _text(data, "system", required=False)
    if system is not None and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": system})
        fields.insert(0, "system")
    return messages, fields


def _sharegpt(data: Mapping[str, Any], rec: Record) -> Example:
    return _chat(data, rec, "from", "value")


def _messages(data: Mapping[str, Any], rec: Record) -> Example:
    return _chat(data, rec, "role", "content")


def _chat(data: Mapping[str, Any], rec: Record, role_key: str, content_key: str) -> Example:
    ignored: list[str] = []
    messages, fields = _conversation(data, role_key, content_key, ignored)
    _check_order(messages, fields, "assistant")
    return Example(
        tuple(messages), rec.source, rec.line, fields=tuple(fields), ignored=tuple(dict.fromkeys(ignored)),
        **_sample_extras(data),
    )


def _reply(value: Any, key: str) -> dict[str, Any]:
    """The final reply of a chosen/rejected field (text, a message, or a list ending with it),
    as an assistant message with its reasoning and tool calls."""
    if isinstance(value, list):
        if not value:
            raise _Bad(
                "missing-rejected" if key == "rejected" else "missing-field",
                f"field '{key}' is an empty list",
                f"give '{key}' its reply",
            )
        value = value[-1]
    if isinstance(value, dict):
        role = value.get("role", value.get("from", "assistant"))
        if ROLE_ALIASES.get(str(role).lower()) != "assistant":
            raise _Bad(
                "role-order",
                f"the last message of '{key}' is {_a(str(role))} message, not the assistant's reply",
                _ORDER_HINT,
            )
        content_key = "content" if "content" in value else "value"
        text = value.get(content_key)
        calls_only = text is None and (value.get("tool_calls") or value.get("function_call"))
        return assistant_from("" if calls_only else _content(text, f"{key}.content"), value, key, content_key)
    return assistant_from(_content(value, key), {}, key, key)


def _preference_prompt(data: Mapping[str, Any], ignored: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    prompt = data.get("prompt")
    if isinstance(prompt, list):
        first = next((t for t in prompt if isinstance(t, dict)), {})
        role_key, content_key = ("from", "value") if "from" in first else ("role", "content")
        messages, fields = _turns(prompt, "prompt", role_key, content_key, ignored)
        system = _text(data, "system", required=False)
        if system is not None and not (messages and messages[0]["role"] == "system"):
            messages.insert(0, {"role": "system", "content": system})
            fields.insert(0, "system")
        return messages, fields
    if prompt is not None or _first_key(data, INSTRUCTION_KEYS + INPUT_KEYS):
        messages, fields, _ = _alpaca_prompt(data)
        return messages, fields
    if _first_key(data, CONVERSATION_KEYS):
        turns = data[_first_key(data, CONVERSATION_KEYS)]  # type: ignore[index]
        first = next((t for t in turns if isinstance(t, dict)), {}) if isinstance(turns, list) else {}
        return _conversation(data, *(("from", "value") if "from" in first else ("role", "content")), ignored)
    chosen = data.get("chosen")
    if isinstance(chosen, list) and len(chosen) > 1:  # whole conversations in chosen/rejected
        first = next((t for t in chosen if isinstance(t, dict)), {})
        role_key, content_key = ("from", "value") if "from" in first else ("role", "content")
        messages, fields = _turns(chosen[:-1], "chosen", role_key, content_key, ignored)
        return messages, fields
    raise _Bad("missing-field", "field 'prompt' is missing", "add 'prompt' (or instruction/input) to every sample")


def _preference(data: Mapping[str, Any], rec: Record) -> Example:
    ignored: list[str] = []
    prompt, fields = _preference_prompt(data, ignored)
    if "chosen" not in data or data["chosen"] in (None, ""):
        raise _Bad("missing-field", "field 'chosen' is missing", "give every sample a chosen reply")
    if data.get("rejected") in (None, "", []):
        raise _Bad(
            "missing-rejected",
            "field 'rejected' is missing or empty",
            "give every sample a rejected reply, or train with sft",
        )
    chosen = _reply(data["chosen"], "chosen")
    rejected = _reply(data["rejected"], "rejected")
    messages = [*prompt, chosen]
    names = [*fields, "chosen"]
    _check_order(messages, names, "assistant")
    if chosen == rejected:
        raise _Bad(
            "same-reply", "'chosen' and 'rejected' are the same reply", "a preference pair needs two different replies"
        )
    rejected_messages = (*prompt, rejected)
    return Example(
        tuple(messages), rec.source, rec.line, rejected_messages, fields=tuple(names),
        ignored=tuple(dict.fromkeys(ignored)), **_sample_extras(data),
    )


def _plain_text(data: Mapping[str, Any], rec: Record) -> Example:
    return Example((), rec.source, rec.line, text=_text(data, "text", required=True), fields=("text",))


_CONVERTERS = {
    "alpaca": _alpaca,
    "sharegpt": _sharegpt,
    "messages": _messages,
    "preference": _preference,
    "text": _plain_text,
}
