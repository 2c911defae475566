"""Recognise a Gemma model and its generation from config.json and the chat template it ships.

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

Gemma 4 (``gemma4``, ``gemma4_text``, ``gemma4_unified``) -> "4-E2B", "4-E4B", "4-12B", "4-26B-A4B" or
"4-31B" (below). Other Gemma-named architectures with their own formats (``gemma3n``, PaliGemma,
RecurrentGemma, T5Gemma ...) are not claimed.

Gemma 4 and its size. transformers names three Gemma 4 model types: ``gemma4`` (the multimodal wrapper
every published checkpoint uses, language model in ``text_config`` of type ``gemma4_text``),
``gemma4_text`` (a text-only config, e.g. one re-saved from the language model) and ``gemma4_unified``
(the 12B, its language model in a ``gemma4_unified_text`` config). The size is read from the language
model:

* per-layer input embeddings (``hidden_size_per_layer_input`` > 0) make an "E" model: E2B has
  hidden 1536 (35 layers, 20 KV-shared), anything else with them is reported as E4B;
* ``enable_moe_block`` / ``num_experts`` make the 26B-A4B mixture of experts;
* ``gemma4_unified`` is the 12B; a dense config without per-layer embeddings is the 31B.

Sources: oracles/2026/SOURCES (key facts of E2B and 31B from several third-party snippets),
families-2026 notes of the project, transformers 5.25 ``configuration_gemma4.py``.

The shipped chat template. config.json names the architecture; the shipped template names the chat
format, and the two can disagree: a Gemma architecture fine-tuned into ChatML (or any community
format) keeps Gemma's weights layout but is served with its own template. Detection therefore reads
the template when the model directory has one (``facts.chat_template``; None for offline hub ids):

* Gemma 1-3 turn markers ``<start_of_turn>`` / ``<end_of_turn>`` confirm the Gemma 1-3 format and
  are named in ``reasons``;
* Gemma 4 markers ``<|turn>`` / ``<turn|>`` confirm the Gemma 4 format, and the literal empty
  thought block in the generation prompt (``'<|channel>thought\\n<channel|>'``) says which of the
  two shipped Gemma 4 templates it is (12B/26B-A4B/31B pre-fill it, E2B/E4B do not);
* anything else is another format: the plugin keeps the claim on the architecture but sets
  ``chat_format="shipped"``, so the core renders with that template instead of Gemma's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework.hookdata import ChatFormat, MatchResult, ModelFacts
from framework_gemma.vocab import (
    BOS_ID,
    END_OF_TURN,
    G4_TURN_CLOSE,
    G4_TURN_OPEN,
    START_OF_TURN,
    VOCAB_GEMMA_1_2,
    VOCAB_GEMMA_3,
    VOCAB_GEMMA_4,
)

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
    if is_gemma4(facts):
        return "4"
    variant = variant_of(facts) or "1"
    return "3" if variant.startswith("3") else variant


def is_multimodal(facts: ModelFacts) -> bool:
    """A vision(-audio) wrapper whose language model alone is trained."""
    return variant_of(facts) == MULTIMODAL or is_gemma4_wrapper(facts)


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
    variant, why = gemma4_size(facts)
    kind = "multimodal wrapper" if is_gemma4_wrapper(facts) else "text-only"
    vocab = gemma4_vocab_reason(facts)
    reasons = [f"model_type={facts.model_type} (Gemma 4, {kind})", why]
    if vocab:
        reasons.append(vocab)
    chat_format = _template_evidence(facts, "4", reasons)
    return MatchResult(score=SCORE_EXACT if vocab else SCORE_TYPE_ONLY, variant=variant, reasons=tuple(reasons),
                       chat_format=chat_format)


def match(facts: ModelFacts) -> MatchResult | None:
    """Score a config; None when it is not a Gemma 1/2/3/4."""
    if facts.model_type in GEMMA4_TYPES:
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
    evidence = read_template(facts.chat_template)
    if evidence is None:
        return "plugin"
    reasons.append(evidence.reason)
    return "plugin" if evidence.format == own_format else "shipped"


def uses_shipped_template(facts: ModelFacts) -> bool:
    """The core routes chat to the shipped template: this plugin's chat hooks step aside."""
    return facts.chat_format == "shipped"


# ── Gemma 4: generation and size ─────────────────────────────────────────────────────────

