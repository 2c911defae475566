"""Qwen's tokenizer, data and weight traps, reported as findings with the fix the core applies.

Pitfall ids (Q1..Q9) refer to shared/reference/families.md §2.C.
"""

from __future__ import annotations

from typing import Any

from framework.embedding_rows import untrained_rows_finding
from framework.hookdata import Finding, Fix, ModelFacts

from framework_qwen.chat import TEMPLATE_TOKENS, THINKING_VARIANTS, variant_of
from framework_qwen.detect import is_qwen35, template_variant
from framework_qwen.presets import SLOW_KERNELS, have_fast_kernels
from framework_qwen.vocab import ENDOFTEXT, IM_END, IM_START, THINK_CLOSE, THINK_OPEN

SRC_EOS = "https://github.com/QwenLM/Qwen3/issues/927 (base eos <|endoftext|>, stop via generation_config)"
SRC_STOP = "https://github.com/QwenLM/Qwen3/blob/main/docs/source/inference/transformers.md (eos_token_id=[151645, 151643])"
SRC_PAD = "https://github.com/huggingface/open-r1/pull/494 (pad == eos masks the EOS label)"
SRC_BOS = "QwenLM/Qwen3 docs/source/getting_started/concepts.md (no bos token; bos must not be <|im_start|>)"
SRC_THINK = "QwenLM/Qwen3 concepts.md (thinking block only in the final round); LLaMA-Factory qwen3_nothink template"
SRC_UNTRAINED = ("https://github.com/OpenRLHF/OpenRLHF/pull/648 (zero rows of unused special tokens); "
                 "QwenLM/Qwen finetune.py (base models have no knowledge of ChatML tokens: train wte, lm_head)")



def token_id(tokenizer: Any, token: str) -> int | None:
    """The id of ``token`` when the vocabulary has it as one token, else None."""
    try:
        tid = tokenizer.convert_tokens_to_ids(token)
    except Exception:
        return None
    if tid is None or (isinstance(tid, int) and tid == getattr(tokenizer, "unk_token_id", None)):
        return None
    return tid if isinstance(tid, int) else None


def _format_group(variant: str) -> str:
    """Variants whose official templates render identically."""
    return "2" if variant in ("1", "1.5", "2") else variant


def _template_findings(variant: str, tokenizer: Any) -> list[Finding]:
    """The tokenizer's template against the variant (when the variant came from the config alone)."""
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str) or not template:
        return []
    found, evidence = template_variant(template)
    if IM_START not in template:
        return [Finding(
            code="template-not-chatml", severity="warning",
            message="the tokenizer's chat template is not ChatML, but this plugin trains in Qwen's "
            "ChatML; to train in the tokenizer's own format set data.template=shipped",
        )]
    if found is None or _format_group(found) != _format_group(variant):
        shown = evidence if found is None else f"the {evidence}"
        return [Finding(
            code="template-variant-mismatch", severity="warning",
            message=f"the tokenizer carries {shown} but the model was recognised as Qwen{variant}; "
            f"samples are rendered in the Qwen{variant} format (default system prompt, thinking block and "
            "tool syntax differ): set data.template=shipped to train in the tokenizer's format, or put the "
            "template in the model directory so that it decides the variant",
        )]
    return []


def _pad_findings(tokenizer: Any) -> list[Finding]:
    pad = getattr(tokenizer, "pad_token", None)
    if pad is not None and pad != IM_END:
        return []
    if token_id(tokenizer, ENDOFTEXT) is None:
        return [Finding(code="no-pad-candidate", severity="error",
                        message=f"pad token is {pad!r} and the vocabulary has no {ENDOFTEXT} to pad with",
                        source=SRC_PAD)]
    why = "is missing" if pad is None else f"is the end-of-turn token {IM_END}, whose label padding would mask"
    return [Finding(
        code="pad-token", severity="warning",
        message=f"pad token {why}; Qwen pads with {ENDOFTEXT}, which the chat format never has to predict (Q2)",
        fix=Fix(description=f"set pad_token to {ENDOFTEXT}", special_tokens={"pad_token": ENDOFTEXT}),
        source=SRC_PAD,
    )]


def _bos_findings(tokenizer: Any) -> list[Finding]:
    bos = getattr(tokenizer, "bos_token", None)
    if bos is None:
        return []
    findings: list[Finding] = []
    if bos == IM_START:
        findings.append(Finding(
            code="bos-is-im-start", severity="warning",
            message=f"bos_token is {IM_START}: any tool that prepends BOS doubles the turn start (Q9)",
            source=SRC_BOS,
        ))
    try:
        ids = tokenizer("a")["input_ids"]
        bos_id = tokenizer.convert_tokens_to_ids(bos)
    except Exception:
        return findings
    if ids and ids[0] == bos_id:
        findings.append(Finding(
            code="tokenizer-adds-bos", severity="warning",
            message=f"the tokenizer prepends BOS {bos!r}, but Qwen has no BOS (Q9); training samples are "
            "tokenized without it, other tools calling this tokenizer will add it",
            source=SRC_BOS,
        ))
    return findings


