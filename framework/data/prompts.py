"""Prompt data for online RL (``--stage grpo``): prompts to sample from, and the references rewards read.

A record is one prompt, given as

- ``messages`` (OpenAI style; a last assistant message is the reference reply and is dropped
  from the prompt, kept as ``reference`` unless the record has one),
- ``instruction`` (alpaca; ``input`` appended after a blank line, ``system`` kept), or
- ``prompt`` (a string, one user turn),

and every other field is a *reference column* handed to the reward functions by name
(``answer``, ``solution``, ``tests``, ...): numbers and booleans as strings, lists and objects
as JSON, a field a record lacks as ``None``. The prompt is rendered here by the family
plugin's template with the generation prompt, so TRL samples exactly where inference would;
TRL tokenizes the string with the tokenizer's special tokens, so BOS text the template already
wrote is taken off (as for DPO).

A record that is not one of these shapes stops the run with its file:line (no silent drops:
a prompt set is small and every prompt matters); a prompt longer than ``data.cutoff_len``
tokens is dropped and counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from framework.data.records import read_records
from framework.errors import DataError

PROMPT_FIELDS = ("messages", "instruction", "input", "system", "prompt")
_ROLES = ("system", "user", "assistant", "tool")


@dataclass
class PromptData:
    """The prompt table (``prompt`` plus the reference columns) and what reading it found."""

    rows: Any
    columns: list[str]
    read: int = 0
    too_long: int = 0
    bos_stripped: int = 0
    first_file: str = ""
    notes: list[str] = field(default_factory=list)

    # the shape of PreparedData, so ``framework check`` reports prompt data like any other
    @property
    def train(self) -> Any:
        return self.rows

    eval = None

    @property
    def report(self) -> PromptData:
        return self

    @property
    def sample_texts(self) -> list[str]:
        return list(self.rows["prompt"][:2000])

    def lines(self) -> list[str]:
        refs = ", ".join(self.columns) or "none"
        out = [f"data: {self.read} prompts read from {self.first_file} (prompts), {len(self.rows)} kept; "
               f"reference columns: {refs}"]
        if self.too_long:
            out.append(f"[warning] data: {self.too_long} prompts longer than data.cutoff_len dropped")
        return out


def _where(record: Any) -> str:
    return f"{record.source}:{record.line}"


def _messages(record: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The prompt's messages and, for a conversation ending with a reply, that reply."""
    data = record.data
    if "messages" in data:
        raw = data["messages"]
        if not isinstance(raw, list) or not raw:
            raise DataError("messages must be a non-empty list", where=_where(record),
                            hint='e.g. "messages": [{"role": "user", "content": "..."}]')
        messages = []
        for i, message in enumerate(raw):
            if not isinstance(message, dict) or message.get("role") not in _ROLES \
                    or not isinstance(message.get("content"), str):
                raise DataError(f"messages[{i}] needs a role ({', '.join(_ROLES)}) and a string content",
                                where=_where(record), hint="fix that message")
            messages.append({"role": message["role"], "content": message["content"]})
        reply = None
        if messages[-1]["role"] == "assistant":
            reply = messages.pop()["content"]
        if not messages or messages[-1]["role"] not in ("user", "tool"):
            raise DataError("the prompt must end with a user (or tool) message", where=_where(record),
                            hint="GRPO samples the assistant's reply; end messages with the question")
        return messages, reply
    if "instruction" in data:
        text = data["instruction"]
        extra = data.get("input")
        if not isinstance(text, str) or not text.strip():
            raise DataError("instruction is empty or not a string", where=_where(record), hint="give the question")
        if isinstance(extra, str) and extra.strip():
            text = f"{text}\n\n{extra}"
        system = data.get("system")
        head = [{"role": "system", "content": system}] if isinstance(system, str) and system.strip() else []
        return [*head, {"role": "user", "content": text}], None
    if isinstance(data.get("prompt"), str) and data["prompt"].strip():
        return [{"role": "user", "content": data["prompt"]}], None
    raise DataError(f"no prompt in this record (fields: {', '.join(sorted(data)) or 'none'})", where=_where(record),
                    hint="give messages, instruction or prompt, and the reference (e.g. answer) beside it")


def _cell(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def prepare_prompts(
    paths: Sequence[str | Path],
    tokenizer: Any,
    render_prompt: Callable[[list[dict[str, Any]]], Any],
    *,
    cutoff_len: int,
    max_samples: int | None = None,
) -> PromptData:
    """Read, check and render the prompts; keep every other field as a reference column."""
    records = [r for path in paths for r in read_records(path)]
    if max_samples is not None:
        records = records[:max_samples]
    if not records:
        raise DataError("no records in the prompt data", where=", ".join(str(p) for p in paths),
                        hint="give a JSONL file with one prompt per line")
    head = _bos_text(tokenizer)
    prompts: list[str] = []
    refs: list[dict[str, Any]] = []
    columns: dict[str, None] = {}
    too_long = stripped = 0
    for record in records:
        messages, reply = _messages(record)
        text = render_prompt(messages).text
        if head and text.startswith(head):
            text, stripped = text[len(head):], stripped + 1
        if len(tokenizer(text)["input_ids"]) > cutoff_len:
            too_long += 1
            continue
        row = {k: _cell(v) for k, v in record.data.items() if k not in PROMPT_FIELDS}
        if reply is not None and "reference" not in row:
            row["reference"] = reply
        for key in row:
            if key == "prompt":
                continue
            columns.setdefault(key, None)
        prompts.append(text)
        refs.append(row)
    if not prompts:
        raise DataError(f"every prompt is longer than data.cutoff_len={cutoff_len} tokens", where=str(paths[0]),
                        hint="raise --cutoff-len or shorten the prompts")
    from datasets import Dataset

    table = {"prompt": prompts, **{c: [r.get(c) for r in refs] for c in columns}}
    return PromptData(Dataset.from_dict(table), list(columns), len(records), too_long, stripped,
                      first_file=records[0].source)


def _bos_text(tokenizer: Any) -> str:
    """The text the tokenizer's own special tokens put before every text (BOS), or ""."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start:start + len(plain)] == plain:
            return tokenizer.decode(full[:start]) if start else ""
    return ""
