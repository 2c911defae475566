"""Checks of reasoning and tool content, and the refusal of content the renderer cannot render.

The conversion (``framework.data.messages``) already took a well-formed leading think block
apart and parsed tool-call arguments; what is left here are the mistakes that would train the
model on something other than what it will see at inference:

- ``think-unbalanced``: a ``<think>`` without ``</think>`` (or the reverse) in a reply;
- ``think-nested``: think tags inside the reasoning itself;
- ``think-not-at-start``: a think block after the reply's first words (templates only read a
  leading one; the model would learn to think mid-answer);
- ``unknown-tool``: a call to a tool the sample's ``tools`` do not declare;
- ``tool-result-without-call``: more tool results than calls, or a ``tool_call_id`` that no
  preceding call has;
- ``empty-reasoning``: a sample with ``enable_thinking: true`` whose last reply has no reasoning.

Each is a ``Problem`` with the sample's file:line: dropped and counted by default, fatal with
``strict``. Samples with and without reasoning mixed in one dataset are a warning with counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from framework.data.formats import Example
from framework.data.messages import THINK_CLOSE, THINK_OPEN, tool_name
from framework.data.problems import Problem
from framework.errors import DataError, PluginError
from framework.hookdata import ChatFeatures, RenderedChat

#: Keys of ``DataReport.content``: samples with each kind of content.
CONTENT_KINDS = ("reasoning", "tool_calls", "tool_results", "tools")


def content_problem(ex: Example) -> Problem | None:
    """The first reasoning or tool problem of a sample, or None."""
    messages = ex.messages
    declared = {tool_name(t) for t in ex.tools} if ex.tools else None
    pending: list[str | None] = []
    for i, message in enumerate(messages):
        role = message["role"]
        if role == "assistant":
            problem = _think_problem(message, ex, ex.field(i))
            if problem is not None:
                return problem
            calls = message.get("tool_calls") or ()
            for j, call in enumerate(calls):
                name = call["function"]["name"]
                if declared is not None and name not in declared:
                    known = ", ".join(sorted(n for n in declared if n)) or "none"
                    return _problem(
                        ex, "unknown-tool",
                        f"messages[{i}].tool_calls[{j}] calls '{name}', which the sample's tools do not declare "
                        f"(declared: {known})",
                        "declare the tool in 'tools' or fix the call's name",
                    )
            pending = [c.get("id") for c in calls]
        elif role == "tool":
            problem = _result_problem(message, pending, ex, i)
            if problem is not None:
                return problem
        else:
            pending = []
    if dict(ex.options).get("enable_thinking") is True:
        last = messages[-1] if messages else {}
        if not str(last.get("reasoning_content", "")).strip():
            return _problem(
                ex, "empty-reasoning",
                "the sample sets enable_thinking but its last reply has no reasoning",
                "give the reply its reasoning, or set enable_thinking to false for an answer without thinking",
            )
    return None


def _problem(ex: Example, code: str, message: str, hint: str) -> Problem:
    return Problem(code, message, ex.source, ex.line, hint)


def _think_problem(message: dict[str, Any], ex: Example, field: str) -> Problem | None:
    reasoning = message.get("reasoning_content", "")
    if THINK_OPEN in reasoning or THINK_CLOSE in reasoning:
        return _problem(
            ex, "think-nested", f"the reasoning of {field} holds think tags itself",
            "write the reasoning once, without <think> tags inside it",
        )
    content = message["content"]
    if THINK_OPEN not in content and THINK_CLOSE not in content:
        return None
    opened, closed = content.count(THINK_OPEN), content.count(THINK_CLOSE)
    if opened != closed:
        return _problem(
            ex, "think-unbalanced", f"{field} has {opened} <think> and {closed} </think> tags",
            "close every <think> block with </think>, at the start of the reply",
        )
    first = content.find(THINK_OPEN)
    if first < 0 or content.find(THINK_CLOSE) < first:
        return _problem(
            ex, "think-unbalanced", f"{field} has </think> before <think>",
            "write the reasoning as <think>...</think> at the start of the reply",
        )
    if opened > 1 and content.find(THINK_OPEN, first + 1) < content.find(THINK_CLOSE):
        return _problem(
            ex, "think-nested", f"{field} has a <think> block inside another",
            "write one think block at the start of the reply",
        )
    return _problem(
        ex, "think-not-at-start", f"{field} has a <think> block after the start of the reply",
        "move the reasoning to the start of the reply (or to reasoning_content)",
    )


def _result_problem(message: dict[str, Any], pending: list[str | None], ex: Example, index: int) -> Problem | None:
    """A tool result must answer one of the calls of the assistant message before it."""
    where = f"messages[{index}]"
    if not pending:
        return _problem(
            ex, "tool-result-without-call",
            f"{where} is a tool result with no call left to answer (more results than calls)",
            "give every tool result a call in the assistant message before it",
        )
    wanted = message.get("tool_call_id")
    ids = [c for c in pending if c is not None]
    if wanted is not None and ids and wanted not in ids:
        return _problem(
            ex, "tool-result-without-call",
            f"{where}.tool_call_id '{wanted}' answers no call before it (calls: {', '.join(ids)})",
            "use the id of the call the result answers",
        )
    pending.remove(wanted if wanted in pending else pending[0])
    return None


def content_flags(ex: Example) -> int:
    """Which content kinds one sample carries, as bits: bit ``i`` is ``CONTENT_KINDS[i]``."""
    flags = 8 if ex.tools else 0  # CONTENT_KINDS[3] == "tools"
    messages = ex.messages if ex.rejected is None else (*ex.messages, ex.rejected[-1])
    rich = [m for m in messages if len(m) > 2 or m["role"] == "tool"]
    if not rich:
        return flags  # plain text turns only: nothing else to count
    if any("reasoning_content" in m for m in rich):
        flags |= 1
    if any("tool_calls" in m for m in rich):
        flags |= 2
    if any(m["role"] == "tool" for m in rich):
        flags |= 4
    return flags


def flag_counts(flags: Iterable[int]) -> dict[str, int]:
    """How many samples carry each content kind, from their ``content_flags`` (kinds none has left out)."""
    tally = Counter(flags)
    counts = {kind: sum(n for f, n in tally.items() if f & (1 << bit)) for bit, kind in enumerate(CONTENT_KINDS)}
    return {k: v for k, v in counts.items() if v}


def content_counts(examples: Iterable[Example]) -> dict[str, int]:
    """How many samples carry reasoning, tool calls, tool results and tool declarations."""
    return flag_counts(map(content_flags, examples))


def mixed_thinking_note(counts: dict[str, int], total: int) -> str | None:
    """A warning when some samples think and others do not, with the counts."""
    thinking = counts.get("reasoning", 0)
    if not thinking or thinking >= total:
        return None
    return (
        f"[warning] mixed thinking: {thinking} samples have reasoning, {total - thinking} have none; a template "
        "that forces one mode trains the others in it (check `framework render`; split the data per mode)"
    )


def refuse_undeclared(examples: Sequence[Example], features: ChatFeatures | None, renderer: str) -> None:
    """Stop on the first sample with reasoning or tool content the renderer does not declare.

    Rendering such a sample would drop the content silently (or crash the template); a
    one-line error names the sample, the content and the renderer instead.
    """
    features = features or ChatFeatures()
    if features.reasoning and features.tools:
        return
    for ex in examples:
        found = undeclared(ex, features)
        if found is not None:
            raise undeclared_error(found, f"{ex.source}:{ex.line}", renderer)


def undeclared_error(found: tuple[str, str], where: str, renderer: str) -> DataError:
    """``refuse_undeclared``'s error for a sample at ``where`` and what ``undeclared`` found in it."""
    what, fix = found
    return DataError(
        f"the sample has {what}, which {renderer} does not render (its chat_features do not declare it)",
        where=where,
        hint=f"{fix}, or use a plugin version or model whose chat template renders it",
    )