def check_tokenizer(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    """Missing ChatML tokens, pad, BOS, eos vs end-of-turn, and a template of another generation.

    A model rendered with its shipped template (a Qwen architecture fine-tuned into another chat
    format, e.g. a DeepSeek-R1 distill) has none of ChatML's tokens to demand: nothing to check here."""
    if facts.chat_format == "shipped":
        return []
    variant = variant_of(facts.variant)
    missing = [t for t in TEMPLATE_TOKENS[variant] if token_id(tokenizer, t) is None]
    if missing:
        return [Finding(
            code="missing-chat-tokens", severity="error",
            message=f"the tokenizer has no {', '.join(missing)}: it is not a Qwen ChatML tokenizer "
            "(a model built on the Qwen architecture with another chat format?); force the generic "
            "plugin (--plugin generic) to train with the tokenizer's own template",
        )]
    findings = _pad_findings(tokenizer) + _bos_findings(tokenizer)
    if getattr(tokenizer, "eos_token", None) != IM_END:
        findings.append(Finding(
            code="eos-not-end-of-turn", severity="warning",
            message=f"eos is {getattr(tokenizer, 'eos_token', None)!r} (a base checkpoint) while ChatML turns "
            f"end with {IM_END}: without it in the stop list the tuned model never stops (Q1)",
            fix=Fix(description=f"stop generation on {IM_END} as well", stop_tokens=(IM_END,)),
            source=SRC_EOS,
        ))
    return findings + _template_findings(variant, tokenizer)


def check_data(facts: ModelFacts, texts: list[str]) -> list[Finding]:
    """Reasoning blocks in the data versus the variant's thinking format (Q6)."""
    if not texts or facts.chat_format == "shipped":
        return []
    variant = variant_of(facts.variant)
    with_think = sum(1 for t in texts if THINK_OPEN in t or THINK_CLOSE in t)
    if variant not in THINKING_VARIANTS:
        if not with_think:
            return []
        return [Finding(
            code="think-tags-as-text", severity="warning",
            message=f"{with_think} texts contain <think> blocks, but Qwen{variant} has no thinking format: "
            "the tags are trained as ordinary text", source=SRC_THINK,
        )]
    if with_think:
        return [Finding(
            code="reasoning-last-turn-only", severity="info",
            message=f"{with_think} texts carry <think> reasoning; the official Qwen{variant} template keeps it only "
            "in assistant turns after the last user message and drops it from earlier turns (Q6)",
            source=SRC_THINK,
        )]
    return [Finding(
        code="no-reasoning-in-data", severity="info",
        message=f"no text has a <think> block: Qwen{variant}'s template gives each final reply an empty think block, "
        "so the model learns to answer without thinking; mix in reasoning data to keep thinking mode (Q6)",
        source=SRC_THINK,
    )]


def kernel_findings(device: str, have_kernels: bool) -> list[Finding]:
    """On CUDA without the linear-attention kernels, a warning with the slowdown and the install line."""
    if device != "cuda" or have_kernels:
        return []
    return [Finding(code="linear-attention-slow-path", severity="warning", message=SLOW_KERNELS,
                    source="https://github.com/huggingface/transformers/issues/48718")]


def _kernel_findings(facts: ModelFacts, model: Any) -> list[Finding]:
    """Qwen3.5 on CUDA without flash-linear-attention / causal-conv1d runs the slow fallback."""
    if not is_qwen35(facts):
        return []
    try:
        device = next(model.parameters()).device.type
    except (StopIteration, AttributeError):
        return []
    return kernel_findings(device, have_fast_kernels())


def _v1_base_findings(facts: ModelFacts) -> list[Finding]:
    """QwenLM/Qwen finetune.py treats a model whose name lacks 'chat' as a base model whose wte and
    lm_head must be trained for ChatML; its untrained rows are random, so norms cannot show it."""
    if variant_of(facts.variant) != "1" or "chat" in facts.name_or_path.lower():
        return []
    return [Finding(
        code="v1-base-chat-tokens", severity="warning",
        message="a Qwen v1 base checkpoint has not learnt the ChatML tokens; Qwen's own finetune.py trains "
        "wte and lm_head with LoRA on base models (set lora.train_embeddings) (Q3)",
        source="https://github.com/QwenLM/Qwen/blob/main/finetune.py (modules_to_save=['wte', 'lm_head'])",
    )]


def check_model(facts: ModelFacts, model: Any, tokenizer: Any) -> list[Finding]:
    """ChatML token rows left untrained in a base checkpoint (near-zero norm): re-initialise them."""
    findings = _kernel_findings(facts, model)
    if facts.chat_format == "shipped":
        return findings  # the shipped template's tokens are not ChatML's: the generic checks cover them
    variant = variant_of(facts.variant)
    findings += _v1_base_findings(facts)
    named = {t: token_id(tokenizer, t) for t in TEMPLATE_TOKENS[variant]}
    finding = untrained_rows_finding(model, named, source=SRC_UNTRAINED,
                                     advice="they are re-initialised to the mean of the trained rows")
    return findings + ([finding] if finding is not None else [])
