"""How far a Llama 3 model can be trained, and the RoPE scaling that gets it there.

* 3.1 / 3.2 ship ``rope_type: llama3`` scaling and were trained to 131072 positions: anything
  up to ``max_position_embeddings`` is native; beyond it is refused (the longest context any
  Llama 3 model was trained for; stacking a second scaling on top is untested).
* 3 (8192 positions) is extended with the same ``llama3`` scaling Meta used for 3.1 (low/high
  frequency factors 1 and 4 around the original 8192 context), with the factor rounded up to
  a power of two that covers the target. Up to 131072 tokens (factor 16) is allowed, with a
  warning: the model never saw those positions, so lengths should grow progressively.

The dict carries ``rope_theta`` because transformers 5 stores theta inside the RoPE parameters:
a scaling dict without it, assigned to ``config.rope_scaling``, leaves theta unset.
"""

from __future__ import annotations

import math

from framework.hookdata import ModelFacts, RopeDecision
from framework_llama3.detect import rope_type
from framework_llama3.vocab import NATIVE_CONTEXT

#: The longest context of any Llama 3 release (3.1 / 3.2 / 3.3).
MAX_CONTEXT = NATIVE_CONTEXT["3.1"]
#: Frequency bands of the ``llama3`` scaling (Llama 3.1 config.json ``rope_scaling``).
LOW_FREQ_FACTOR = 1.0
HIGH_FREQ_FACTOR = 4.0


def scale_factor(target_length: int, original: int) -> float:
    """Smallest power of two with ``original * factor >= target_length``."""
    return float(2 ** math.ceil(math.log2(target_length / original)))


def _schedule(original: int, target: int) -> str:
    middle = max(original, (original + target) // 2)
    return f"{original}:0.3,{middle}:0.6,{target}:1.0"


def decide(facts: ModelFacts, target_length: int) -> RopeDecision:
    native = facts.max_position_embeddings or NATIVE_CONTEXT["3"]
    if target_length <= native:
        return RopeDecision(action="native", reason=f"{target_length} tokens fit the native context of {native}")
    kind = rope_type(facts)
    if kind is not None:
        return RopeDecision(
            action="refuse",
            reason=f"the model already uses rope_type={kind} scaling up to {native} positions; {target_length} is "
            "beyond what it was trained for and a second scaling on top is untested",
        )
    if target_length > MAX_CONTEXT:
        return RopeDecision(
            action="refuse",
            reason=f"{target_length} tokens exceed {MAX_CONTEXT}, the longest context any Llama 3 model was "
            "trained for",
        )
    factor = scale_factor(target_length, native)
    scaling = {
        "rope_type": "llama3",
        "factor": factor,
        "low_freq_factor": LOW_FREQ_FACTOR,
        "high_freq_factor": HIGH_FREQ_FACTOR,
        "original_max_position_embeddings": native,
    }
    if facts.rope_theta is not None:
        scaling["rope_theta"] = facts.rope_theta
    return RopeDecision(
        action="scale",
        reason=f"{target_length} tokens exceed the native {native}: llama3 RoPE scaling x{factor:g} "
        "(the scheme Meta used for Llama 3.1)",
        rope_scaling=scaling,
        max_position_embeddings=target_length,
        warnings=(
            f"the model never saw positions beyond {native}: raise the length progressively "
            f"(e.g. data.seq_schedule='{_schedule(native, target_length)}'), keep short samples in the mix, "
            "and check short-context quality after training",
        ),
    )
