"""Recognise a Llama 4 model from config.json (and its shipped chat template).

``model_type`` is ``llama4`` for the multimodal checkpoints (``Llama4ForConditionalGeneration``:
a vision tower, a projector and a ``text_config`` of type ``llama4_text``) and ``llama4_text``
for text-only ones (``Llama4ForCausalLM``). Both are claimed when the vocabulary is Llama 4's
202,048 tokens (score 100; 60 for a vocabulary extended past it with Llama 4's BOS). The variant
is the MoE layout: Scout has 16 routed experts in every layer, Maverick 128 experts in every
second layer (``interleave_moe_layer_step`` 2); any other expert count is reported as
``llama4``. Sources: the published config.json files (see checkpoints.py).

A shipped chat template with Llama 4's headers (``<|header_start|>``) keeps the plugin's
renderer; any other format is claimed with ``chat_format="shipped"``.
"""

from __future__ import annotations

from typing import Any

from framework.hookdata import MatchResult, ModelFacts
from framework_llama4.vocab import BOS_ID, EOT, HEADER_START, VOCAB_SIZE

MODEL_TYPES = ("llama4", "llama4_text")
SCORE_EXACT = 100
SCORE_EXTENDED = 60
#: Routed experts per MoE layer of each published model.
VARIANTS = {16: "scout", 128: "maverick"}


def text_config(facts: ModelFacts) -> dict[str, Any]:
    """The language model's config: ``text_config`` of the wrapper, the config itself otherwise."""
    return facts.text_config if facts.text_config else facts.raw


def is_multimodal(facts: ModelFacts) -> bool:
    return facts.model_type == "llama4"


def variant_of(facts: ModelFacts) -> tuple[str, str]:
    """(variant, reason) from the expert layout."""
    text = text_config(facts)
    experts, step = facts.num_experts, text.get("interleave_moe_layer_step", 1)
    variant = VARIANTS.get(experts or 0, "llama4")
    name = {"scout": "Llama 4 Scout", "maverick": "Llama 4 Maverick"}.get(variant, "a Llama 4 MoE layout")
    return variant, f"num_local_experts={experts}, interleave_moe_layer_step={step} ({name})"


def template_reason(template: str) -> tuple[bool, str]:
    """(is the Llama 4 format, reason) read from a shipped chat template."""
    where = "chat template of the model directory"
    if HEADER_START in template and EOT in template:
        return True, f"{where}: Llama 4 headers (<|header_start|>/<|eot|>)"
    return False, f"{where}: a format other than Llama 4's; rendered with the shipped template"


def match(facts: ModelFacts) -> MatchResult | None:
    """Score 100 for a Llama 4 config with the Llama 4 vocabulary, 60 extended; None otherwise."""
    if facts.model_type not in MODEL_TYPES or facts.vocab_size is None:
        return None
    if facts.vocab_size == VOCAB_SIZE:
        score, vocab_reason = SCORE_EXACT, f"vocab_size={VOCAB_SIZE} (the Llama 4 vocabulary)"
    elif facts.vocab_size > VOCAB_SIZE and facts.bos_token_id == BOS_ID:
        score, vocab_reason = SCORE_EXTENDED, f"vocab_size={facts.vocab_size} with bos_token_id={BOS_ID} (extended)"
    else:
        return None
    variant, variant_reason = variant_of(facts)
    reasons = [f"model_type={facts.model_type}", vocab_reason, variant_reason]
    if is_multimodal(facts):
        reasons.append("multimodal wrapper: only the language model is trained")
    chat_format = "plugin"
    if (facts.chat_template or "").strip():
        ours, why = template_reason(facts.chat_template or "")
        reasons.append(why)
        chat_format = "plugin" if ours else "shipped"
    return MatchResult(score=score, variant=variant, reasons=tuple(reasons), chat_format=chat_format)
