"""Recognise Phi-3 from config.json, and judge the shipped chat template.

``model_type`` alone is not enough: Phi-4 and Phi-4-mini are published as ``phi3`` too, with
other tokenizers and another chat format, so rendering them as Phi-3 would silently train the
wrong template. The 32,064-row vocabulary is what only Phi-3 (mini, medium, 3.5-mini) has; the
variant is the context layout (4k native, or 128k through LongRoPE).

The config says nothing about the chat format, and a fine-tune keeps Phi-3's config.json while
it may ship another template: it can add its own tokens (ChatML's, say) into the 53 embedding
rows no Phi-3 token uses without changing ``vocab_size``. So when the model directory ships a
template (``facts.chat_template``) without Phi-3's turn tokens, the claim says
``chat_format="shipped"``: the shipped template renders the chat, this plugin's architecture
knowledge (LoRA targets, LongRoPE, load settings) still applies.
source: https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/tokenizer_config.json
"""

from __future__ import annotations

from framework.hookdata import ChatFormat, MatchResult, ModelFacts
from framework_phi3.vocab import END_OF_TURN, MODEL_TYPE, NATIVE_CONTEXT, ROLE_TOKENS, VOCAB_SIZE

#: Tokens every official Phi-3 template writes (Phi-3-medium's first template had no system turn).
TURN_MARKERS = (ROLE_TOKENS["user"], ROLE_TOKENS["assistant"], END_OF_TURN)


def rope_type(facts: ModelFacts) -> str | None:
    """The rope type named in the config (``su`` and ``yarn`` are old names of LongRoPE in Phi-3 configs)."""
    scaling = facts.rope_scaling or {}
    kind = scaling.get("rope_type") or scaling.get("type")
    return "longrope" if kind in ("su", "yarn", "longrope") else kind


def template_evidence(template: str | None) -> tuple[ChatFormat, str | None]:
    """(who renders the chat, the reason) judged from the shipped template; no template: this plugin."""
    if template is None:
        return "plugin", None
    where = "chat template of the model directory"
    if all(marker in template for marker in TURN_MARKERS):
        return "plugin", f"{where}: Phi-3's {'/'.join(TURN_MARKERS)} turns"
    return "shipped", f"{where}: not Phi-3's format (no {'/'.join(TURN_MARKERS)}); rendered with the shipped template"


def match(facts: ModelFacts) -> MatchResult | None:
    """Score 100 for Phi-3's model type and vocabulary, with the context layout as variant; None otherwise."""
    if facts.model_type != MODEL_TYPE or facts.vocab_size != VOCAB_SIZE:
        return None
    reasons = [f"model_type={MODEL_TYPE}", f"vocab_size={VOCAB_SIZE} (Llama 2 pieces + Phi-3 chat tokens, padded)"]
    if rope_type(facts) == "longrope":
        reasons.append(f"LongRoPE scaling to {facts.max_position_embeddings} positions")
        variant = "3-128k"
    else:
        reasons.append(f"max_position_embeddings={facts.max_position_embeddings or NATIVE_CONTEXT}")
        variant = "3-4k"
    renderer, evidence = template_evidence(facts.chat_template)
    if evidence:
        reasons.append(evidence)
    return MatchResult(score=100, variant=variant, reasons=tuple(reasons), chat_format=renderer)
