"""Recognise Mistral checkpoints from config.json and the chat template shipped beside it.

Every published Mistral generation is told apart by facts the other families never share:
the vocabulary size (32000 sentencepiece v1, 32768 sentencepiece v3 with control tokens,
131072 Tekken), the sliding window of 7B v0.1 and the expert count of Mixtral. Only Mistral's
own model types (``MODEL_TYPES``) are claimed: a Llama-2 config with a 32000 vocabulary
is ``model_type: llama`` and stays with whoever claims Llama.

A ``mistral``/``mixtral`` config with another vocabulary (a fine-tune that added tokens, a
later Tekken model such as Mistral-Small) is claimed with score 50 and the variant
``custom``: the architecture is known, the chat format is not, so the plugin renders with the
checkpoint's own chat template (see ``chat.py``).

The chat template shipped in the model directory is evidence too: config.json names the
architecture, the shipped template names the chat format the weights were trained on. Every
Mistral format is built from the ``[INST]``/``[/INST]`` control tokens (mistral-common
``SpecialTokens``), so their presence confirms a Mistral format; a template without them
belongs to a fine-tune that kept the architecture and changed the format (ChatML merges,
Llama 3-style headers, Zephyr, DeepSeek distills): its own template must render the chat. The
later markers tell the generations apart (``[SYSTEM_PROMPT]`` from tokenizer v7, ``[THINK]``
from v13, ``[ARGS]``/``[CALL_ID]`` tool calls from v11).
"""

from __future__ import annotations

from dataclasses import dataclass

from framework.hookdata import MatchResult, ModelFacts

from framework_mistral.vocab import VOCAB_TEKKEN, VOCAB_V1, VOCAB_V3

# ── the shipped chat template ─────────────────────────────────────────────────────────

#: Markers of other chat formats, to name the one found (first match wins).
FOREIGN = (
    ("<|im_start|>", "ChatML (<|im_start|>)"),
    ("<|start_header_id|>", "Llama 3 headers (<|start_header_id|>)"),
    ("<|header_start|>", "Llama 4 headers (<|header_start|>)"),
    ("<start_of_turn>", "Gemma turns (<start_of_turn>)"),
    ("<｜User｜>", "DeepSeek (<｜User｜>)"),
    ("<|user|>", "Zephyr/Phi (<|user|>)"),
    ("### Instruction", "Alpaca (### Instruction)"),
)


@dataclass(frozen=True)
class TemplateEvidence:
    """A shipped template's verdict: is it a Mistral format, and which markers decided."""

    mistral: bool
    reason: str
    system_prompt_tokens: bool = False  # [SYSTEM_PROMPT] (tokenizer v7 and later)
    think_tokens: bool = False  # [THINK] (tokenizer v13 and later, Magistral 2507+)
    args_tokens: bool = False  # [ARGS] tool calls (tokenizer v11 and later)


def template_evidence(template: str | None) -> TemplateEvidence | None:
    """The evidence of ``template``; None when the model directory ships no template."""
    if not template:
        return None
    if "[INST]" in template:
        markers = [m for m in ("[SYSTEM_PROMPT]", "[THINK]", "[ARGS]", "[TOOL_CALLS]") if m in template]
        found = f" and {', '.join(markers)}" if markers else ""
        return TemplateEvidence(
            mistral=True, reason=f"chat template of the model directory: Mistral [INST] control tokens{found}",
            system_prompt_tokens="[SYSTEM_PROMPT]" in template, think_tokens="[THINK]" in template,
            args_tokens="[ARGS]" in template)
    name = next((label for marker, label in FOREIGN if marker in template), "a format without [INST]")
    return TemplateEvidence(
        mistral=False, reason=f"chat template of the model directory: {name}, not a Mistral format: the shipped "
        "template renders the chat, the architecture stays Mistral's")


# ── config.json ───────────────────────────────────────────────────────────────────────

MODEL_TYPES = ("mistral", "mixtral", "mistral3", "ministral3", "mistral4")

