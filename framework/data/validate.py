"""Data quality checks run before any token is spent on a sample.

The checklist of practice notes (seed 003 §3.2: no HTML tags or stray control characters, no
empty outputs, valid JSON, instruction and output that belong together, nothing over the
length limit) plus duplicates within a source: an exact copy, or a copy that differs only in
spacing or Unicode width (``framework.data.dedupe``), trains the model on the same sample twice
and inflates an eval split with samples the model has seen; ``data.dedupe`` says which of them
go. Reasoning and tool content get their own checks
(``framework.data.content_checks``). Bad samples are dropped and counted by default; ``strict`` stops
at the first one with its ``file:line``. Every check is a string scan or a hash, so 100k
samples take well under a second.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from framework.data.content_checks import content_flags, content_problem, flag_counts, mixed_thinking_note
from framework.data.dedupe import DEDUPE_MODES, Deduper, across_note, drops, kept_note, near_key
from framework.data.formats import Example
from framework.data.problems import Problem
from framework.errors import DataError

__all__ = ["DataReport", "Problem", "SampleFacts", "judge", "raise_if_empty", "sample_facts", "sample_problem", "validate"]

#: How many problems of each code the report keeps as examples.
EXAMPLES_PER_CODE = 3

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_HTML = re.compile(
    r"</?(?:a|b|i|p|br|hr|div|span|img|font|table|tbody|thead|tr|td|th|ul|ol|li|h[1-6]|html|head|body|"
    r"script|style|strong|em|iframe|center|section|article|nav|footer|header)\b[^<>]{0,300}>"
    r"|&(?:nbsp|lt|gt|amp|quot|apos|#\d{1,7}|#x[0-9a-f]{1,6});",
    re.IGNORECASE,
)
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)


@dataclass
class DataReport:
    """What happened to the data: counts per problem, truncation, and a few examples.

    ``dropped`` counts samples per problem code; ``examples`` keeps the first few problems of
    each code with their ``file:line`` so the user can look at them.
    """

    format: str = ""
    files: list[str] = field(default_factory=list)
    read: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    truncated: int = 0
    too_long: int = 0
    examples: list[Problem] = field(default_factory=list)
    special_text: int = 0
    eval: int = 0
    cutoff_len: int | None = None
    mixture: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    content: dict[str, int] = field(default_factory=dict)
    #: wall seconds this process spent preparing the data, and with how many processes; None when
    #: the data came from the cache (a stored rate would be stale). Not part of equality.
    prepared_s: float | None = field(default=None, compare=False)
    num_proc: int | None = field(default=None, compare=False)
    #: which encoder tokenized, e.g. ``tiktoken (checked on 512 samples)``; not part of equality.
    encoder: str | None = field(default=None, compare=False)

    def add(self, problem: Problem) -> None:
        """Count a dropped sample, keeping the first few of each kind as examples."""
        count = self.dropped.get(problem.code, 0) + 1
        self.dropped[problem.code] = count
        if count <= EXAMPLES_PER_CODE:
            self.examples.append(problem)

    @property
    def dropped_total(self) -> int:
        """Samples dropped for any reason."""
        return sum(self.dropped.values())

    def summary(self) -> str:
        """``duplicate 3, empty-output 1`` (most frequent first)."""
        return ", ".join(f"{code} {n}" for code, n in sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])))

    def lines(self) -> list[str]:
        """Human-readable lines for the run log and ``framework plan``."""
        files = self.files[0] if len(self.files) == 1 else f"{len(self.files)} files"
        out = [f"data: {files} ({self.format}): read {self.read}, kept {self.kept}, dropped {self.dropped_total}"]
        if self.content:
            out.append("  samples with " + ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in self.content.items()))
        if self.dropped:
            out.append(f"  dropped: {self.summary()}")
        if self.truncated:
            out.append(f"  truncated to {self.cutoff_len} tokens: {self.truncated}")
        if self.too_long:
            out.append(f"  over {self.cutoff_len} tokens: {self.too_long}")
        if self.special_text:
            out.append(f"  samples with control-token text kept as plain text: {self.special_text}")
        if self.eval:
            out.append(f"  held out for evaluation: {self.eval}")
        if self.mixture:
            out.append("  mixture: " + ", ".join(f"{name} {n}" for name, n in self.mixture.items()))
        out.extend(f"  {note}" for note in self.notes)
        if self.prepared_s is not None:
            rate = f"{self.read / self.prepared_s:,.0f}" if self.prepared_s > 0 else "-"
            encoder = f", encoder {self.encoder}" if self.encoder else ""
            out.append(f"  prepared in {self.prepared_s:.1f} s: {rate} samples/s (data.num_proc {self.num_proc}){encoder}")
        out.extend(f"  e.g. {p.text()}" for p in self.examples)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored beside cached data)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataReport:
        """Inverse of ``to_dict``."""
        data = dict(data)
        data["examples"] = [Problem(**p) for p in data.get("examples", [])]
        return cls(**data)


class SampleFacts(NamedTuple):
    """What judging a sample needs to know of it, found wherever the sample is.

    ``judge`` decides from these alone, so a preparing worker can find them for the samples it
    holds and send them instead of the samples. ``exact`` and ``near`` are Python hashes (64
    bits, the same in forked processes, which inherit the hash seed): two different samples share
    one with odds under 3e-8 for a million samples, the price of not keeping every text in one
    process. Both are None when the sample has a ``problem``."""

    problem: Problem | None
    exact: int | None
    near: int | None
    source: str
    line: int
    content: int  # ``framework.data.content_checks.content_flags``


def sample_facts(ex: Example) -> SampleFacts:
    """The facts of one sample (``SampleFacts``)."""
    problem = sample_problem(ex)
    if problem is not None:
        return SampleFacts(problem, None, None, ex.source, ex.line, 0)
    return SampleFacts(None, hash(_exact_key(ex)), near_key(_near_parts(ex)), ex.source, ex.line, content_flags(ex))


def validate(
    examples: Sequence[Example],
    *,
    strict: bool,
    problems: Sequence[Problem] = (),
    report: DataReport | None = None,
    dedupe: str = "exact",
    sources: Sequence[int] | None = None,
) -> tuple[list[Example], DataReport]:
    """Drop bad samples and count them; with ``strict`` raise on the first problem.

    Args:
        examples: converted samples.
        strict: raise ``DataError`` naming the first problem instead of dropping.
        problems: problems found earlier (conversion); they are counted and, with
            ``strict``, raised first.
        report: a report to add to (a new one otherwise).
        dedupe: ``data.dedupe``: exact (drop exact duplicates, report near ones), near (drop
            both) or off (keep and report both).
        sources: the source (``--data`` path) of each example; duplicates are only looked for
            within a source. None: one source.

    Raises:
        DataError: with ``strict``, on the first problem; always when nothing is left.
    """
    report = report if report is not None else DataReport(read=len(examples) + len(problems))
    kept = judge([sample_facts(ex) for ex in examples], strict=strict, problems=problems, report=report,
                 dedupe=dedupe, sources=sources)
    return [examples[i] for i in kept], report


def judge(
    facts: Sequence[SampleFacts],
    *,
    strict: bool,
    problems: Sequence[Problem],
    report: DataReport,
    dedupe: str = "exact",
    sources: Sequence[int] | None = None,
) -> list[int]:
    """``validate`` on the samples' facts, in file order: the indices of the samples kept.

    Everything that depends on more than one sample (repeats, counts, the notes) is decided
    here, in one process; ``sample_facts`` holds what each sample says by itself."""
    for problem in problems:
        if strict:
            raise_problem(problem)
        report.add(problem)
    if dedupe not in DEDUPE_MODES:
        raise ValueError(f"dedupe must be one of {DEDUPE_MODES}, not {dedupe!r}")
    kept: list[int] = []
    seen = Deduper()
    repeats_kept: dict[str, list[str]] = {}
    flags: list[int] = []
    for index, fact in enumerate(facts):
        problem = fact.problem
        if problem is None:
            repeat = seen.check(fact, sources[index] if sources is not None else 0)
            if repeat is not None:
                first = f"{repeat.first.source}:{repeat.first.line}"
                if drops(dedupe, repeat.kind):
                    how = "" if repeat.kind == "duplicate" else " up to spacing and Unicode width"
                    hint = "remove one of them, or set data.dedupe=" + ("off" if repeat.kind == "duplicate" else "exact")
                    problem = Problem(repeat.kind, f"the sample repeats {first}{how}", fact.source, fact.line,
                                      hint + " to keep repeats on purpose")
                else:
                    repeats_kept.setdefault(repeat.kind, []).append(f"{fact.source}:{fact.line} repeats {first}")
        if problem is None:
            kept.append(index)
            flags.append(fact.content)
            continue
        if strict:
            raise_problem(problem)
        report.add(problem)
    for kind, where in repeats_kept.items():
        report.notes.append(kept_note(kind, len(where), where[0], dedupe))
    if seen.repeated_across:
        report.notes.append(across_note(seen.repeated_across, seen.across_example))
    report.kept = len(kept)
    raise_if_empty(report)
    report.content = flag_counts(flags)
    note = mixed_thinking_note(report.content, len(kept))
    if note is not None:
        report.notes.append(note)
    return kept


def sample_problem(ex: Example) -> Problem | None:
    """What is wrong with one sample by itself (text, reasoning and tool checks; repeats are
    ``validate``'s business), or None."""
    problem = _content_problem(ex)
    if problem is None and ex.text is None and _rich(ex):
        problem = content_problem(ex)
    return problem


def raise_problem(problem: Problem) -> None:
    """Stop the run on a problem (strict mode)."""
    hint = problem.hint or "fix the sample"
    raise DataError(
        f"{problem.code}: {problem.message}",
        where=problem.where,
        hint=f"{hint.rstrip('.')}; without strict checking such samples are dropped and counted",
    )


def raise_if_empty(report: DataReport) -> None:
    """Nothing left to train on is an error that says why."""
    if report.kept > 0:
        return
    first = report.examples[0].text() if report.examples else "none"
    raise DataError(
        f"no usable samples: all {report.read} were dropped ({report.summary() or 'none read'})",
        where=report.files[0] if len(report.files) == 1 else None,
        hint=f"fix the data; first problem: {first}",
    )


def _rich(ex: Example) -> bool:
    """The sample has reasoning, tool or think-tag content for ``content_problem`` to check."""
    if ex.tools or ex.options:
        return True
    for m in ex.messages:
        if len(m) > 2 or "think>" in m["content"]:
            return True
    return False


def _content_problem(ex: Example) -> Problem | None:
    if ex.text is not None:
        return _text_problem(ex.text, ex, "text", "empty-text")
    for i, message in enumerate(ex.messages):
        if len(message) == 2:  # role and content: the common case, kept cheap
            role = message["role"]
            code = "empty-output" if role == "assistant" else "empty-prompt" if role == "user" else None
            problem = _text_problem(message["content"], ex, ex.field(i), code)
        else:
            problem = _message_problem(message, ex, ex.field(i), "empty-output")
        if problem is not None:
            return problem
    if ex.rejected is not None:
        return _message_problem(ex.rejected[-1], ex, "rejected", "missing-rejected")
    return None


def _message_problem(message: dict[str, Any], ex: Example, name: str, empty_reply: str) -> Problem | None:
    """Text checks of one message: its content, and its reasoning when it has one.

    A reply that only calls tools may have no text; a tool result may be empty.
    """
    role = message["role"]
    code = empty_reply if role == "assistant" else "empty-prompt" if role == "user" else None
    if code == empty_reply and "tool_calls" in message:
        code = None
    problem = _text_problem(message["content"], ex, name, code)
    if problem is None and "reasoning_content" in message:
        problem = _text_problem(message["reasoning_content"], ex, f"{name} (reasoning)", None)
    return problem


def _text_problem(text: str, ex: Example, name: str, empty_code: str | None) -> Problem | None:
    if empty_code is not None and (not text or text.isspace()):
        return Problem(
            empty_code, f"field '{name}' is empty", ex.source, ex.line, "write the text or remove the sample"
        )
    bad = _CONTROL.search(text)
    if bad is not None:
        char = bad.group()
        what = (
            "a replacement character (text garbled by a wrong encoding)"
            if char == "\ufffd"
            else f"control character {char!r}"
        )
        return Problem("html-or-control", f"field '{name}' contains {what}", ex.source, ex.line, "clean the text")
    if "<" in text or "&" in text:
        plain = _CODE.sub("", text) if "`" in text else text
        tag = _HTML.search(plain)
        if tag is not None:
            return Problem(
                "html-or-control",
                f"field '{name}' contains HTML markup {tag.group()[:40]!r} outside code",
                ex.source,
                ex.line,
                "strip scraped markup (put real code between backticks)",
            )
    return None


def _exact_key(ex: Example) -> Any:
    if ex.text is not None:
        return ex.text
    key = tuple((m["role"], m["content"]) if len(m) == 2 else _message_key(m) for m in ex.messages)
    key = key if ex.tools is None else (key, _json(ex.tools))
    return key if ex.rejected is None else (key, _message_key(ex.rejected[-1]))


def _message_key(message: dict[str, Any]) -> Any:
    """Everything a message carries, hashable (reasoning and tool calls make samples differ)."""
    return tuple(sorted((k, v if isinstance(v, str) else _json(v)) for k, v in message.items()))


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _near_parts(ex: Example) -> list[str]:
    """Everything a sample says, part by part, for the near-duplicate key (``dedupe.fold``)."""
    if ex.text is not None:
        return [ex.text]
    messages = ex.messages if ex.rejected is None else (*ex.messages, ex.rejected[-1])
    parts = [part for m in messages for part in ((m["role"], m["content"]) if len(m) == 2 else (_json(m),))]
    if ex.tools is not None:
        parts.append(_json(ex.tools))
    return parts
