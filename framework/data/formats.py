"""Dataset formats: recognise one from its field names and turn records into conversations.

Five formats cover what fine-tuning data is published in:

- ``alpaca``: ``instruction`` / ``input`` / ``output`` (+ ``system``, ``history`` as
  ``[[question, answer], ...]``); ``question``/``query``/``prompt`` and ``response``/``answer``/
  ``completion`` are accepted as the same fields.
- ``sharegpt``: ``conversations`` of ``{"from", "value"}`` with ``human``/``gpt``/``system``
  (``user``/``assistant`` too), optional top-level ``system``.
- ``messages``: OpenAI style ``messages`` of ``{"role", "content"}``.
- ``preference``: ``prompt`` (text or messages) or ``instruction``/``input``, with ``chosen``
  and ``rejected`` as text or messages.
- ``text``: ``text`` (continued pre-training).

A record that cannot become a valid conversation gives a ``Problem`` (dropped and counted, or
fatal with ``strict``); only an unrecognisable dataset is an error here. Conversion is plain
dict work, no validation library: it runs once per sample on hundreds of thousands of samples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

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
}

_FORMAT_HELP = (
    "alpaca (instruction/input/output), sharegpt (conversations of from/value), messages (role/content), "
    "preference (prompt/chosen/rejected) or text (text)"
)
_ORDER_HINT = (
    "a conversation is an optional system message, then user and assistant messages taking turns, "
    "ending with the assistant's reply"
)


@dataclass(frozen=True, slots=True)
class Example:
    """A validated sample.

    ``messages`` is an optional system message, then user/assistant messages taking turns,
    ending with the assistant (empty for the ``text`` format). ``rejected`` is the same
    conversation with the rejected reply (preference data). ``fields`` names the record field
    each message came from, for messages that point the user at the right place.
    """

    messages: tuple[dict[str, str], ...]
    source: str
    line: int
    rejected: tuple[dict[str, str], ...] | None = None
    text: str | None = None
    fields: tuple[str, ...] = ()

    def field(self, index: int) -> str:
        """The record field message ``index`` came from."""
        return self.fields[index] if index < len(self.fields) else f"messages[{index}]"


class _Bad(Exception):
    """A record that cannot be converted; carries the problem (internal control flow)."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        self.code, self.message, self.hint = code, message, hint


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
) -> tuple[list[Example], list[Problem]]:
    """Convert records to examples; records that cannot be converted become problems.

    Args:
        records: raw records from ``read_records``.
        fmt: their format (``detect_format``).
        task_system_prompts: system prompt per value of a record's ``task`` field, so one
            model can learn several tasks told apart by their system prompt. A record's own
            system message wins over its task's.
    """
    convert = _CONVERTERS[fmt]
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
        examples.append(example)
    return examples, problems


# ──────────────────────────────────────────────────────────────────────────────────────────


def _type_name(value: Any) -> str:
    return {str: "text", int: "a number", float: "a number", bool: "true/false", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )


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


def _turns(turns: Any, key: str, role_key: str, content_key: str) -> tuple[list[dict[str, str]], list[str]]:
    """Messages and their field names from a list of turn objects."""
    if not isinstance(turns, list):
        raise _Bad(
            "wrong-type",
            f"field '{key}' is {_type_name(turns)}, not a list of messages",
            f"write '{key}' as a JSON list",
        )
    messages: list[dict[str, str]] = []
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
        mapped = ROLE_ALIASES.get(role.lower()) if isinstance(role, str) else None
        if mapped is None:
            raise _Bad(
                "unknown-role",
                f"{name}.{role_key} is '{role}', not a known role",
                "use system, user or assistant (human and gpt also work); tool messages are not supported",
            )
        messages.append({"role": mapped, "content": _content(turn.get(content_key), f"{name}.{content_key}")})
        fields.append(f"{name}.{content_key}")
    return messages, fields


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeio" else f"a {word}"  # "a user"


def _check_order(messages: list[dict[str, str]], fields: list[str], last: str) -> None:
    """Optional system first, then user/assistant taking turns, ending with ``last``."""
    if not messages or (len(messages) == 1 and messages[0]["role"] == "system"):
        raise _Bad("missing-field", "the sample has no user or assistant message", _ORDER_HINT)
    start = 1 if messages[0]["role"] == "system" else 0
    for i in range(start, len(messages)):
        expected = "user" if (i - start) % 2 == 0 else "assistant"
        role = messages[i]["role"]
        if role != expected:
            raise _Bad(
                "role-order", f"{fields[i]} is {_a(role)} message where {_a(expected)} message belongs", _ORDER_HINT
            )
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
    return Example(system + example.messages, example.source, example.line, rejected, None, ("task", *example.fields))