# NeMo's rope_theta; later Tekken models (Mistral-Small-2501, Ministral) use 1e8 and a
# different chat format (system-prompt tokens), so theta separates them from NeMo.
NEMO_ROPE_THETA = 1_000_000.0


@dataclass(frozen=True)
class Variant:
    """One published generation: which chat format it speaks and why we believe so."""

    name: str
    chat_format: str | None  # "v1", "v3", "tekken", "v7", "v11", "v13", or None (the checkpoint's template)
    description: str
    reasoning: bool = False  # renders [THINK] reasoning and inserts the default reasoning system prompt


VARIANTS: dict[str, Variant] = {
    "v0.1": Variant("v0.1", "v1", "Mistral 7B v0.1: sentencepiece v1 (32000), sliding window 4096"),
    "v0.2": Variant("v0.2", "v1", "Mistral 7B v0.2: sentencepiece v1 (32000), no sliding window, theta 1e6"),
    "v0.3": Variant("v0.3", "v3", "Mistral 7B v0.3: sentencepiece v3 (32768) with [INST] control tokens"),
    "nemo": Variant("nemo", "tekken", "Mistral NeMo 12B: Tekken (131072), explicit head_dim 128"),
    "mixtral": Variant("mixtral", "v1", "Mixtral 8x7B/8x22B v0.1: MoE, sentencepiece v1 (32000)"),
    "mixtral-v3": Variant("mixtral-v3", "v3", "Mixtral 8x22B Instruct v0.1: MoE, sentencepiece v3 (32768)"),
    "small": Variant("small", "v7", "Mistral Small 24B 2501 / Devstral Small 1.0: Tekken v7, [SYSTEM_PROMPT]"),
    "small-v11": Variant("small-v11", "v11", "Mistral Small 3.2 / Devstral Small 1.1: Tekken v11, "
                         "[TOOL_CALLS]name[CALL_ID]id[ARGS]"),
    "small3": Variant("small3", "v7", "Mistral Small 3.1 24B: mistral3 wrapper (Pixtral vision), Tekken v7"),
    "small3-v11": Variant("small3-v11", "v11", "Mistral Small 3.2 24B: mistral3 wrapper (Pixtral vision), Tekken v11"),
    "magistral": Variant("magistral", "v13", "Magistral Small: reasoning in [THINK]...[/THINK], Tekken v13",
                         reasoning=True),
    "ministral3": Variant("ministral3", "v13", "Ministral 3 / Devstral 2: text config ministral3 (YaRN), Tekken v13 "
                          "[TOOL_CALLS]name[ARGS]"),
    "ministral3-reasoning": Variant("ministral3-reasoning", "v13", "Ministral 3 Reasoning: ministral3 (YaRN), "
                                    "[THINK] reasoning, Tekken v13", reasoning=True),
    "small4": Variant("small4", None, "Mistral Small 4: mistral4 MoE with MLA attention (kv_lora_rank), shared "
                      "experts, YaRN; chat from the shipped template (tokenizer version unconfirmed)"),
    "custom": Variant("custom", None, "Mistral architecture with an unpublished vocabulary"),
    "mixtral-custom": Variant("mixtral-custom", None, "Mixtral architecture with an unpublished vocabulary"),
}


def variant_of(facts: ModelFacts) -> Variant:
    """The variant recorded by selection, or recomputed when a hook is called directly."""
    if facts.variant in VARIANTS:
        return VARIANTS[facts.variant]
    claim = match(facts)
    return VARIANTS[claim.variant] if claim else VARIANTS["custom"]


#: transformers' MistralConfig default: a config.json without the key gets this window.
MISTRAL_DEFAULT_WINDOW = 4096


