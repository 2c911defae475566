"""Qwen's defaults as data: hyperparameters per method, load settings and LoRA targets.

Every number names its source. Learning rates are reconciled across sources by the step size a
LoRA update takes, ``lr * alpha / r``: the seeds' LoRA 5e-5 at r 8 / alpha 16 gives 1e-4; Qwen's
LLaMA-Factory example 1e-4 at r 16 / alpha 16 gives 1e-4; QwenLM/Qwen's script 3e-4 at r 64 /
alpha 16 gives 7.5e-5. So the seeds' r 8 / alpha 16 / 5e-5 matches Qwen's own recommendation.

Qwen3.5 (and Qwen3.6/3.8 on the same architecture) mixes Gated DeltaNet (linear attention) layers
with gated full-attention layers 3:1 (``layer_types``; ``full_attention_interval`` 4) and ships as a
vision-language wrapper (``Qwen3_5ForConditionalGeneration``, ``model_type`` ``qwen3_5`` /
``qwen3_5_moe`` with a ``text_config``). transformers' ``AutoModelForCausalLM`` builds
``Qwen3_5ForCausalLM`` from the wrapper's config and loads only the language-model weights
(``plugins/qwen/tests/test_qwen35.py`` shows the logits equal the wrapper's), so the vision tower is
never loaded, trained or saved, and the multi-token-prediction (MTP) weights are not part of that
class either. Its parameter count, load settings (no packing) and linear-attention LoRA names are here.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from framework.method_kinds import LORA_METHODS, LORA_TARGETED, WEIGHT_UPDATING
from framework.hookdata import HardwareFacts, LoadSettings, LoraTargets, ModelFacts

from framework_qwen.chat import variant_of
from framework_qwen.detect import is_qwen35

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
    if is_qwen35(facts):
        return _qwen35_parameters(facts)
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


def _text(facts: ModelFacts) -> dict[str, Any]:
    """The language model's config keys: a wrapper's ``text_config``, else config.json itself."""
    return facts.text_config or facts.raw


def _qwen35_parameters(facts: ModelFacts) -> int | None:
    """Language-model parameters from the config: gated attention, Gated DeltaNet, MLP or experts, embeddings."""
    text = _text(facts)
    h, layers, heads = facts.hidden_size, facts.num_hidden_layers, facts.num_attention_heads
    if not (h and layers and heads):
        return None
    head_dim = facts.effective_head_dim or h // heads
    kv = facts.num_key_value_heads or heads
    gate = 2 if text.get("attn_output_gate", True) else 1
    attention = h * heads * head_dim * gate + 2 * h * kv * head_dim + heads * head_dim * h
    k_heads, v_heads = int(text.get("linear_num_key_heads") or 16), int(text.get("linear_num_value_heads") or 32)
    k_dim, v_dim = int(text.get("linear_key_head_dim") or 128), int(text.get("linear_value_head_dim") or 128)
    key, value = k_heads * k_dim, v_heads * v_dim
    linear = h * (2 * key + value) + h * value + 2 * h * v_heads + value * h
    interval = int(text.get("full_attention_interval") or 4)
    types = text.get("layer_types") or ["full_attention" if (i + 1) % interval == 0 else "linear_attention"
                                        for i in range(layers)]
    full = sum(1 for t in types if t == "full_attention")
    if facts.num_experts:
        expert = int(text.get("moe_intermediate_size") or 0)
        shared = int(text.get("shared_expert_intermediate_size") or 0)
        mlp = 3 * h * (expert * facts.num_experts + shared) + h * facts.num_experts
    else:
        mlp = 3 * h * (facts.intermediate_size or 0)
    embeddings = (facts.vocab_size or 0) * h * (1 if facts.tie_word_embeddings else 2)
    return full * attention + (layers - full) * linear + layers * mlp + embeddings


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


def default_hyperparameters(facts: ModelFacts, method: str, stage: str) -> dict[str, Any]:
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

#: model_type values of the Qwen3.5 vision-language wrappers (their language model loads alone).
WRAPPER_TYPES = frozenset({"qwen3_5", "qwen3_5_moe"})

SLOW_KERNELS = ("without flash-linear-attention and causal-conv1d the Gated DeltaNet layers run transformers' "
                "fp32 PyTorch fallback, reported ~1.7x slower per step (1.22 vs 0.70 s/step, "
                "huggingface/transformers#48718): pip install flash-linear-attention causal-conv1d")
NO_PACKING = ("packing is off: the Gated DeltaNet layers carry their recurrent and convolution state across "
              "the whole row, and transformers' PyTorch path ignores sample boundaries (cu_seqlens/seq_idx), "
              "so packed samples would read each other (lmms-engine#167, transformers#46093; "
              "plugins/qwen/tests/test_qwen35.py measures the leak)")


def is_wrapper(facts: ModelFacts) -> bool:
    """A Qwen3.5 vision-language wrapper checkpoint (its language model is trained alone)."""
    return facts.model_type in WRAPPER_TYPES


def have_fast_kernels() -> bool:
    """flash-linear-attention (``fla``) and causal-conv1d importable: transformers then uses them."""
    return bool(importlib.util.find_spec("fla") and importlib.util.find_spec("causal_conv1d"))


def _qwen35_load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    """SDPA for the attention layers, no packing, language model only for the wrappers."""
    notes = [NO_PACKING, "bf16 preferred: the official checkpoints are stored in bfloat16"]
    if is_wrapper(facts):
        notes.append("vision-language wrapper: the language model (Qwen3_5ForCausalLM) is loaded and trained "
                     "alone; the vision tower is not loaded, so it stays as published and is not in the adapter")
    notes.append("multi-token-prediction (MTP) weights are not part of the causal-LM class: neither trained "
                 "nor saved")
    if hardware.device == "cuda" and not have_fast_kernels():
        notes.append(SLOW_KERNELS)
    return LoadSettings(supports_packing=False, train_language_model_only=is_wrapper(facts), notes=tuple(notes))


def load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    """Remote code and no packing for v1; the native kernels with packing for Qwen1.5 to Qwen3; Qwen3.5's own."""
    if is_qwen35(facts):
        return _qwen35_load_settings(facts, hardware)
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
#: Linear-attention projections LoRA wraps: the fused q/k/v input, the output gate input and the output.
#: ``in_proj_a`` / ``in_proj_b`` produce one decay and one write strength per value head (a few
#: dozen outputs); an adapter there steers the recurrence itself, so they are left out by default.
LINEAR_ATTENTION_TARGETS = ("in_proj_qkv", "in_proj_z", "out_proj")
LINEAR_ATTENTION_EXCLUDED = ("in_proj_a", "in_proj_b")


def lora_targets(facts: ModelFacts, train_embeddings: bool) -> LoraTargets:
    """All attention, linear-attention and MLP projections and the fused experts; routers never;
    embeddings and head only on request."""
    v1 = variant_of(facts.variant) == "1"
    embeddings = ("wte", "lm_head") if v1 else ("embed_tokens", "lm_head")
    targets = TARGETS_V1 if v1 else TARGETS_NATIVE
    excluded: tuple[str, ...] = ROUTERS if facts.num_experts else ()
    if is_qwen35(facts):
        targets += LINEAR_ATTENTION_TARGETS
        excluded += LINEAR_ATTENTION_EXCLUDED
    return LoraTargets(
        target_modules=targets,
        exclude_modules=excluded,
        target_parameters=EXPERT_PARAMETERS if facts.num_experts and not v1 else (),
        modules_to_save=embeddings if train_embeddings else (),
        ensure_weight_tying=bool(train_embeddings and facts.tie_word_embeddings),
    )
