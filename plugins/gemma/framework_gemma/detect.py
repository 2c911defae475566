"""Recognise a Gemma model and its generation from config.json alone.

Each generation has its own ``model_type`` in transformers, so the type names the variant;
the score says how sure that is (hookspecs: 100 for facts only this family has, 50 for
``model_type`` alone):

* ``gemma``       -> "1": 100 with the 256000-token SentencePiece vocabulary.
* ``gemma2``      -> "2": 100 with that vocabulary or Gemma 2's attention/final soft-capping.
* ``gemma3_text`` -> "3": 100 with the 262144 (text) / 262208 (multimodal) vocabulary.
* ``gemma3``      -> "3-multimodal": the ``Gemma3ForConditionalGeneration`` wrapper (SigLIP vision
  tower + projector + Gemma 3 language model in ``text_config``). Its published config.json
  leaves most text facts to class defaults (no ``vocab_size``), so the architecture and the
  nested ``text_config.model_type`` decide.

A config with a vocabulary larger than the original and Gemma's ``bos_token_id`` 2 is a
Gemma with added tokens (score 60).

When the model directory ships a chat template, it is evidence too (``shipped``): Gemma's turn
markers confirm the format and are named in ``reasons``; a template of another format (a ChatML
fine-tune of Gemma, ...) keeps the claim on the architecture but sets ``chat_format="shipped"``,
so the core renders with that template instead of Gemma's.

Gemma 4 (``gemma4``, ``gemma4_text``, ``gemma4_unified``) -> "4-E2B", "4-E4B", "4-12B", "4-26B-A4B" or
"4-31B" (``detect4``). Other Gemma-named architectures with their own formats (``gemma3n``,
PaliGemma, RecurrentGemma, T5Gemma ...) are not claimed.
"""

from __future__ import annotations

from framework.hookdata import ChatFormat, MatchResult, ModelFacts
from framework_gemma import detect4, shipped
from framework_gemma.vocab import BOS_ID, VOCAB_GEMMA_1_2, VOCAB_GEMMA_3

SCORE_EXACT = 100
SCORE_EXTENDED = 60
SCORE_TYPE_ONLY = 50

#: model_type -> variant reported in ``MatchResult.variant`` (and ``facts.variant`` later).
VARIANT_OF_TYPE = {"gemma": "1", "gemma2": "2", "gemma3_text": "3", "gemma3": "3-multimodal"}
MULTIMODAL = "3-multimodal"
LABELS = {"1": "Gemma 1", "2": "Gemma 2", "3": "Gemma 3", MULTIMODAL: "Gemma 3 multimodal wrapper"}
WRAPPER_ARCHITECTURE = "Gemma3ForConditionalGeneration"
#: Gemma 2's soft-capping values (attn 50, final 30: every published Gemma 2 config).
GEMMA2_SOFTCAPS = (50.0, 30.0)


def variant_of(facts: ModelFacts) -> str | None:
    """The variant of a config: the one recorded at selection, else from its model_type."""
    return facts.variant or VARIANT_OF_TYPE.get(facts.model_type)


def generation(facts: ModelFacts) -> str:
    """"1", "2", "3" (the multimodal wrapper is a Gemma 3) or "4"."""
    if detect4.is_gemma4(facts):
        return "4"
    variant = variant_of(facts) or "1"
    return "3" if variant.startswith("3") else variant


def is_multimodal(facts: ModelFacts) -> bool:
    """A vision(-audio) wrapper whose language model alone is trained."""
    return variant_of(facts) == MULTIMODAL or detect4.is_wrapper(facts)


def _vocab_reason(facts: ModelFacts, known: tuple[int, ...]) -> tuple[int, str] | None:
    vocab = facts.vocab_size
    if vocab in known:
        return SCORE_EXACT, f"vocab_size={vocab} (Gemma's SentencePiece vocabulary)"
    if vocab is not None and vocab > min(known) and facts.bos_token_id == BOS_ID:
        return SCORE_EXTENDED, f"vocab_size={vocab} with bos_token_id={BOS_ID} (Gemma's vocabulary with added tokens)"
    return None


def _wrapper_reason(facts: ModelFacts) -> tuple[int, str] | None:
    if WRAPPER_ARCHITECTURE in facts.architectures:
        return SCORE_EXACT, f"architectures={WRAPPER_ARCHITECTURE} (SigLIP vision tower + Gemma 3 language model)"
    if (facts.text_config or {}).get("model_type") == "gemma3_text":
        return SCORE_EXACT, "text_config.model_type=gemma3_text (Gemma 3 language model inside the wrapper)"
    return None


def _softcap_reason(facts: ModelFacts) -> tuple[int, str] | None:
    caps = (facts.attn_logit_softcapping, facts.final_logit_softcapping)
    if caps == GEMMA2_SOFTCAPS:
        return SCORE_EXACT, "attn_logit_softcapping=50.0, final_logit_softcapping=30.0 (Gemma 2)"
    return None


def match_gemma4(facts: ModelFacts) -> MatchResult:
    variant, why = detect4.size(facts)
    kind = "multimodal wrapper" if detect4.is_wrapper(facts) else "text-only"
    vocab = detect4.vocab_reason(facts)
    reasons = [f"model_type={facts.model_type} (Gemma 4, {kind})", why]
    if vocab:
        reasons.append(vocab)
    chat_format = _template_evidence(facts, "4", reasons)
    return MatchResult(score=SCORE_EXACT if vocab else SCORE_TYPE_ONLY, variant=variant, reasons=tuple(reasons),
                       chat_format=chat_format)


def match(facts: ModelFacts) -> MatchResult | None:
    """Score a config; None when it is not a Gemma 1/2/3/4."""
    if facts.model_type in detect4.TYPES:
        return match_gemma4(facts)
    variant = VARIANT_OF_TYPE.get(facts.model_type)
    if variant is None:
        return None
    if variant == "1":
        found = _vocab_reason(facts, (VOCAB_GEMMA_1_2,))
    elif variant == "2":
        found = _vocab_reason(facts, (VOCAB_GEMMA_1_2,)) or _softcap_reason(facts)
    elif variant == "3":
        found = _vocab_reason(facts, VOCAB_GEMMA_3)
    else:
        found = _wrapper_reason(facts)
    score, reason = found or (SCORE_TYPE_ONLY, "no Gemma-specific vocabulary or architecture fact")
    reasons = [f"model_type={facts.model_type} ({LABELS[variant]})", reason]
    if facts.head_dim and facts.num_attention_heads and facts.hidden_size:
        implicit = facts.hidden_size // facts.num_attention_heads
        if facts.head_dim != implicit:
            reasons.append(f"explicit head_dim={facts.head_dim} != hidden/heads={implicit} (pitfall G7: honoured)")
    chat_format = _template_evidence(facts, "1-3", reasons)
    return MatchResult(score=score, variant=variant, reasons=tuple(reasons), chat_format=chat_format)


def _template_evidence(facts: ModelFacts, own_format: str, reasons: list[str]) -> ChatFormat:
    """Append what the shipped template shows; "shipped" when it is not this generation's format."""
    evidence = shipped.read(facts.chat_template)
    if evidence is None:
        return "plugin"
    reasons.append(evidence.reason)
    return "plugin" if evidence.format == own_format else "shipped"


def uses_shipped_template(facts: ModelFacts) -> bool:
    """The core routes chat to the shipped template: this plugin's chat hooks step aside."""
    return facts.chat_format == "shipped"