_ALPACA_FIELDS = ("instruction", "output")
_ALPACA_SYSTEM_FIELDS = ("system", "instruction", "output")


def _alpaca_prompt(data: Mapping[str, Any]) -> tuple[list[dict[str, str]], list[str], str]:
    """System, history and the user message of an alpaca record (and the instruction key)."""
    key = _first_key(data, INSTRUCTION_KEYS) or "instruction"
    instruction = _text(data, key, required=False)
    input_key = _first_key(data, INPUT_KEYS)
    extra = _text(data, input_key, required=False) if input_key else None
    if instruction is None and extra is None:
        raise _Bad("missing-field", f"field '{key}' is missing", f"add '{key}' to every sample")
    user = f"{instruction}\n{extra}" if instruction and extra else (instruction or extra or "")
    messages: list[dict[str, str]] = []
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


def _alpaca(data: Mapping[str, Any], rec: Record) -> Example:
    if "history" not in data:  # the common case, kept cheap
        key = _first_key(data, INSTRUCTION_KEYS) or "instruction"
        instruction = data.get(key)
        input_key = _first_key(data, INPUT_KEYS)
        extra = data.get(input_key) if input_key else None
        if type(instruction) is str and (extra is None or extra == ""):
            out_key = _first_key(data, OUTPUT_KEYS) or "output"
            output = data.get(out_key)
            system = data.get("system")
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
    messages.append({"role": "assistant", "content": output or ""})
    fields.append(out_key)
    return Example(tuple(messages), rec.source, rec.line, fields=tuple(fields))


def _conversation(data: Mapping[str, Any], role_key: str, content_key: str) -> tuple[list[dict[str, str]], list[str]]:
    key = _first_key(data, CONVERSATION_KEYS) or "messages"
    if key not in data:
        raise _Bad("missing-field", f"field '{key}' is missing", f"add '{key}' to every sample")
    messages, fields = _turns(data[key], key, role_key, content_key)
    system = _text(data, "system", required=False)
    if system is not None and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": system})
        fields.insert(0, "system")
    return messages, fields


def _sharegpt(data: Mapping[str, Any], rec: Record) -> Example:
    messages, fields = _conversation(data, "from", "value")
    _check_order(messages, fields, "assistant")
    return Example(tuple(messages), rec.source, rec.line, fields=tuple(fields))


def _messages(data: Mapping[str, Any], rec: Record) -> Example:
    messages, fields = _conversation(data, "role", "content")
    _check_order(messages, fields, "assistant")
    return Example(tuple(messages), rec.source, rec.line, fields=tuple(fields))


def _reply(value: Any, key: str) -> str:
    """The final reply of a chosen/rejected field: text, a message, or a list ending with it."""
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
        value = value.get("content", value.get("value"))
        return _content(value, f"{key}.content")
    return _content(value, key)


def _preference_prompt(data: Mapping[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    prompt = data.get("prompt")
    if isinstance(prompt, list):
        first = next((t for t in prompt if isinstance(t, dict)), {})
        role_key, content_key = ("from", "value") if "from" in first else ("role", "content")
        messages, fields = _turns(prompt, "prompt", role_key, content_key)
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
        return _conversation(data, *(("from", "value") if "from" in first else ("role", "content")))
    chosen = data.get("chosen")
    if isinstance(chosen, list) and len(chosen) > 1:  # whole conversations in chosen/rejected
        first = next((t for t in chosen if isinstance(t, dict)), {})
        role_key, content_key = ("from", "value") if "from" in first else ("role", "content")
        messages, fields = _turns(chosen[:-1], "chosen", role_key, content_key)
        return messages, fields
    raise _Bad("missing-field", "field 'prompt' is missing", "add 'prompt' (or instruction/input) to every sample")


def _preference(data: Mapping[str, Any], rec: Record) -> Example:
    prompt, fields = _preference_prompt(data)
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
    messages = [*prompt, {"role": "assistant", "content": chosen}]
    names = [*fields, "chosen"]
    _check_order(messages, names, "assistant")
    if chosen == rejected:
        raise _Bad(
            "same-reply", "'chosen' and 'rejected' are the same reply", "a preference pair needs two different replies"
        )
    rejected_messages = (*prompt, {"role": "assistant", "content": rejected})
    return Example(tuple(messages), rec.source, rec.line, rejected_messages, fields=tuple(names))


def _plain_text(data: Mapping[str, Any], rec: Record) -> Example:
    return Example((), rec.source, rec.line, text=_text(data, "text", required=True), fields=("text",))


_CONVERTERS = {
    "alpaca": _alpaca,
    "sharegpt": _sharegpt,
    "messages": _messages,
    "preference": _preference,
    "text": _plain_text,
}
