"""Phi-3 defaults as data, each value with where it comes from.

Hyperparameters per method, the load settings and the LoRA targets; the published
checkpoints' config.json facts live in ``checkpoints``.
"""

from __future__ import annotations

from typing import Any

from framework.hookdata import HardwareFacts, LoadSettings, LoraTargets, ModelFacts

# ── sources ───────────────────────────────────────────────────────────────────────────────
SAMPLE_FINETUNE = "https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/sample_finetune.py"
LF_LORA_SFT = "https://github.com/hiyouga/LLaMA-Factory/blob/main/examples/train_lora/llama3_lora_sft.yaml"
QLORA_PAPER = "https://arxiv.org/abs/2305.14314 (QLoRA: lr 2e-4 for 7B/13B)"
TF_PHI3 = "https://github.com/huggingface/transformers/blob/main/src/transformers/models/phi3/modeling_phi3.py"

# ── hyperparameters ───────────────────────────────────────────────────────────────────────
Table = dict[str, tuple[Any, str]]

COMMON: Table = {
    "training.lr_scheduler": ("cosine", SAMPLE_FINETUNE),
    "training.warmup": (0.2, SAMPLE_FINETUNE),
}
LORA: Table = {
    "lora.r": (16, SAMPLE_FINETUNE),
    "lora.alpha": (32, SAMPLE_FINETUNE),
    "lora.dropout": (0.05, SAMPLE_FINETUNE),
    # The sample's 5e-6 is a full fine-tuning rate; adapters need the usual LoRA rate.
    "training.learning_rate": (1e-4, LF_LORA_SFT),
}
FULL: Table = {
    "training.learning_rate": (5e-6, SAMPLE_FINETUNE),
    "training.epochs": (1.0, SAMPLE_FINETUNE),
}
QLORA: Table = {"training.learning_rate": (2e-4, QLORA_PAPER)}

ADAPTER_METHODS = ("lora", "dora", "rslora", "qlora", "qlora8")
FULL_METHODS = ("full", "freeze", "hybrid")


def hyperparameter_table(method: str) -> Table:
    """Dotted key -> (value, source) for a method; prompt-learning methods get the common keys only."""
    table = dict(COMMON)
    if method in ADAPTER_METHODS:
        table.update(LORA)
    if method in ("qlora", "qlora8"):
        table.update(QLORA)
    if method in FULL_METHODS:
        table.update(FULL)
    return table


def default_hyperparameters(method: str) -> dict[str, Any]:
    return {key: value for key, (value, _) in hyperparameter_table(method).items()}


# ── loading and adapters ──────────────────────────────────────────────────────────────────
ATTENTION = ("flash_attention_2", "sdpa", "eager")
#: Phi-3 fuses q/k/v into ``qkv_proj`` and gate/up into ``gate_up_proj``: the Llama names
#: (q_proj, gate_proj, ...) match nothing. source: TF_PHI3
TARGET_MODULES = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
EMBEDDING_MODULES = ("embed_tokens", "lm_head")


def load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    notes = [
        "transformers has Phi-3 built in: the auto_map in the published config.json (remote code) is not needed",
    ]
    if facts.sliding_window and facts.max_position_embeddings and facts.sliding_window < facts.max_position_embeddings:
        notes.append(f"sliding window of {facts.sliding_window} tokens: flash-attn and SDPA both apply it "
                     f"(transformers builds a sliding-window mask for Phi-3; {TF_PHI3})")
    if hardware.device == "cuda" and not hardware.bf16_supported:
        notes.append(f"no bf16 on {hardware.gpu_name or 'this GPU'}: the checkpoints are bf16; training runs in "
                     "fp32 or fp16 with loss scaling")
    return LoadSettings(attn_implementations=ATTENTION, trust_remote_code=False, supports_packing=True,
                        notes=tuple(notes))


def lora_targets(facts: ModelFacts, train_embeddings: bool) -> LoraTargets:
    """Every fused attention and MLP projection; embeddings and head in full only when asked."""
    if not train_embeddings:
        return LoraTargets(target_modules=TARGET_MODULES)
    return LoraTargets(target_modules=TARGET_MODULES, modules_to_save=EMBEDDING_MODULES,
                       ensure_weight_tying=bool(facts.tie_word_embeddings))