def features_note(features: ChatFeatures | None, renderer: str) -> str:
    """One report line: what the renderer renders beyond plain text, with its notes."""
    features = features or ChatFeatures()
    kinds = [k for k, on in (("reasoning", features.reasoning), ("tools", features.tools)) if on]
    line = f"{renderer} renders {' and '.join(kinds) or 'plain text only (no reasoning, no tools)'}"
    return line + (f" ({'; '.join(features.notes)})" if features.notes else "")


def undeclared(ex: Example, features: ChatFeatures) -> tuple[str, str] | None:
    """What of the sample the renderer does not declare, with the fix; None when nothing."""
    messages = ex.messages if ex.rejected is None else (*ex.messages, ex.rejected[-1])
    for i, message in enumerate(messages):
        where = ex.field(i) if i < len(ex.messages) else "rejected"
        if not features.reasoning and "reasoning_content" in message:
            return f"reasoning ({where})", "remove the reasoning from the data"
        if not features.tools and "tool_calls" in message:
            return f"tool calls ({where})", "remove tool calls and tool messages from the data"
        if not features.tools and message["role"] == "tool":
            return f"a tool result ({where})", "remove tool calls and tool messages from the data"
    if not features.tools and ex.tools:
        return "tool declarations (field 'tools')", "remove the 'tools' field from the data"
    return None


def check_reasoning_marked(ex: Example, rendered: RenderedChat, renderer: str) -> None:
    """Masking reasoning needs the renderer to mark it: a last reply's reasoning (which every
    template keeps) rendered without a ``kind="reasoning"`` segment would be trained silently."""
    last = ex.messages[-1] if ex.messages else {}
    if "reasoning_content" not in last or any(s.kind == "reasoning" for s in rendered.segments):
        return
    raise PluginError(
        f"{renderer} rendered the reasoning of {ex.source}:{ex.line} without marking it as reasoning "
        "(Segment.kind), so data.train_on_reasoning=false cannot mask it; report this to the plugin's authors "
        "or train with data.train_on_reasoning=true"
    )
