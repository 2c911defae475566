"""One score per sample from the signals, and the reasons a sample scores low.

The score is in [0, 1], higher is better::

    model part  = 0.5 + 0.25 * (fluency + relevance)          in [0.5, 1]
    fluency     = 1 - reply loss / ln(vocabulary size)        (1: certain, 0: no better than chance)
    relevance   = clamp(1.5 - IFD, 0, 1)                      (IFD <= 0.5: 1, IFD >= 1.5: 0)
    score       = model part * length * language * (1 - repetition) * duplicate factor

The model part ranks samples softly (a weak base model cannot zero a good sample); the text
factors are near 1 for ordinary text and pull a defect down hard (an empty reply is 0, a reply
of symbols or a loop of one phrase falls towards 0); every copy after the first of a
near-duplicate cluster is multiplied by ``DUPLICATE_FACTOR``, so the first occurrence is kept.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from framework.data_score.reply_loss import ReplyLoss
from framework.data_score.text_signals import TextSignals, length_score

DUPLICATE_FACTOR = 0.4
#: Below these the report names the reason.
LOW_FLUENCY, HIGH_IFD, LOW_LANGUAGE, HIGH_REPETITION = 0.3, 1.0, 0.7, 0.3


@dataclass
class SampleScore:
    source: str
    line: int
    score: float
    perplexity: float
    loss: float
    loss_without_instruction: float
    ifd: float
    reply_tokens: int
    length_ratio: float
    language: float
    language_mix: dict[str, float]
    language_match: bool
    repetition: float
    cluster: int = -1
    duplicate_of: str | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def score_sample(source: str, line: int, loss: ReplyLoss, text: TextSignals, vocab_size: int,
                 duplicate_of: str | None) -> SampleScore:
    fluency = _clamp(1.0 - loss.conditional / math.log(max(2, vocab_size))) if math.isfinite(loss.conditional) else 0.0
    relevance = _clamp(1.5 - loss.ifd) if math.isfinite(loss.ifd) else 0.5
    model_part = 0.5 + 0.25 * (fluency + relevance)
    length = length_score(loss.reply_tokens) if text.reply_chars else 0.0
    dup = DUPLICATE_FACTOR if duplicate_of else 1.0
    value = model_part * length * text.language * text.repetition_score * dup
    reasons = []
    if not text.reply_chars or not loss.reply_tokens:
        reasons.append("empty reply")
    else:
        if fluency < LOW_FLUENCY:
            reasons.append(f"improbable reply (perplexity {loss.perplexity:.0f})")
        if math.isfinite(loss.ifd) and loss.ifd >= HIGH_IFD:
            reasons.append(f"the instruction does not help predict the reply (IFD {loss.ifd:.2f})")
        if text.language < LOW_LANGUAGE:
            reasons.append(f"garbled or mixed-script text (language {text.language:.2f})")
        if text.repetition > HIGH_REPETITION:
            reasons.append(f"repetitive ({text.repetition:.0%} of n-grams repeat)")
        if not text.language_match:
            reasons.append("reply in another script than the prompt")
    if duplicate_of:
        reasons.append(f"near duplicate of {duplicate_of}")
    return SampleScore(source, line, value, loss.perplexity, loss.conditional, loss.unconditional, loss.ifd,
                       loss.reply_tokens, text.length_ratio, text.language, text.language_mix, text.language_match,
                       text.repetition, duplicate_of=duplicate_of, reasons=reasons)
