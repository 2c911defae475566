"""The core's reward functions, offered through the same hook as any plugin's (``reward_functions``).

=============  =============================================================================
``format``     1 when the completion's reasoning block is well formed (one opening and one
               closing marker, in order, the reasoning and an answer after it non-empty),
               else 0. The markers are the family's (``grpo.reasoning_tags``, detected from
               the template when empty); a prompt whose template already opens the block
               (thinking pre-fill) needs only the closing marker.
``exact_match``  1 when the answer (the text after the reasoning block, stripped) equals the
               reference ``answer`` (or ``solution``) column, else 0.
``math``       1 when the answer is mathematically equal to the reference (``math-verify``:
               fractions, decimals, LaTeX, ``\\boxed{}``), 0 when not or when either side does
               not parse. Needs the grpo extra (framework/extras.py).
``length``     ``-|tokens - grpo.length_target| / grpo.length_target``, floored at -1: 0 at the
               target, lower away from it.
=============  =============================================================================
"""

from __future__ import annotations

import re
from typing import Any

from framework.hookspecs import hookimpl
from framework.hookdata import RewardFunction

DEFAULT_TAGS = ("<think>", "</think>")
REFERENCE_COLUMNS = ("answer", "solution")


def _tags(config: Any) -> tuple[str, str]:
    tags = getattr(getattr(config, "grpo", None), "reasoning_tags", None)
    return (tags[0], tags[1]) if tags else DEFAULT_TAGS


def split_reasoning(completion: str, prompt: str, tags: tuple[str, str]) -> tuple[str | None, str, bool]:
    """``(reasoning or None, answer, well_formed)`` of a completion.

    The prompt counts as having opened the block when it ends with the opening marker.
    """
    opening, closing = tags
    text = completion
    prefilled = prompt.rstrip().endswith(opening)
    if prefilled:
        text = opening + text
    if opening not in text and closing not in text:
        return None, completion.strip(), False
    if text.count(opening) != 1 or text.count(closing) != 1:
        return None, text.rsplit(closing, 1)[-1].strip(), False
    head, _, rest = text.partition(opening)
    reasoning, _, answer = rest.partition(closing)
    ordered = closing in rest
    well = ordered and not head.strip() and bool(reasoning.strip()) and bool(answer.strip())
    return reasoning.strip(), answer.strip(), well


def _reference(kwargs: dict[str, Any], count: int) -> list[Any]:
    for column in REFERENCE_COLUMNS:
        if column in kwargs:
            return list(kwargs[column])
    return [None] * count


def make_rewards(config: Any) -> dict[str, RewardFunction]:
    tags = _tags(config)
    target = int(getattr(getattr(config, "grpo", None), "length_target", 0) or 0) or 64

    def format_reward(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
        return [1.0 if split_reasoning(c, p, tags)[2] else 0.0 for p, c in zip(prompts, completions)]

    def exact_match(prompts: list[str], completions: list[str], **kwargs: Any) -> list[float | None]:
        refs = _reference(kwargs, len(completions))
        out: list[float | None] = []
        for p, c, ref in zip(prompts, completions, refs):
            out.append(None if ref is None else float(split_reasoning(c, p, tags)[1] == str(ref).strip()))
        return out

    def math_equal(prompts: list[str], completions: list[str], **kwargs: Any) -> list[float | None]:
        from framework.rewards.math_answer import equivalent

        refs = _reference(kwargs, len(completions))
        return [None if ref is None else equivalent(split_reasoning(c, p, tags)[1], str(ref))
                for p, c, ref in zip(prompts, completions, refs)]

    def length(prompts: list[str], completions: list[str], completion_ids: list[list[int]] | None = None,
               **_: Any) -> list[float]:
        sizes = [len(ids) for ids in completion_ids] if completion_ids is not None else [len(c) for c in completions]
        return [max(-1.0, -abs(n - target) / target) for n in sizes]

    return {
        "format": RewardFunction(format_reward, f"1 when the completion's {tags[0]}…{tags[1]} block and an answer after "
                                 "it are well formed, else 0"),
        "exact_match": RewardFunction(exact_match, "1 when the answer after the reasoning equals the answer/solution "
                                      "column, else 0", columns=REFERENCE_COLUMNS),
        "math": RewardFunction(math_equal, "1 when the answer is mathematically equal to answer/solution (math-verify), "
                               "else 0", columns=REFERENCE_COLUMNS),
        "length": RewardFunction(length, f"0 at grpo.length_target tokens ({target}), down to -1 away from it"),
    }


@hookimpl
def reward_functions(config: Any) -> dict[str, RewardFunction]:
    return make_rewards(config)


_PROBE_REASONING, _PROBE_ANSWER = "R3AS0N1NG", "ANSW3R"
_MARKER_AT_END = re.compile(r"(<[^<>\s]+>|\[[A-Z_]+\])\s*$")


def detect_tags(render: Any) -> tuple[str, str] | None:
    """The family's reasoning markers, read off its template; None when it shows none.

    ``render(messages)`` renders a whole conversation with the family's template. A reply
    with reasoning is rendered and the markers around the reasoning are taken: the last
    marker-like token before it (``<think>``, ``[THINK]``; a template that opens the block in
    its generation prompt puts it there) and the text between reasoning and answer.
    """
    messages = [{"role": "user", "content": "Q"},
                {"role": "assistant", "content": _PROBE_ANSWER, "reasoning_content": _PROBE_REASONING}]
    try:
        text = render(messages).text
    except Exception:  # noqa: BLE001 - a template without reasoning support shows no markers
        return None
    at, end = text.find(_PROBE_REASONING), text.find(_PROBE_ANSWER)
    if at < 0 or end < at:
        return None
    found = _MARKER_AT_END.search(text[:at])
    closing = text[at + len(_PROBE_REASONING):end].strip()
    if not found or not closing:
        return None
    return found.group(1), closing
