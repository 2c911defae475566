"""What ``framework render`` shows: token runs with their loss mask and their kind.

A run is a stretch of tokens with the same kind (plain text, reasoning, tool call, tool
result, tool declarations; ``framework.chat.KINDS``) and the same trained/untrained state.
The text view wraps trained runs in ⟦ ⟧ and names non-text kinds at their start, so a reader
sees at a glance that the reasoning is trained (``⟦reasoning: …⟧``), a tool result is not
(``⟨tool_result: …⟩``) and the end-of-turn token is. ``--json`` gives the same runs as token
ranges with their kind, for scripts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from framework.chat import IGNORE_INDEX, KINDS


def runs(labels: Sequence[int], kinds: Sequence[int] | None) -> Iterator[tuple[int, int, str, bool]]:
    """(start, end, kind, trained) for each maximal run of tokens."""
    start = 0
    n = len(labels)
    for i in range(1, n + 1):
        if i < n and (labels[i] != IGNORE_INDEX) == (labels[start] != IGNORE_INDEX) and _kind(kinds, i) == _kind(
            kinds, start
        ):
            continue
        yield start, i, KINDS[_kind(kinds, start)], labels[start] != IGNORE_INDEX
        start = i


def _kind(kinds: Sequence[int] | None, i: int) -> int:
    return kinds[i] if kinds else 0


def spans(ids: Sequence[int], labels: Sequence[int], kinds: Sequence[int] | None) -> list[dict[str, Any]]:
    """The runs as JSON objects: token range ``[start, end)``, ``kind`` and ``trained``."""
    return [{"start": s, "end": e, "kind": k, "trained": t} for s, e, k, t in runs(labels, kinds)]


def marked(tokenizer: Any, ids: Sequence[int], labels: Sequence[int], kinds: Sequence[int] | None = None) -> str:
    """Decoded text with trained runs between ⟦ ⟧ and non-text kinds named, so the mask can be read."""
    out: list[str] = []
    for start, end, kind, trained in runs(labels, kinds):
        text = tokenizer.decode(list(ids[start:end]))
        label = "" if kind == "text" else f"{kind}: "
        if trained:
            out.append(f"⟦{label}{text}⟧")
        elif label:
            out.append(f"⟨{label}{text}⟩")
        else:
            out.append(text)
    return "".join(out)


def in_file_order(train: Any, evaluation: Any) -> list[tuple[dict[str, Any], str]]:
    """Each sample once, in the order of the data files, with the split it went to.

    The training split is shuffled and a mixture repeats samples; rows prepared for render
    keep ``index`` (the sample's place in file order) and ``source`` (``file:line``), so the
    view follows the files. Rows without them (packed pretraining text) keep their order.
    """
    splits = [(train, "train")] + ([(evaluation, "eval")] if evaluation is not None else [])
    rows = [(row, name) for table, name in splits for row in table]
    if not rows or "index" not in rows[0][0]:
        return rows
    seen: dict[int, tuple[dict[str, Any], str]] = {}
    for row, name in rows:
        seen.setdefault(int(row["index"]), (row, name))
    return [seen[i] for i in sorted(seen)]