def sliding_window(facts: ModelFacts) -> int | None:
    """The window the loaded model will use, or None.

    An explicit ``null`` disables it; an absent key means transformers' default, which is
    4096 for ``MistralConfig`` (7B v0.1 copies that drop the key, e.g. MLC's, still slide)
    and none for ``MixtralConfig``.
    """
    if facts.use_sliding_window is False:
        return None
    if facts.sliding_window:
        return facts.sliding_window
    if facts.raw and "sliding_window" not in facts.raw and facts.model_type == "mistral":
        return MISTRAL_DEFAULT_WINDOW
    return None


def is_moe(facts: ModelFacts) -> bool:
    """Mixtral or Mistral 4 layout: fused experts and a router that must never be adapted."""
    return facts.model_type == "mixtral" or bool(facts.num_experts)


def is_wrapper(facts: ModelFacts) -> bool:
    """A ``mistral3`` vision-language wrapper: only its language model is trained."""
    return facts.model_type == "mistral3"


def is_mla(facts: ModelFacts) -> bool:
    """Mistral 4's MLA-style attention (q_a/q_b, kv_a/kv_b low-rank projections)."""
    return _text_type(facts) == "mistral4"


def _mistral(facts: ModelFacts) -> MatchResult:
    vocab = facts.vocab_size
    reasons = [f"model_type={facts.model_type}", f"vocab_size={vocab}"]
    if vocab == VOCAB_TEKKEN and facts.rope_theta == NEMO_ROPE_THETA:
        if facts.head_dim:
            reasons.append(f"head_dim={facts.head_dim} (explicit)")
        return MatchResult(score=100, variant="nemo", reasons=(*reasons, "rope_theta=1e6 (Tekken, NeMo)"))
    if vocab == VOCAB_V3:
        return MatchResult(score=100, variant="v0.3", reasons=(*reasons, "sentencepiece v3 with control tokens"))
    window = sliding_window(facts)
    if vocab == VOCAB_V1 and window:
        how = "" if facts.sliding_window else " (key absent: transformers default)"
        return MatchResult(score=100, variant="v0.1", reasons=(*reasons, f"sliding_window={window}{how}"))
    if vocab == VOCAB_V1:
        return MatchResult(score=100, variant="v0.2", reasons=(*reasons, "sliding_window=null"))
    return MatchResult(
        score=50, variant="custom",
        reasons=(*reasons, "vocabulary of no published Mistral tokenizer: the checkpoint's own template is used"),
    )


def _mixtral(facts: ModelFacts) -> MatchResult:
    reasons = [f"model_type={facts.model_type}", f"num_local_experts={facts.num_experts}",
               f"vocab_size={facts.vocab_size}"]
    if facts.vocab_size == VOCAB_V1:
        return MatchResult(score=100, variant="mixtral", reasons=tuple(reasons))
    if facts.vocab_size == VOCAB_V3:
        return MatchResult(score=100, variant="mixtral-v3", reasons=tuple(reasons))
    return MatchResult(
        score=50, variant="mixtral-custom",
        reasons=(*reasons, "vocabulary of no published Mistral tokenizer: the checkpoint's own template is used"),
    )


def _with_template(facts: ModelFacts, match: MatchResult) -> MatchResult:
    """Weigh the shipped chat template: it confirms a Mistral format or hands the chat to itself.

    A Mistral architecture whose template has no ``[INST]`` (a ChatML or Llama 3-style
    fine-tune) stays claimed, with its score, for everything but chat: ``chat_format="shipped"``.
    """
    found = template_evidence(facts.chat_template)
    if found is None:
        return match
    update: dict[str, object] = {"reasons": (*match.reasons, found.reason)}
    if not found.mistral:
        update["chat_format"] = "shipped"
    return match.model_copy(update=update)


