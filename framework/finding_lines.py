"""How a run prints the plugins' findings: warnings and errors in full, info in one short line.

A newcomer's first ``framework run`` should show what concerns the run. An info finding is
advice that changes nothing in training (e.g. how to tokenize a prompt at inference), so
``run`` clips it to one line of at most ``BRIEF_WIDTH`` characters; ``framework check``
prints every finding in full (``brief=False``), and the UI shows the full text too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.hookdata import Finding

#: The longest info line ``framework run`` prints.
BRIEF_WIDTH = 100

#: Where a clause ends: a clipped message is cut after one of these when one is near the limit.
_CLAUSE_ENDS = ("; ", ": ", " (", ", ", " - ")


def finding_line(finding: Finding, *, brief: bool) -> str:
    """``[severity] code: message``; an info finding clipped to ``BRIEF_WIDTH`` when ``brief``."""
    line = f"[{finding.severity}] {finding.code}: {finding.message}"
    if not brief or finding.severity != "info" or len(line) <= BRIEF_WIDTH:
        return line
    return _clip(line, BRIEF_WIDTH)


def _clip(line: str, width: int) -> str:
    """Cut ``line`` to ``width`` characters ending in '…': after a clause if one ends in the last
    third of the room, else after a whole word. The details stay in ``framework check``."""
    room = width - 1  # the '…'
    head = line[:room]
    cut = max((head.rfind(end) for end in _CLAUSE_ENDS), default=-1)
    if cut < room * 2 // 3:
        cut = head.rfind(" ")
    return line[: cut if cut > 0 else room].rstrip(" ,;:(-") + "…"
