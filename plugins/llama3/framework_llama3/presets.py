"""Llama 3 defaults as data, each value with where it comes from.

Hyperparameters per method and stage, the load settings and the LoRA targets. The config.json
facts of Meta's published checkpoints live in ``checkpoints``.
"""

from __future__ import annotations

from typing import Any

from framework.method_kinds import LORA_METHODS, LORA_TARGETED, WEIGHT_UPDATING
from framework.hookdata import HardwareFacts, LoadSettings, LoraTargets, ModelFacts

# ── sources ───────────────────────────────────────────────────────────────────────────────
SEED_LLAMA3 = ("shared/seeds/000_5a1c4f87ca98d43d.txt (5.1 Llama 3 / 3.1: LoRA lr 1e-4..5e-5, full 1e-5..5e-6, "
               "clip 1.0, r16/a32/d0.05)")
LF = "https://github.com/hiyouga/LLaMA-Factory/blob/main/examples"
LF_LORA_SFT = f"{LF}/train_lora/llama3_lora_sft.yaml"
LF_FULL_SFT = f"{LF}/train_full/llama3_full_sft.yaml"
LF_LORA_DPO = f"{LF}/train_lora/llama3_lora_dpo.yaml"
ZEPHYR_DPO = "https://github.com/huggingface/alignment-handbook/blob/main/recipes/zephyr-7b-beta/dpo/config_full.yaml"
QLORA_PAPER = "https://arxiv.org/abs/2305.14314 (QLoRA appendix: lr 2e-4 for 7B/13B, 1e-4 for 33B/65B)"
RSLORA = "https://arxiv.org/abs/2312.03732 (rsLoRA scales by alpha/sqrt(r)): alpha 8 keeps LoRA's 2 at r=16"
TF_LLAMA3_DOC = "https://github.com/huggingface/transformers/blob/main/docs/source/en/model_doc/llama3.md"

# ── hyperparameters ───────────────────────────────────────────────────────────────────────
Table = dict[str, tuple[Any, str]]

COMMON: Table = {
    "training.max_grad_norm": (1.0, SEED_LLAMA3),
    "training.lr_scheduler": ("cosine", LF_LORA_SFT),
    "training.warmup": (0.1, LF_LORA_SFT),
}
LORA: Table = {
    "lora.r": (16, SEED_LLAMA3),
    "lora.alpha": (32, SEED_LLAMA3),
    "lora.dropout": (0.05, SEED_LLAMA3),
    "training.learning_rate": (1e-4, LF_LORA_SFT),
    "training.epochs": (3.0, LF_LORA_SFT),
    "training.weight_decay": (0.01, SEED_LLAMA3),
}
FULL: Table = {
    "training.learning_rate": (1e-5, LF_FULL_SFT),
    "training.epochs": (3.0, LF_FULL_SFT),
    "training.weight_decay": (0.01, SEED_LLAMA3),
}
#: Per method, what replaces or extends the LoRA / full tables.
METHOD_OVERRIDES: dict[str, Table] = {
    "rslora": {"lora.alpha": (8, RSLORA)},
    "qlora": {"training.learning_rate": (2e-4, QLORA_PAPER)},
    "qlora8": {"training.learning_rate": (2e-4, QLORA_PAPER)},
    # One learning rate serves both phases; the full phase decides it (a LoRA rate destabilises full training).
    "hybrid": {"training.learning_rate": (1e-5, LF_FULL_SFT)},
}
#: QLoRA paper: the 33B/65B models trained at half the 7B/13B rate; Llama 3 70B has hidden 8192.
LARGE_HIDDEN = 8192
QLORA_LARGE: Table = {"training.learning_rate": (1e-4, QLORA_PAPER)}
DPO_ADAPTER: Table = {"training.learning_rate": (5e-6, LF_LORA_DPO)}
DPO_FULL: Table = {"training.learning_rate": (5e-7, ZEPHYR_DPO), "training.epochs": (1.0, ZEPHYR_DPO)}

def hyperparameter_table(facts: ModelFacts, method: str, stage: str) -> Table:
    """Dotted key -> (value, source) for a method and stage; prompt methods get only the common keys."""
    table = dict(COMMON)
    if method in LORA_TARGETED:  # hybrid: its full-phase rate comes from METHOD_OVERRIDES
        table.update(LORA)
    elif method in WEIGHT_UPDATING:
        table.update(FULL)
    table.update(METHOD_OVERRIDES.get(method, {}))
    if method in ("qlora", "qlora8") and (facts.hidden_size or 0) >= LARGE_HIDDEN:
        table.update(QLORA_LARGE)
    if stage == "dpo":
        if method in LORA_METHODS:
            table.update(DPO_ADAPTER)
        elif method in WEIGHT_UPDATING:
            table.update(DPO_FULL)
    return table


def default_hyperparameters(facts: ModelFacts, method: str, stage: str) -> dict[str, Any]:
    return {key: value for key, (value, _) in hyperparameter_table(facts, method, stage).items()}


# ── loading and adapters ──────────────────────────────────────────────────────────────────
ATTENTION = ("flash_attention_2", "sdpa", "eager")
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
EMBEDDING_MODULES = ("embed_tokens", "lm_head")


def load_settings(hardware: HardwareFacts) -> LoadSettings:
    notes = [
        "fp16 refused: transformers' Llama 3 docs say float16 training is known to produce nan; "
        f"train in bf16 ({TF_LLAMA3_DOC})",
        "padding-free packing is exact: restarted position_ids give each sample its own RoPE positions and "
        "attention block (flash-attn varlen, or SDPA with the mask transformers builds from position_ids)",
    ]
    if hardware.device != "cpu" and not hardware.bf16_supported:
        notes.append(f"this {hardware.gpu_name or hardware.device} has no bf16: training runs in fp32, twice the "
                     "memory of bf16 (QLoRA keeps the frozen weights in 4-bit)")
    return LoadSettings(attn_implementations=ATTENTION, forbidden_dtypes=("fp16",), trust_remote_code=False,
                        supports_packing=True, train_language_model_only=False, notes=tuple(notes))


def lora_targets(facts: ModelFacts, train_embeddings: bool) -> LoraTargets:
    """Every attention and MLP projection; embeddings and head in full only when asked."""
    if not train_embeddings:
        return LoraTargets(target_modules=TARGET_MODULES)
    return LoraTargets(target_modules=TARGET_MODULES, modules_to_save=EMBEDDING_MODULES,
                       ensure_weight_tying=bool(facts.tie_word_embeddings))