GEMMA4_TYPES = ("gemma4", "gemma4_text", "gemma4_unified", "gemma4_unified_text")
GEMMA4_WRAPPER_TYPES = ("gemma4", "gemma4_unified")
#: Variants (``MatchResult.variant``); the generation is the "4" before the dash.
E2B, E4B, B12, A4B, B31 = "4-E2B", "4-E4B", "4-12B", "4-26B-A4B", "4-31B"
#: Sizes whose shipped template pre-fills an empty thought block in the generation prompt.
PREFILL_SIZES = (B12, A4B, B31)
E2B_HIDDEN = 1536
#: transformers' class default when a config leaves the key out (Gemma4TextConfig).
DEFAULT_PER_LAYER_INPUT = 256


def language_model_config(facts: ModelFacts) -> dict[str, Any]:
    """The language model's config: ``text_config`` of a wrapper, the config itself otherwise."""
    return {**facts.raw, **(facts.text_config or {})} if facts.text_config else dict(facts.raw)


def is_gemma4(facts: ModelFacts) -> bool:
    return facts.model_type in GEMMA4_TYPES or (facts.variant or "").startswith("4")


def is_gemma4_wrapper(facts: ModelFacts) -> bool:
    return facts.model_type in GEMMA4_WRAPPER_TYPES


def per_layer_input(facts: ModelFacts) -> int:
    value = language_model_config(facts).get("hidden_size_per_layer_input", DEFAULT_PER_LAYER_INPUT)
    return int(value or 0)


def is_moe(facts: ModelFacts) -> bool:
    cfg = language_model_config(facts)
    return bool(cfg.get("enable_moe_block") or cfg.get("num_experts"))


def gemma4_size(facts: ModelFacts) -> tuple[str, str]:
    """(variant, the facts that decided it)."""
    cfg = language_model_config(facts)
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


def gemma4_vocab_reason(facts: ModelFacts) -> str | None:
    vocab = language_model_config(facts).get("vocab_size") or facts.vocab_size
    return f"vocab_size={vocab} (Gemma 4's vocabulary)" if vocab == VOCAB_GEMMA_4 else None


def prefills_empty_thought(facts: ModelFacts) -> bool:
    """Whether the inference prompt pre-fills ``<|channel>thought\\n<channel|>`` (thinking off).

    The shipped template decides when the model directory has one; otherwise the size does (Google
    ships the pre-filling template with 12B/26B-A4B/31B, the other one with E2B/E4B).
    """
    evidence = read_template(facts.chat_template)
    if evidence is not None and evidence.format == "4":
        return evidence.prefills_empty_thought
    variant = facts.variant if (facts.variant or "").startswith("4-") else gemma4_size(facts)[0]
    return variant in PREFILL_SIZES


# ── the shipped chat template as evidence ───────────────────────────────────────────────

#: The generation-prompt pre-fill of the larger Gemma 4 models' template, as written in it.
G4_EMPTY_THOUGHT_LITERAL = "'<|channel>thought\\n<channel|>'"

#: Marker -> the format it shows, to name a foreign template in ``reasons``.
FOREIGN_MARKERS = (
    ("<|im_start|>", "ChatML (<|im_start|>)"),
    ("<|start_header_id|>", "Llama 3 headers (<|start_header_id|>)"),
    ("[INST]", "Mistral [INST]"),
    ("<｜User｜>", "DeepSeek (<｜User｜>)"),
    ("<|user|>", "<|user|> turns"),
)


@dataclass(frozen=True)
class TemplateEvidence:
    """The format a shipped template shows: ``"1-3"``, ``"4"`` or ``None`` (not Gemma's), and why."""

    format: str | None
    reason: str
    prefills_empty_thought: bool = False


def read_template(template: str | None) -> TemplateEvidence | None:
    """The evidence in ``template``; None when the model directory ships no template."""
    if not template:
        return None
    if G4_TURN_OPEN in template and G4_TURN_CLOSE in template:
        prefill = G4_EMPTY_THOUGHT_LITERAL in template
        which = ("the empty thought block pre-filled in the generation prompt (12B/26B-A4B/31B template)" if prefill
                 else "no pre-filled thought block (E2B/E4B template)")
        return TemplateEvidence("4", f"chat template of the model directory: Gemma 4 turn markers {G4_TURN_OPEN}/"
                                     f"{G4_TURN_CLOSE}, {which}", prefill)
    if START_OF_TURN in template and END_OF_TURN in template:
        return TemplateEvidence("1-3", f"chat template of the model directory: Gemma turn markers "
                                       f"{START_OF_TURN}/{END_OF_TURN}")
    shown = next((name for marker, name in FOREIGN_MARKERS if marker in template), "no Gemma turn markers")
    return TemplateEvidence(None, f"chat template of the model directory is another format ({shown}): the "
                                  "architecture stays Gemma's, the chat is rendered with the shipped template")
