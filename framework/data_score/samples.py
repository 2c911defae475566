"""The samples to score: each conversation's prompt (rendered by the family's template) and reply.

The data is read with the training pipeline's own readers and converters, so every format
``framework run`` accepts is scored, each sample keeps its file:line, and the record as read
is kept for the filtered copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from framework.errors import DataError


@dataclass(frozen=True)
class Sample:
    source: str
    line: int
    record: dict[str, Any]  # the record as read, written back unchanged by --keep / --min-score
    prompt_text: str  # the user-visible prompt (for language and length signals)
    rendered_prompt: str  # what the model sees before the reply
    reply: str


def _reply_text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if not content and message.get("tool_calls"):
        return json.dumps(message["tool_calls"], ensure_ascii=False)
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def read_samples(paths: Sequence[str], render_prompt: Callable[..., Any]) -> tuple[list[Sample], list[Any]]:
    """Every sample with a final assistant reply, in file order, and the records that could not be
    converted (``framework.data.Problem``: reported, not scored); refuses data without replies."""
    from framework.data.formats import detect_format, to_examples
    from framework.data.records import read_records

    samples: list[Sample] = []
    unread: list[Any] = []
    for path in paths:
        records = read_records(path)
        fmt = detect_format(records)
        if fmt == "text":
            raise DataError("plain text has no replies to score", where=path,
                            hint="score instruction data (alpaca, sharegpt, messages, preference)")
        examples, problems = to_examples(records, fmt)
        unread.extend(problems)
        by_line = {(r.source, r.line): r.data for r in records}
        for ex in examples:
            last = ex.messages[-1] if ex.messages else {}
            if last.get("role") != "assistant":
                continue
            head = list(ex.messages[:-1])
            rendered = render_prompt(head, list(ex.tools) if ex.tools else None, dict(ex.options) or None)
            prompt_text = "\n".join(str(m.get("content") or "") for m in head if m.get("role") != "system")
            samples.append(Sample(ex.source, ex.line, by_line[(ex.source, ex.line)], prompt_text, rendered.text,
                                  _reply_text(last)))
    if not samples:
        raise DataError("no sample ends with an assistant reply", where=", ".join(paths),
                        hint="data score needs instruction/reply pairs")
    return samples, unread
