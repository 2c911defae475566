"""Qwen's defaults as data: hyperparameters per method, load settings and LoRA targets.

Every number names its source. Learning rates are reconciled across sources by the step size a
LoRA update takes, ``lr * alpha / r``: the seeds' LoRA 5e-5 at r 8 / alpha 16 gives 1e-4; Qwen's
LLaMA-Factory example 1e-4 at r 16 / alpha 16 gives 1e-4; QwenLM/Qwen's script 3e-4 at r 64 /
alpha 16 gives 7.5e-5. So the seeds' r 8 / alpha 16 / 5e-5 matches Qwen's own recommendation.
"""

from __future__ import annotations

import math
from typing import Any

from framework.method_kinds import LORA_METHODS, LORA_TARGETED, WEIGHT_UPDATING
from framework.hookdata import HardwareFacts, LoadSettings, LoraTargets, ModelFacts

from framework_qwen import qwen35
from framework_qwen.chat import variant_of

SOURCES: dict[str, str] = {
    "seed-qwen": "shared/seeds/000 §5.2 (Qwen: r 8, alpha 16, lr 1e-5..5e-5, 2-3 epochs, warmup 0.05, wd 0.01)",
    "seed-lr": "shared/seeds/003 §4.1 (lr by size: 7B full 1e-5 / LoRA 5e-5 / QLoRA 1e-4; 13B 5e-6 / 3e-5 / "
    "5e-5; 70B 1e-6 / 1e-5 / 3e-5) and §2.2 (r 8, alpha 16, dropout 0.05)",
    "seed-pt": "shared/seeds/004 §8.2 (pre-training warmup ratio 0.01-0.015)",
    "qwen-lora": "https://github.com/QwenLM/Qwen/blob/main/finetune/finetune_lora_single_gpu.sh (lr 3e-4 at r 64 / "
    "alpha 16, cosine, batch 2 x 8) and https://github.com/QwenLM/Qwen2.5/blob/main/examples/llama-factory/"
    "qwen2-7b-lora-sft.yaml (lr 1e-4 at r 16 / alpha 16, dropout 0.05; QLoRA the same)",
    "qwen-full": "https://github.com/QwenLM/Qwen/blob/main/finetune/finetune_ds.sh (full lr 1e-5, batch 1 x 16); "
    "https://github.com/QwenLM/Qwen2.5/blob/main/examples/llama-factory/qwen2-7b-full-sft.yaml (lr 1e-5)",
    "qwen-sft": "https://github.com/QwenLM/Qwen2.5/blob/main/examples/sft/finetune.sh (weight decay 0.01, cosine) "
    "and finetune.py (LoRA dropout 0.05)",
    "lf-dpo": "LLaMA-Factory examples/train_lora/qwen3_lora_dpo.yaml: LoRA DPO lr 5e-6 (families.md §5.3)",
    "derived": "derived in framework_qwen/presets.py (see the README defaults table)",
    "peft-param": "peft 0.21 lora.ParamWrapper (target_parameters) raises 'does not work with lora_dropout != 0'",
}

ADAPTERS = LORA_METHODS
FULL_LIKE = WEIGHT_UPDATING

#: Learning rates by size tier (shared/seeds/003 §4.1): full, LoRA, QLoRA.
LR_BY_TIER: dict[str, dict[str, float]] = {
    "7B": {"full": 1e-5, "lora": 5e-5, "qlora": 1e-4},
    "13B": {"full": 5e-6, "lora": 3e-5, "qlora": 5e-5},
    "70B": {"full": 1e-6, "lora": 1e-5, "qlora": 3e-5},
}

LORA_R = 8
LORA_ALPHA = 16


def approx_parameters(facts: ModelFacts) -> int | None:
    """Parameter count from the config (attention, MLP or experts, embeddings)."""
    if qwen35.is_qwen35(facts):
        return qwen35.approx_parameters(facts)
    h, layers, inter = facts.hidden_size, facts.num_hidden_layers, facts.intermediate_size
    heads = facts.num_attention_heads
    if not (h and layers and inter and heads):
        return None
    head_dim = facts.effective_head_dim or h // heads
    kv = facts.num_key_value_heads or heads
    attention = 2 * h * heads * head_dim + 2 * h * kv * head_dim
    if variant_of(facts.variant) == "1":
        inter //= 2  # v1's ffn_hidden_size counts w1 and w2 together (modeling_qwen.py: ffn_hidden_size // 2)
    mlp = 3 * h * inter
    if facts.num_experts:
        expert = int(facts.raw.get("moe_intermediate_size") or inter)
        shared = int(facts.raw.get("shared_expert_intermediate_size") or 0)
        mlp = 3 * h * (expert * facts.num_experts + shared)
    embeddings = (facts.vocab_size or 0) * h * (1 if facts.tie_word_embeddings else 2)
    return layers * (attention + mlp) + embeddings


def size_tier(facts: ModelFacts) -> str:
    """The seeds' size row a model falls in: up to 10B is '7B', up to 40B '13B', above '70B'."""
    params = approx_parameters(facts)
    if params is None or params <= 10e9:
        return "7B"
    return "13B" if params <= 40e9 else "70B"


def _learning_rate(method: str, tier: str) -> float | None:
    rates = LR_BY_TIER[tier]
    if method in FULL_LIKE:
        return rates["full"]  # freeze and hybrid update original weights first: full-fine-tuning rate
    if method in ("qlora", "qlora8"):
        return rates["qlora"]
    if method == "rslora":
        # rsLoRA scales by alpha/sqrt(r) instead of alpha/r: keep lr * scale equal to LoRA's.
        return float(f"{rates['lora'] * math.sqrt(LORA_R) / LORA_R:.2g}")
    if method in ("lora", "dora"):
        return rates["lora"]
    return None  # prompt learning: no Qwen-specific source, the core default applies


