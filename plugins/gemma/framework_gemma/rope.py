"""How far a Gemma model can be trained, and the RoPE scaling that gets it there.

* Up to ``max_position_embeddings`` is native (Gemma 1/2: 8192; Gemma 3 1B: 32768; Gemma 3
  4B/12B/27B: 131072, already reached with linear scaling x8 on the global layers).
* Gemma 3 text models are extended the way Google extended Gemma 3 itself: linear scaling with
  factor 8 on the *global* (full-attention) layers only, the sliding-window layers keep their
  10000 base (Gemma 3 report: pre-trained at 32K, scaled to 128K "while rescaling RoPE ... a
  scaling factor of 8"; transformers' converter ``_VARIANT_GEMMA_3_4B``). transformers 5 keeps one
  RoPE per layer type, so the decision carries both ``full_attention`` and ``sliding_attention``
  entries. Up to 131072 tokens, the longest Gemma context.
* Gemma 1 (one RoPE, no sliding window) is extended with linear position interpolation, the
  same method, with the factor rounded up to a power of two and at most 8 (the largest factor
  Google shipped): up to 65536 tokens.
* Gemma 2 is refused beyond 8192: transformers' Gemma 2 has one RoPE for its local and global
  layers, so any scaling also compresses positions inside the 4096-token sliding windows, which
  Google's own recipe (global layers only) avoids.
* A model that already ships a scaling is refused beyond it (a second scaling is untested), and
  so is the multimodal wrapper: the core writes ``rope_scaling`` on the top-level config, which
  never reaches the language model's ``text_config``.
"""

from __future__ import annotations

import math
from typing import Any

from framework.hookdata import ModelFacts, RopeDecision
from framework_gemma.detect import generation, is_multimodal, language_model_config

NATIVE_DEFAULT = {"1": 8192, "2": 8192, "3": 131072}
#: The longest context of any Gemma release (Gemma 3 4B/12B/27B).
MAX_CONTEXT = 131072
#: Gemma 3's global-layer factor (transformers' Gemma 3 converter, 4B/12B/27B).
GEMMA3_FACTOR = 8.0
MAX_LINEAR_FACTOR = 8
#: RoPE bases: Gemma 1 (GemmaConfig default, every published config), Gemma 3 global and local layers.
THETA_1 = 10_000.0
GLOBAL_THETA_3 = 1_000_000.0
LOCAL_THETA_3 = 10_000.0


def _rope_parameters(facts: ModelFacts) -> dict[str, Any] | None:
    raw = {**(facts.text_config or {}), **facts.raw}
    params = raw.get("rope_parameters")
    return params if isinstance(params, dict) else None


def existing_scaling(facts: ModelFacts) -> dict[str, Any] | None:
    """The scaling the model already has (on its global layers for Gemma 3); None when unscaled."""
    candidates = [facts.rope_scaling, (_rope_parameters(facts) or {}).get("full_attention")]
    for scaling in candidates:
        if isinstance(scaling, dict) and (scaling.get("rope_type") or scaling.get("type") or "default") != "default":
            return scaling
    return None


def _local_theta(facts: ModelFacts) -> float:
    raw = {**(facts.text_config or {}), **facts.raw}
    sliding = (_rope_parameters(facts) or {}).get("sliding_attention") or {}
    return float(raw.get("rope_local_base_freq") or sliding.get("rope_theta") or LOCAL_THETA_3)


def _global_theta(facts: ModelFacts) -> float:
    full = (_rope_parameters(facts) or {}).get("full_attention") or {}
    return float(facts.rope_theta or full.get("rope_theta") or GLOBAL_THETA_3)


def _schedule(original: int, target: int) -> str:
    middle = max(original, (original + target) // 2)
    return f"{original}:0.3,{middle}:0.6,{target}:1.0"


def _warnings(native: int, target: int) -> tuple[str, ...]:
    return (f"the model never saw positions beyond {native}: raise the length progressively "
            f"(e.g. data.seq_schedule='{_schedule(native, target)}'), keep short samples in the mix, and check "
            "short-context quality after training",)


def _refusal(facts: ModelFacts, native: int, target: int) -> str | None:
    kind = existing_scaling(facts)
    if kind is not None:
        return (f"the model already uses rope_type={kind.get('rope_type') or kind.get('type')} scaling up to {native} "
                f"positions; {target} is beyond what it was trained for and a second scaling on top is untested")
    if is_multimodal(facts):
        return ("the multimodal Gemma 3 wrapper keeps its RoPE in text_config, which a top-level rope_scaling does "
                "not reach; train the text-only model or stay within the native context")
    if target > MAX_CONTEXT:
        return f"{target} tokens exceed {MAX_CONTEXT}, the longest context any Gemma model was trained for"
    if generation(facts) == "2":
        return ("Gemma 2 has one RoPE for its sliding-window and global layers in transformers, so scaling would also "
                "compress positions inside the 4096-token windows (Google scales only global layers, as in Gemma 3)")
    if generation(facts) == "1" and target > native * MAX_LINEAR_FACTOR:
        return (f"{target} tokens need a linear factor above {MAX_LINEAR_FACTOR}, the largest Google used for Gemma "
                f"(at most {native * MAX_LINEAR_FACTOR} tokens)")
    return None


#: Gemma 4's native context when a config leaves it out (Gemma4TextConfig default; E2B/E4B ship 131072,
#: 26B-A4B/31B 262144).
G4_NATIVE_DEFAULT = 131072


def _decide_gemma4(facts: ModelFacts, target_length: int) -> RopeDecision:
    native = int(language_model_config(facts).get("max_position_embeddings") or G4_NATIVE_DEFAULT)
    if target_length <= native:
        return RopeDecision(action="native", reason=f"{target_length} tokens fit the native context of {native}")
    return RopeDecision(action="refuse", reason=(
        f"{target_length} tokens exceed Gemma 4's native {native}: its global layers already use proportional RoPE "
        "on a quarter of each head, and Google published no longer-context scaling to follow"))


def decide(facts: ModelFacts, target_length: int) -> RopeDecision:
    gen = generation(facts)
    if gen == "4":
        return _decide_gemma4(facts, target_length)
    native = facts.max_position_embeddings or NATIVE_DEFAULT[gen]
    if target_length <= native:
        return RopeDecision(action="native", reason=f"{target_length} tokens fit the native context of {native}")
    refusal = _refusal(facts, native, target_length)
    if refusal:
        return RopeDecision(action="refuse", reason=refusal)
    if gen == "3":
        scaling: dict[str, Any] = {
            "full_attention": {"rope_type": "linear", "factor": GEMMA3_FACTOR, "rope_theta": _global_theta(facts)},
            "sliding_attention": {"rope_type": "default", "rope_theta": _local_theta(facts)},
        }
        reason = (f"{target_length} tokens exceed the native {native}: linear RoPE x{GEMMA3_FACTOR:g} on the global "
                  "layers only, as Google extended Gemma 3 to 128K")
    else:
        factor = float(2 ** math.ceil(math.log2(target_length / native)))
        # transformers 5 keeps theta inside the RoPE parameters: a dict without it leaves theta unset.
        scaling = {"rope_type": "linear", "factor": factor, "rope_theta": facts.rope_theta or THETA_1}
        reason = f"{target_length} tokens exceed the native {native}: linear RoPE interpolation x{factor:g}"
    return RopeDecision(action="scale", reason=reason, rope_scaling=scaling, max_position_embeddings=target_length,
                        warnings=_warnings(native, target_length))
