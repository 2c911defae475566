"""How a Mistral model reaches a training length: native, YaRN, or refuse.

* 7B v0.1 was trained on 8192-token sequences with a 4096 sliding window (Mistral 7B paper,
  https://arxiv.org/abs/2310.06825, Table 1); its config allows 32768 positions. Inside the
  window relative distances never exceed 4096, so longer sequences need no RoPE change; RoPE
  scaling would instead compress the in-window distances it was trained on, so beyond the
  config's 32768 the plugin refuses.
* v0.2/v0.3/Mixtral: 32768 native (theta 1e6). NeMo: 128k trained context
  (https://mistral.ai/news/mistral-nemo), although the Instruct config says 1024000.
* Beyond native: YaRN (a transformers rope type every Mistral config accepts) with
  ``factor = target / native`` up to 4, the largest factor a major family ships officially
  (Qwen2.5 YaRN factor 4 over 32768, families.md Q7); larger factors are refused.
"""

from __future__ import annotations

from framework.hookdata import ModelFacts, RopeDecision

from framework_mistral.detect import sliding_window, variant_of

V01_TRAINED = 8192
NEMO_TRAINED = 128_000
MAX_YARN_FACTOR = 4.0
NEMO_CE_LIMIT = 16_384  # mistral-finetune README: seq_len <= 16384 for NeMo (M7)
PROGRESSIVE = ("increase the length progressively (e.g. native, then 2x, then the target) rather than "
               "starting at the longest length, and check short-context quality after each step")


def _native(facts: ModelFacts) -> int:
    config = facts.max_position_embeddings or 32768
    if variant_of(facts).name == "nemo":
        return min(config, NEMO_TRAINED)
    return config


def _memory_warnings(facts: ModelFacts, target_length: int) -> tuple[str, ...]:
    if variant_of(facts).name == "nemo" and target_length > NEMO_CE_LIMIT:
        return (f"{target_length} tokens with a 131072 vocabulary: the loss logits alone take "
                f"~{target_length * 131072 * 4 / 2**30:.1f} GiB per sequence in fp32; mistral-finetune recommends "
                f"<= {NEMO_CE_LIMIT} for NeMo (M7)",)
    return ()


def decide(facts: ModelFacts, target_length: int) -> RopeDecision:
    """Decide for ``target_length``; see the module docstring for the policy."""
    native = _native(facts)
    memory = _memory_warnings(facts, target_length)
    window = sliding_window(facts)
    if target_length <= native:
        warnings = memory
        if variant_of(facts).name == "v0.1" and target_length > V01_TRAINED:
            warnings += (f"v0.1 was trained on {V01_TRAINED}-token sequences with a {window}-token sliding window: "
                         "tokens further back are only seen through the layers' stacked windows (M3)",)
        return RopeDecision(action="native", reason=f"{target_length} tokens fit the native context ({native})",
                            warnings=warnings)
    if window:
        return RopeDecision(
            action="refuse",
            reason=f"{target_length} tokens exceed the {native} positions of this sliding-window ({window}) model; "
            "RoPE scaling would compress the in-window distances it was trained on: split longer documents")
    if facts.rope_scaling:
        return RopeDecision(action="refuse", reason=f"{target_length} tokens exceed {native} and the config already "
                            f"has rope scaling {facts.rope_scaling}; stacking another scaling is untested")
    factor = target_length / native
    if factor > MAX_YARN_FACTOR:
        return RopeDecision(
            action="refuse",
            reason=f"{target_length} tokens need a YaRN factor of {factor:.1f} over the native {native}; no published "
            f"recipe goes past {MAX_YARN_FACTOR:g}: train at most {int(native * MAX_YARN_FACTOR)} tokens")
    theta = facts.rope_theta or 1_000_000.0
    return RopeDecision(
        action="scale",
        reason=f"{target_length} tokens exceed the native {native}: YaRN factor {factor:.2f}",
        rope_scaling={"rope_type": "yarn", "factor": factor, "original_max_position_embeddings": native,
                      "rope_theta": theta},
        max_position_embeddings=target_length,
        warnings=(PROGRESSIVE, "YaRN is static: it also applies to short inputs after training", *memory),
    )
