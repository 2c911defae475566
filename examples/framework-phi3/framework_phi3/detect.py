"""Recognise Phi-3 from config.json.

``model_type`` alone is not enough: Phi-4 and Phi-4-mini are published as ``phi3`` too, with
other tokenizers and another chat format, so rendering them as Phi-3 would silently train the
wrong template. The 32,064-row vocabulary is what only Phi-3 (mini, medium, 3.5-mini) has.
"""

from __future__ import annotations

from framework.hookdata import MatchResult, ModelFacts
from framework_phi3.vocab import MODEL_TYPE, NATIVE_CONTEXT, VOCAB_SIZE


def rope_type(facts: ModelFacts) -> str | None:
    """The rope type named in the config (``su`` and ``yarn`` are old names of LongRoPE in Phi-3 configs)."""
    scaling = facts.rope_scaling or {}
    kind = scaling.get("rope_type") or scaling.get("type")
    return "longrope" if kind in ("su", "yarn", "longrope") else kind


def match(facts: ModelFacts) -> MatchResult | None:
    if facts.model_type != MODEL_TYPE or facts.vocab_size != VOCAB_SIZE:
        return None
    reasons = [f"model_type={MODEL_TYPE}", f"vocab_size={VOCAB_SIZE} (Llama 2 pieces + Phi-3 chat tokens, padded)"]
    if rope_type(facts) == "longrope":
        reasons.append(f"LongRoPE scaling to {facts.max_position_embeddings} positions")
        return MatchResult(score=100, variant="3-128k", reasons=tuple(reasons))
    reasons.append(f"max_position_embeddings={facts.max_position_embeddings or NATIVE_CONTEXT}")
    return MatchResult(score=100, variant="3-4k", reasons=tuple(reasons))
