"""How a Qwen model reaches a training length: native, static YaRN, or refused.

Policy (sources in the README's RoPE section):

* Qwen2, Qwen2.5, Qwen3: native up to ``max_position_embeddings``. Beyond it, static YaRN on
  the 32,768-token pre-training context with ``factor = ceil(target / 32768)``, as Qwen
  documents (``{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}``
  for 131,072 tokens, "validated with YaRN"), and ``max_position_embeddings = factor * 32768``
  because transformers >= 4.52.3 derives the factor from that ratio. Factors above 4 (past
  131,072 tokens) are refused: Qwen validated no more.
* Qwen3-2507, Qwen3.5/3.6/3.8: native up to 262,144 tokens; beyond it refused (no recipe recorded).
* Qwen1.5: no scaling is documented: beyond ``max_position_embeddings`` is refused.
* Qwen v1: its dynamic NTK and logn attention run only at inference (``not self.training`` in
  modeling_qwen.py), so training beyond ``seq_length`` has no supported scaling: refused.
"""

from __future__ import annotations

import math

from framework.hookdata import ModelFacts, RopeDecision

from framework_qwen.chat import variant_of

#: Pre-training context of Qwen2/2.5/3 and YaRN's original_max_position_embeddings in Qwen's docs.
YARN_ORIGINAL = 32768
#: Largest YaRN factor Qwen validated (32,768 -> 131,072 tokens).
YARN_MAX_FACTOR = 4

PROGRESSIVE = ("train long contexts progressively: start at the native length and raise it in steps "
               "(data.seq_schedule, e.g. '32768:0.3,65536:1.0') so the scaled positions are learnt gradually")
STATIC_YARN = ("YaRN in transformers is static: it also applies to short inputs and may cost quality there; "
               "Qwen advises enabling it only when long contexts are needed")


def _yarn(facts: ModelFacts, target_length: int) -> RopeDecision:
    original = YARN_ORIGINAL
    existing = facts.rope_scaling or {}
    if existing.get("rope_type", existing.get("type")) == "yarn":
        original = int(existing.get("original_max_position_embeddings") or YARN_ORIGINAL)
    factor = math.ceil(target_length / original)
    if factor > YARN_MAX_FACTOR:
        return RopeDecision(
            action="refuse",
            reason=f"{target_length} tokens need YaRN factor {factor}; Qwen validated YaRN up to factor "
            f"{YARN_MAX_FACTOR} ({YARN_MAX_FACTOR * original} tokens)",
        )
    scaling: dict[str, object] = {
        "rope_type": "yarn",
        "factor": float(factor),
        "original_max_position_embeddings": original,
    }
    if facts.rope_theta is not None:
        # transformers 5 keeps rope_theta inside rope_parameters: a dict without it loses the base.
        scaling["rope_theta"] = facts.rope_theta
    return RopeDecision(
        action="scale",
        reason=f"{target_length} tokens exceed the native {facts.max_position_embeddings}: static YaRN "
        f"factor {factor} on the {original}-token pre-training context, as Qwen documents",
        rope_scaling=scaling,
        max_position_embeddings=factor * original,
        warnings=(STATIC_YARN, PROGRESSIVE),
    )


def decide(facts: ModelFacts, target_length: int) -> RopeDecision:
    """Native, scale or refuse for ``target_length`` tokens (see module docstring)."""
    variant = variant_of(facts.variant)
    native = facts.max_position_embeddings
    if native is None or target_length <= native:
        warnings: tuple[str, ...] = ()
        scaling = facts.rope_scaling or {}
        if scaling.get("rope_type", scaling.get("type")) == "yarn" and target_length <= int(
            scaling.get("original_max_position_embeddings") or YARN_ORIGINAL
        ):
            warnings = (STATIC_YARN + f"; {target_length} tokens fit without it (Q7)",)
        elif variant == "3" and target_length > YARN_ORIGINAL:
            warnings = (f"Qwen3 was pre-trained on {YARN_ORIGINAL} tokens; its config allows {native} "
                        "without scaling", PROGRESSIVE)
        return RopeDecision(action="native", reason=f"{target_length} tokens fit the native context ({native})",
                            warnings=warnings)
    if variant == "1":
        return RopeDecision(
            action="refuse",
            reason=f"Qwen v1 extends its {native}-token context only at inference (dynamic NTK and logn "
            "attention are skipped while training), so no scaling is supported for training",
        )
    if variant == "1.5":
        return RopeDecision(
            action="refuse",
            reason=f"{target_length} tokens exceed Qwen1.5's native {native} and Qwen documents no RoPE "
            "scaling for Qwen1.5",
        )
    if variant in ("2507", "2507-thinking", "3.5", "3.6", "3.8"):
        return RopeDecision(
            action="refuse",
            reason=f"{target_length} tokens exceed the native {native} of Qwen{variant}, and no scaling recipe "
            "for it is recorded in this plugin's sources (the 32,768-token YaRN recipe is Qwen2.5/Qwen3's)",
        )
    return _yarn(facts, target_length)
