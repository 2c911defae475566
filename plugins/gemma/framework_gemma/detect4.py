"""Recognise Gemma 4 and its size from config.json (and the shipped template when there is one).

transformers names three Gemma 4 model types: ``gemma4`` (the multimodal wrapper every published
checkpoint uses, language model in ``text_config`` of type ``gemma4_text``), ``gemma4_text`` (a
text-only config, e.g. one re-saved from the language model) and ``gemma4_unified`` (the 12B, its
language model in a ``gemma4_unified_text`` config). The size is read from the language model:

* per-layer input embeddings (``hidden_size_per_layer_input`` > 0) make an "E" model: E2B has
  hidden 1536 (35 layers, 20 KV-shared), anything else with them is reported as E4B;
* ``enable_moe_block`` / ``num_experts`` make the 26B-A4B mixture of experts;
* ``gemma4_unified`` is the 12B; a dense config without per-layer embeddings is the 31B.

Sources: oracles/2026/SOURCES (key facts of E2B and 31B from several third-party snippets),
families-2026 notes of the project, transformers 5.25 ``configuration_gemma4.py``.
"""

from __future__ import annotations

from typing import Any

from framework.hookdata import ModelFacts
from framework_gemma import shipped
from framework_gemma.vocab import VOCAB_GEMMA_4

TYPES = ("gemma4", "gemma4_text", "gemma4_unified", "gemma4_unified_text")
WRAPPER_TYPES = ("gemma4", "gemma4_unified")
#: Variants (``MatchResult.variant``); the generation is the "4" before the dash.
E2B, E4B, B12, A4B, B31 = "4-E2B", "4-E4B", "4-12B", "4-26B-A4B", "4-31B"
#: Sizes whose shipped template pre-fills an empty thought block in the generation prompt.
PREFILL_SIZES = (B12, A4B, B31)
E2B_HIDDEN = 1536
#: transformers' class default when a config leaves the key out (Gemma4TextConfig).
DEFAULT_PER_LAYER_INPUT = 256


def text(facts: ModelFacts) -> dict[str, Any]:
    """The language model's config: ``text_config`` of a wrapper, the config itself otherwise."""
    return {**facts.raw, **(facts.text_config or {})} if facts.text_config else dict(facts.raw)


def is_gemma4(facts: ModelFacts) -> bool:
    return facts.model_type in TYPES or (facts.variant or "").startswith("4")


def is_wrapper(facts: ModelFacts) -> bool:
    return facts.model_type in WRAPPER_TYPES


def per_layer_input(facts: ModelFacts) -> int:
    value = text(facts).get("hidden_size_per_layer_input", DEFAULT_PER_LAYER_INPUT)
    return int(value or 0)


def is_moe(facts: ModelFacts) -> bool:
    cfg = text(facts)
    return bool(cfg.get("enable_moe_block") or cfg.get("num_experts"))


def size(facts: ModelFacts) -> tuple[str, str]:
    """(variant, the facts that decided it)."""
    cfg = text(facts)
    hidden = cfg.get("hidden_size")
    if facts.model_type == "gemma4_unified" or cfg.get("model_type") == "gemma4_unified_text":
        return B12, "model_type gemma4_unified (the 12B unified model)"
    if is_moe(facts):
        return A4B, (f"mixture of experts: enable_moe_block={cfg.get('enable_moe_block')}, "
                     f"num_experts={cfg.get('num_experts')} (26B-A4B)")
    ple = per_layer_input(facts)
    if ple:
        kv = cfg.get("num_kv_shared_layers")
        name = E2B if hidden == E2B_HIDDEN else E4B
        return name, (f"per-layer input embeddings (hidden_size_per_layer_input={ple}), hidden_size={hidden}, "
                      f"num_kv_shared_layers={kv} ({name[2:]})")
    return B31, f"dense, no per-layer input embeddings, hidden_size={hidden} (31B)"


def vocab_reason(facts: ModelFacts) -> str | None:
    vocab = text(facts).get("vocab_size") or facts.vocab_size
    return f"vocab_size={vocab} (Gemma 4's vocabulary)" if vocab == VOCAB_GEMMA_4 else None


def prefills_empty_thought(facts: ModelFacts) -> bool:
    """Whether the inference prompt pre-fills ``<|channel>thought\\n<channel|>`` (thinking off).

    The shipped template decides when the model directory has one; otherwise the size does (Google
    ships the pre-filling template with 12B/26B-A4B/31B, the other one with E2B/E4B).
    """
    evidence = shipped.read(facts.chat_template)
    if evidence is not None and evidence.format == "4":
        return evidence.prefills_empty_thought
    variant = facts.variant if (facts.variant or "").startswith("4-") else size(facts)[0]
    return variant in PREFILL_SIZES
