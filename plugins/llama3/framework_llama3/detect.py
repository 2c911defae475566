"""Recognise a Llama 3 model and its generation from config.json alone.

``model_type`` is ``llama`` for every Llama generation (and for many unrelated models built on
the same architecture), so it decides nothing by itself: the Llama 3 tiktoken vocabulary
(``vocab_size`` 128256) does. A Llama 2 style config (vocab 32000) is not ours. The generation
follows from the RoPE settings Meta shipped (transformers converter ``write_model``):

* 3:   no ``rope_scaling``, 8192 positions;
* 3.1: ``rope_type`` ``llama3`` with factor 8, 131072 positions. Llama 3.3 70B has the same
  config and a byte-identical chat template, so it is reported as "3.1";
* 3.2: ``rope_type`` ``llama3`` with factor 32 (1B/3B, tied embeddings).

When the model directory ships a chat template (``facts.chat_template``), the template decides
the chat format, because a fine-tune keeps its base's config.json but may change the format:

* Llama 3 headers with the 3.1 knowledge-cutoff block ("Cutting Knowledge Date") are 3.1, or 3.2
  when the date comes from ``strftime_now`` (the 3.2 template); headers without it are 3.0;
* any other format (ChatML, DeepSeek-R1-Distill-Llama's ``<｜User｜>``/``<｜Assistant｜>``, ...) is
  claimed with ``chat_format="shipped"``: the architecture knowledge of this plugin still
  applies, the chat is rendered by the shipped template.
"""

from __future__ import annotations

from framework.hookdata import MatchResult, ModelFacts
from framework_llama3.vocab import BOS_ID, EOT, START_HEADER, VOCAB_SIZE

#: Score for a vocabulary only Llama 3 has; lower when the vocabulary was extended.
SCORE_EXACT = 100
SCORE_EXTENDED = 60


def rope_type(facts: ModelFacts) -> str | None:
    """``rope_type`` (or the older ``type``) of the config's scaling, None when unscaled."""
    scaling = facts.rope_scaling or {}
    kind = scaling.get("rope_type") or scaling.get("type")
    return None if kind in (None, "default") else str(kind)


def variant_of(facts: ModelFacts) -> tuple[str, str]:
    """(variant, the reason) for a config already known to be Llama 3."""
    kind = rope_type(facts)
    if kind == "llama3":
        factor = (facts.rope_scaling or {}).get("factor")
        if factor == 32 or facts.tie_word_embeddings:
            return "3.2", (f"rope_type=llama3 factor={factor}, tie_word_embeddings={facts.tie_word_embeddings} "
                           "(Llama 3.2 1B/3B)")
        return "3.1", (f"rope_type=llama3 factor={factor}, max_position_embeddings={facts.max_position_embeddings} "
                       "(Llama 3.1; Llama 3.3 70B shares this config and chat format)")
    if kind is not None:
        return "3", f"rope_scaling {kind} on a Llama 3 base (context-extended derivative, Llama 3 chat format)"
    return "3", f"no rope_scaling, max_position_embeddings={facts.max_position_embeddings} (Llama 3)"


#: Markers of chat formats that Llama 3 fine-tunes are known to ship, for the reason shown by ``plan``.
OTHER_FORMATS = (
    ("<|im_start|>", "ChatML (<|im_start|>/<|im_end|>)"),
    ("<｜Assistant｜>", "DeepSeek-R1-Distill's format (<｜User｜>/<｜Assistant｜>)"),
    ("[INST]", "the Llama 2/Mistral [INST] format"),
)


def template_evidence(template: str) -> tuple[str | None, str]:
    """(variant, reason) read from a shipped chat template; variant None: not the Llama 3 format."""
    where = "chat template of the model directory"
    if START_HEADER in template and EOT in template:
        if "Cutting Knowledge Date" in template:
            if "strftime_now" in template:
                return "3.2", f"{where}: Llama 3.1 knowledge-cutoff block, date from strftime_now (Llama 3.2)"
            return "3.1", f"{where}: Llama 3.1 knowledge-cutoff block (Cutting Knowledge Date)"
        return "3", f"{where}: Llama 3 headers without the 3.1 knowledge-cutoff block (Llama 3.0)"
    name = next((label for marker, label in OTHER_FORMATS if marker in template), "a format other than Llama 3's")
    return None, f"{where}: {name}; rendered with the shipped template"


def match(facts: ModelFacts) -> MatchResult | None:
    """Score 100 for the exact Llama 3 vocabulary, 60 for it extended; None otherwise."""
    if facts.model_type != "llama" or facts.vocab_size is None:
        return None
    if facts.vocab_size == VOCAB_SIZE:
        score, vocab_reason = SCORE_EXACT, f"vocab_size={VOCAB_SIZE} (the Llama 3 tiktoken vocabulary)"
    elif facts.vocab_size > VOCAB_SIZE and facts.bos_token_id == BOS_ID:
        score = SCORE_EXTENDED
        vocab_reason = (f"vocab_size={facts.vocab_size} with bos_token_id={BOS_ID} "
                        "(the Llama 3 vocabulary with added tokens)")
    else:
        return None
    variant, variant_reason = variant_of(facts)
    reasons = ("model_type=llama", vocab_reason, variant_reason)
    if not (facts.chat_template or "").strip():
        return MatchResult(score=score, variant=variant, reasons=reasons)
    chat_variant, template_reason = template_evidence(facts.chat_template or "")
    if chat_variant is None:
        return MatchResult(score=score, variant=variant, reasons=(*reasons, template_reason), chat_format="shipped")
    return MatchResult(score=score, variant=chat_variant, reasons=(*reasons, template_reason))
