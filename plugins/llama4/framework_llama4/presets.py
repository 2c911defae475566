"""Llama 4 defaults as data, each value with where it comes from.

Hyperparameters per method and stage, the load settings and the LoRA targets (attention, shared
expert and dense MLP projections as modules; the fused routed-expert weights as parameters;
never the router). The config.json facts of Meta's published checkpoints live in ``checkpoints``.
"""

from __future__ import annotations

from typing import Any

from framework.method_kinds import LORA_METHODS, LORA_TARGETED, WEIGHT_UPDATING
from framework.hookdata import HardwareFacts, LoadSettings, LoraTargets, ModelFacts
from framework_llama4.detect import is_multimodal

# ── sources ───────────────────────────────────────────────────────────────────────────────
LF_LLAMA4 = "https://github.com/hiyouga/LLaMA-Factory/blob/main/examples/train_lora/llama4_lora_sft_ds3.yaml"
LF_FULL_SFT = "https://github.com/hiyouga/LLaMA-Factory/blob/main/examples/train_full/llama3_full_sft.yaml"
LF_LORA_DPO = "https://github.com/hiyouga/LLaMA-Factory/blob/main/examples/train_lora/llama3_lora_dpo.yaml"
LF_ALPHA = "LLaMA-Factory's default lora_alpha is twice lora_rank (hparams/finetuning_args.py)"
PEFT_PARAM_WRAPPER = ("peft tuners/lora/layer.py ParamWrapper: 'does not work with lora_dropout != 0' (the fused "
                      "expert weights are adapted through target_parameters)")
QLORA_PAPER = "https://arxiv.org/abs/2305.14314 (QLoRA appendix: lr 1e-4 for the 33B/65B models)"
TF_MASKING = ("transformers masking_utils.create_chunked_causal_mask: remap_positions_for_packed_sequence applies "
              "the chunks to each packed sample's own positions")
TF_FA_CHUNK = ("transformers masking_utils: 'Flash attention cannot handle chunked attention' beyond "
               "attention_chunk_size")

# ── hyperparameters ───────────────────────────────────────────────────────────────────────
Table = dict[str, tuple[Any, str]]

COMMON: Table = {
    "training.lr_scheduler": ("cosine", LF_LLAMA4),
    "training.warmup": (0.1, LF_LLAMA4),
}
LORA: Table = {
    "lora.r": (8, LF_LLAMA4),
    "lora.alpha": (16, LF_ALPHA),
    "lora.dropout": (0.0, PEFT_PARAM_WRAPPER),
    "training.learning_rate": (1e-4, LF_LLAMA4),
    "training.epochs": (3.0, LF_LLAMA4),
}
FULL: Table = {
    "training.learning_rate": (1e-5, LF_FULL_SFT + " (no Llama 4 full fine-tuning recipe found; Llama 3's)"),
    "training.epochs": (3.0, LF_FULL_SFT),
}
METHOD_OVERRIDES: dict[str, Table] = {
    "qlora": {"training.learning_rate": (1e-4, QLORA_PAPER)},
    "qlora8": {"training.learning_rate": (1e-4, QLORA_PAPER)},
    "hybrid": {"training.learning_rate": (1e-5, LF_FULL_SFT)},
}
DPO_ADAPTER: Table = {"training.learning_rate": (5e-6, LF_LORA_DPO)}


def hyperparameter_table(facts: ModelFacts, method: str, stage: str) -> Table:
    """Dotted key -> (value, source) for a method and stage; prompt methods get only the common keys."""
    table = dict(COMMON)
    if method in LORA_TARGETED:
        table.update(LORA)
    elif method in WEIGHT_UPDATING:
        table.update(FULL)
    table.update(METHOD_OVERRIDES.get(method, {}))
    if stage == "dpo" and method in LORA_METHODS:
        table.update(DPO_ADAPTER)
    return table


def default_hyperparameters(facts: ModelFacts, method: str, stage: str) -> dict[str, Any]:
    return {key: value for key, (value, _) in hyperparameter_table(facts, method, stage).items()}


# ── loading and adapters ──────────────────────────────────────────────────────────────────
ATTENTION = ("sdpa", "eager")
#: The routed experts' fused 3-D weights (``Llama4TextExperts``): parameters, not modules.
EXPERT_PARAMETERS = ("feed_forward.experts.gate_up_proj", "feed_forward.experts.down_proj")
ROUTER = ("router",)
EMBEDDING_MODULES = ("embed_tokens", "lm_head")
#: Every attention and MLP projection of the language model, in both layouts transformers builds:
#: ``model.layers.N...`` (``Llama4ForCausalLM``, which ``AutoModelForCausalLM`` loads even from a
#: multimodal checkpoint, dropping the vision tower) and ``model.language_model.layers.N...``
#: (``Llama4ForConditionalGeneration``). The vision tower's own q/k/v/o projections never match.
TARGETS = (r"(?!.*vision_model)(.*\.)?layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)"
           r"|feed_forward\.(shared_expert\.)?(gate_proj|up_proj|down_proj))")


def load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    notes = [
        f"SDPA, not flash-attention 2: {TF_FA_CHUNK}; SDPA applies the chunks at any length",
        f"padding-free packing is exact for the chunked-attention and NoPE layers: {TF_MASKING} (tested: packed "
        "logits equal separate runs); the NoPE layers' temperature tuning follows the row position from "
        "floor_scale (8192) on, so rows up to 8191 tokens are exact",
        "LoRA reaches the routed experts through peft target_parameters (fused 3-D weights); the router stays "
        "frozen; QLoRA quantizes the linear layers, the expert weights stay in the compute dtype",
    ]
    if is_multimodal(facts):
        notes.append("multimodal checkpoint: only the language model is trained (the vision tower stays frozen)")
    if hardware.device != "cpu" and not hardware.bf16_supported:
        notes.append(f"this {hardware.gpu_name or hardware.device} has no bf16: training runs in fp32")
    return LoadSettings(attn_implementations=ATTENTION, supports_packing=True,
                        train_language_model_only=is_multimodal(facts), notes=tuple(notes))


def lora_targets(facts: ModelFacts, train_embeddings: bool) -> LoraTargets:
    """Attention, shared-expert and dense MLP projections; routed experts as parameters; never the router."""
    extra: dict[str, Any] = {"modules_to_save": EMBEDDING_MODULES} if train_embeddings else {}
    return LoraTargets(target_modules=TARGETS, target_parameters=EXPERT_PARAMETERS, exclude_modules=ROUTER, **extra)
