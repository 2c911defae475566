"""How far Phi-3 reaches: 4k checkpoints natively, 128k ones through their trained LongRoPE factors.

LongRoPE factors are trained per checkpoint, so a 4k checkpoint cannot be stretched by a
formula; past 4,096 tokens the answer is a 128k checkpoint. transformers picks the long
factors for a whole forward pass as soon as its largest position id passes
``original_max_position_embeddings``, so on 128k checkpoints long and short samples in one
padded batch are trained under the long factors.
source: https://github.com/huggingface/transformers/blob/main/src/transformers/modeling_rope_utils.py (longrope)
source: https://huggingface.co/microsoft/Phi-3-mini-128k-instruct/blob/main/config.json
"""

from __future__ import annotations

from framework.hookdata import ModelFacts, RopeDecision
from framework_phi3.detect import rope_type
from framework_phi3.vocab import NATIVE_CONTEXT


def original_context(facts: ModelFacts) -> int:
    scaling = facts.rope_scaling or {}
    return int(scaling.get("original_max_position_embeddings")
               or facts.raw.get("original_max_position_embeddings") or NATIVE_CONTEXT)


def decide(facts: ModelFacts, target_length: int) -> RopeDecision:
    native = facts.max_position_embeddings or NATIVE_CONTEXT
    warnings = []
    window = facts.sliding_window
    if window and target_length > window and window < native:
        warnings.append(f"Phi-3 attends within a sliding window of {window} tokens: tokens further back than that "
                        "are not attended (transformers applies the window with every attention kernel)")
    if target_length > native:
        hint = "" if rope_type(facts) == "longrope" else " (a 128k checkpoint such as microsoft/Phi-3-mini-128k-instruct)"
        return RopeDecision(action="refuse", reason=f"{target_length} tokens exceed the {native} positions this "
                            f"checkpoint was trained for; LongRoPE factors cannot be derived by formula, use a "
                            f"longer-context checkpoint{hint}")
    original = original_context(facts)
    if rope_type(facts) == "longrope" and target_length > original:
        warnings.append(f"samples longer than {original} tokens switch LongRoPE to its long factors for the whole "
                        "forward pass: with padded batches short samples are then trained under the long factors "
                        "(packing decides per pack, by its longest sample)")
        return RopeDecision(action="native", reason=f"{target_length} tokens fit the {native}-position LongRoPE "
                            f"context (long factors beyond {original})", warnings=tuple(warnings))
    return RopeDecision(action="native", reason=f"{target_length} tokens fit the native context ({native})",
                        warnings=tuple(warnings))
