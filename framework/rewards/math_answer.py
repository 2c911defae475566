"""Mathematical answer equivalence through ``math-verify`` (the ``grpo`` extra).

``math-verify`` parses LaTeX, ``\\boxed{}``, fractions and decimals into sympy and compares
them; it is what TRL's and open-r1's accuracy rewards use. An answer that does not parse is
wrong (0), never an error: a model early in training writes mostly malformed answers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def _parsed(text: str) -> Any:
    from math_verify import parse

    return parse(text)


def equivalent(answer: str, reference: str) -> float:
    """1.0 when ``answer`` equals ``reference`` as mathematics, else 0.0 (unparseable included)."""
    from math_verify import verify

    gold = _parsed(reference)
    if not gold:
        gold = _parsed(f"${reference}$")
    guess = _parsed(answer)
    if not gold or not guess:
        return 0.0
    try:
        return 1.0 if verify(gold, guess) else 0.0
    except Exception:  # noqa: BLE001 - sympy faults on odd input count as a wrong answer
        return 0.0