def hyperparameters(facts: ModelFacts, method: str, stage: str) -> dict[str, Any]:
    """Dotted run-config keys for ``method`` and ``stage`` (sources in SOURCES / README)."""
    values: dict[str, Any] = {
        "training.epochs": 2,  # seed-qwen: "2-3 epochs are usually enough" for Qwen
        "training.warmup": 0.01 if stage == "pt" else 0.05,  # seed-pt / seed-qwen
        "training.weight_decay": 0.01,  # seed-qwen, qwen-sft
        "training.lr_scheduler": "cosine",  # every Qwen script (qwen-lora, qwen-full, qwen-sft)
    }
    if method in LORA_TARGETED:
        values.update({"lora.r": LORA_R, "lora.alpha": LORA_ALPHA, "lora.dropout": 0.05})  # seed-lr, qwen-sft
        if facts.num_experts and variant_of(facts.variant) != "1":
            values["lora.dropout"] = 0.0  # peft-param: the fused experts' adapters take no dropout
    if method in FULL_LIKE:
        values.update({"training.micro_batch_size": 1, "training.grad_accum": 16})  # qwen-full
    else:
        values.update({"training.micro_batch_size": 2, "training.grad_accum": 8})  # qwen-lora
    rate = _learning_rate(method, size_tier(facts))
    if stage == "dpo":
        # lf-dpo for adapters; full-weight DPO one tenth of it, the full/LoRA ratio of every SFT source.
        rate = 5e-6 if method in ADAPTERS else 5e-7 if method in FULL_LIKE else None
    if rate is not None:
        values["training.learning_rate"] = rate
    return values


# ── load settings ──────────────────────────────────────────────────────────────────────────────

V1_NOTES = (
    "Qwen v1 runs its own modeling code (trust_remote_code): attention is chosen by its config "
    "(use_flash_attn), so only 'eager' is requested from transformers",
    "packing is off: v1's remote code derives rotary positions from the sequence length and takes "
    "no position_ids, so packed samples cannot restart their positions",
    "v1's remote code is reported incompatible with transformers > 4.53 (vLLM test registry); "
    "Qwen1.5 and later are the same family in native transformers",
    "base Qwen-7B has not learnt the ChatML tokens: QwenLM/Qwen finetune.py trains wte and lm_head "
    "for base models (set lora.train_embeddings)",
)


def load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    """Remote code and no packing for v1; the native kernels with packing for Qwen1.5 to Qwen3; Qwen3.5's own."""
    if qwen35.is_qwen35(facts):
        return qwen35.load_settings(facts, hardware)
    if variant_of(facts.variant) == "1":
        return LoadSettings(attn_implementations=("eager",), trust_remote_code=True,
                            supports_packing=False, notes=V1_NOTES)
    notes = ["bf16 preferred: the official checkpoints are stored in bfloat16 (config torch_dtype)"]
    if not hardware.bf16_supported and hardware.device == "cuda":
        notes.append("this GPU has no bf16: fp16 trains Qwen (QwenLM/Qwen's QLoRA script uses fp16) but "
                     "fp32 is the safe choice for full fine-tuning")
    if facts.use_sliding_window:
        notes.append("use_sliding_window is on: transformers >= 5 builds the sliding-window mask for every "
                     "attention backend (in 4.x only flash-attention honoured it, Q4)")
    if facts.num_experts:
        notes.append("mixture of experts: transformers 5 stores the experts as fused parameters; LoRA adapts them "
                     "through peft target_parameters (experts.gate_up_proj, experts.down_proj), routers never")
    return LoadSettings(notes=tuple(notes))


# ── LoRA targets ───────────────────────────────────────────────────────────────────────────────

#: Module-name suffixes of every attention and MLP projection (nn.Linear) per architecture.
TARGETS_V1 = ("c_attn", "c_proj", "w1", "w2")  # modeling_qwen.py: attn.c_attn/c_proj, mlp.w1/w2/c_proj
TARGETS_NATIVE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: MoE routers: qwen2_moe/qwen3_moe/qwen3_5_moe ``mlp.gate`` and ``mlp.shared_expert_gate``.
ROUTERS = ("gate", "shared_expert_gate")
#: Fused expert weights of the MoE architectures in transformers 5 (3-D parameters, no nn.Linear), adapted
#: through peft ``target_parameters`` (ax#3515: plain module names leave the experts without adapters).
EXPERT_PARAMETERS = ("experts.gate_up_proj", "experts.down_proj")


def lora_targets(facts: ModelFacts, train_embeddings: bool) -> LoraTargets:
    """All attention, linear-attention and MLP projections and the fused experts; routers never;
    embeddings and head only on request."""
    v1 = variant_of(facts.variant) == "1"
    embeddings = ("wte", "lm_head") if v1 else ("embed_tokens", "lm_head")
    targets = TARGETS_V1 if v1 else TARGETS_NATIVE
    excluded: tuple[str, ...] = ROUTERS if facts.num_experts else ()
    if qwen35.is_qwen35(facts):
        targets += qwen35.LINEAR_ATTENTION_TARGETS
        excluded += qwen35.LINEAR_ATTENTION_EXCLUDED
    return LoraTargets(
        target_modules=targets,
        exclude_modules=excluded,
        target_parameters=EXPERT_PARAMETERS if facts.num_experts and not v1 else (),
        modules_to_save=embeddings if train_embeddings else (),
        ensure_weight_tying=bool(train_embeddings and facts.tie_word_embeddings),
    )