def _tekken_text(facts: ModelFacts, reasons: list[str], wrapper: bool) -> MatchResult:
    """Tekken models after NeMo (rope_theta 1e8/1e9): the version from the template, else the name.

    Configs of Small 3.1 and 3.2, or of Magistral and Small, are identical; the shipped template
    (``[THINK]``: Magistral, ``[CALL_ID]``: v11) decides, and for offline hub ids the name does.
    """
    found = template_evidence(facts.chat_template)
    name = facts.name_or_path.lower()
    if (found and found.mistral and found.think_tokens) or (not found and "magistral" in name):
        why = "chat template of the model directory: [THINK] reasoning tokens" if found else "name says Magistral"
        return MatchResult(score=100, variant="magistral", reasons=(*reasons, why))
    v11 = (found.args_tokens and "[CALL_ID]" in (facts.chat_template or "")) if found and found.mistral else \
        any(key in name for key in ("3.2", "2506", "devstral-small-2507"))
    base = "small3" if wrapper else "small"
    variant = f"{base}-v11" if v11 else base
    why = ("chat template of the model directory: [CALL_ID] tool calls (v11)" if found and v11 else
           "name of a v11 checkpoint (Small 3.2 / Devstral Small 1.1)" if v11 else "Tekken v7 ([SYSTEM_PROMPT])")
    return MatchResult(score=100, variant=variant, reasons=(*reasons, why))


def _text_type(facts: ModelFacts) -> str:
    return str((facts.text_config or {}).get("model_type") or facts.model_type)


def _ministral3(facts: ModelFacts, reasons: list[str]) -> MatchResult:
    found = template_evidence(facts.chat_template)
    reasoning = (found.think_tokens if found and found.mistral else "reasoning" in facts.name_or_path.lower())
    rope = facts.rope_scaling or {}
    reasons = [*reasons, f"YaRN factor {rope.get('factor')} over {rope.get('original_max_position_embeddings')}"]
    if reasoning:
        why = "chat template: [THINK] reasoning tokens" if found else "name says Reasoning"
        return MatchResult(score=100, variant="ministral3-reasoning", reasons=(*reasons, why))
    return MatchResult(score=100, variant="ministral3", reasons=tuple(reasons))


def _generation_2025(facts: ModelFacts) -> MatchResult | None:
    """mistral3 wrappers (Pixtral vision + a Mistral language model), ministral3 and mistral4 configs."""
    text = _text_type(facts)
    reasons = [f"model_type={facts.model_type}"] + ([f"text_config.model_type={text}"] if facts.text_config else [])
    reasons.append(f"vocab_size={facts.vocab_size}")
    if text == "mistral4":
        return MatchResult(score=100, variant="small4", chat_format="shipped", reasons=(
            *reasons, f"MoE {facts.num_experts} routed experts + shared experts, MLA attention "
            f"(kv_lora_rank={(facts.text_config or facts.raw).get('kv_lora_rank')})",
            "tokenizer version of Small 4 unconfirmed: the shipped chat template renders the chat"))
    if text == "ministral3":
        return _ministral3(facts, reasons)
    if facts.model_type == "mistral3" and text == "mistral":
        return _tekken_text(facts, reasons, wrapper=True)
    return None


def match(facts: ModelFacts) -> MatchResult | None:
    """Claim Mistral configs (``mistral``, ``mixtral``, ``mistral3``, ``ministral3``, ``mistral4``)."""
    if facts.model_type == "mixtral":
        return _with_template(facts, _mixtral(facts))
    if facts.model_type in ("mistral3", "ministral3", "mistral4"):
        claim = _generation_2025(facts)
        return _with_template(facts, claim) if claim else None
    if facts.model_type == "mistral":
        if facts.vocab_size == VOCAB_TEKKEN and facts.rope_theta not in (None, NEMO_ROPE_THETA):
            reasons = [f"model_type={facts.model_type}", f"vocab_size={facts.vocab_size}",
                       f"rope_theta={facts.rope_theta:g} (not NeMo's 1e6)"]
            return _with_template(facts, _tekken_text(facts, reasons, wrapper=False))
        return _with_template(facts, _mistral(facts))
    return None


def uses_shipped_template(facts: ModelFacts) -> bool:
    """The chat belongs to the model's own template (decided by selection, or recomputed)."""
    if facts.chat_format is not None:
        return facts.chat_format == "shipped"
    found = template_evidence(facts.chat_template)
    return found is not None and not found.mistral
