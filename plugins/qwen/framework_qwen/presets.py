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


# ── published checkpoints (offline planning) ─────────────────────────────────────────────────────

_OFFICIAL = "shared/reference/official/configs/"
_MAXT = ("AI-Hypercomputer/maxtext src/maxtext/checkpoint_conversion/utils/hf_model_configs.py "
         "(hand-written copy of the Hub config.json)")
_SECONDARY = "config.json values as copied in independent secondary sources (file index); not fetched verbatim"
_BASE_NOTE = ("; base checkpoint: Instruct shapes with eos 151643 (<|endoftext|>, families.md §2.A), "
              "max_position_embeddings of the base checkpoint not verified")

# hidden, intermediate, layers, heads, kv heads, vocab, tied, sliding_window, max_window_layers (None:
# not in the source), source
_QWEN25: dict[str, tuple[int, int, int, int, int, int, bool, int | None, int | None, str]] = {
    "0.5B": (896, 4864, 24, 14, 2, 151936, True, 32768, 24, _OFFICIAL + "Qwen2.5-0.5B.config.json"),
    "1.5B": (1536, 8960, 28, 12, 2, 151936, True, None, None, _MAXT + " qwen25_1_5b_config"),
    "3B": (2048, 11008, 36, 16, 2, 151936, True, 32768, 70, _OFFICIAL + "Qwen2.5-3B-Instruct.config.json"),
    "7B": (3584, 18944, 28, 28, 4, 152064, False, 131072, 28, _OFFICIAL + "Qwen2.5-7B-Instruct.config.json"),
    "14B": (5120, 13824, 48, 40, 8, 152064, False, None, None, _MAXT + " qwen25_14b_config"),
    "32B": (5120, 27648, 64, 40, 8, 152064, False, None, None, _SECONDARY),
    "72B": (8192, 29568, 80, 64, 8, 152064, False, None, None, _SECONDARY),
}

# hidden, intermediate, layers, heads, kv heads, tied, source (head_dim 128, vocab 151936 for all)
_QWEN3: dict[str, tuple[int, int, int, int, int, bool, str]] = {
    "0.6B": (1024, 3072, 28, 16, 8, True, _OFFICIAL + "Qwen3-0.6B.config.json"),
    "1.7B": (2048, 6144, 28, 16, 8, True, _OFFICIAL + "Qwen3-1.7B.config.json"),
    "4B": (2560, 9728, 36, 32, 8, True, _MAXT + " qwen3_4b_config"),
    "8B": (4096, 12288, 36, 32, 8, False, _MAXT + " qwen3_8b_config"),
    "14B": (5120, 17408, 40, 40, 8, False, _MAXT + " qwen3_14b_config"),
    "32B": (5120, 25600, 64, 64, 8, False, _MAXT + " qwen3_32b_config"),
}

# Qwen-7B-Chat, Aug-2023 revision (remote-code keys), verbatim in the official configs folder.
_QWEN_V1_7B: dict[str, Any] = {
    "architectures": ["QWenLMHeadModel"], "model_type": "qwen",
    "auto_map": {"AutoConfig": "configuration_qwen.QWenConfig",
                 "AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel"},
    "n_embd": 4096, "ffn_hidden_size": 22016, "n_layer": 32, "n_head": 32, "kv_channels": 128,
    "padded_vocab_size": 151936, "vocab_size": 151936, "seq_length": 2048, "n_positions": 6144,
    "rotary_emb_base": 10000, "rotary_pct": 1.0, "use_dynamic_ntk": True, "use_logn_attn": True,
    "no_bias": True, "layer_norm_epsilon": 1e-06, "bos_token_id": 151643, "eos_token_id": 151643,
    "tie_word_embeddings": False, "params_dtype": "torch.bfloat16",
}


def _qwen25_config(shape: tuple[Any, ...], instruct: bool) -> dict[str, Any]:
    hidden, inter, layers, heads, kv, vocab, tied, window, window_layers, source = shape
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "vocab_size": vocab, "tie_word_embeddings": tied,
        "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06,
        "hidden_act": "silu", "use_sliding_window": False, "bos_token_id": 151643,
        "eos_token_id": 151645 if instruct else 151643, "torch_dtype": "bfloat16",
        "_source": source if instruct else source + _BASE_NOTE,
    }
    if window is not None:
        config.update(sliding_window=window, max_window_layers=window_layers)
    return config


def _qwen3_config(shape: tuple[Any, ...]) -> dict[str, Any]:
    hidden, inter, layers, heads, kv, tied, source = shape
    return {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "head_dim": 128, "vocab_size": 151936, "tie_word_embeddings": tied,
        "max_position_embeddings": 40960, "rope_theta": 1000000, "rms_norm_eps": 1e-06,
        "hidden_act": "silu", "attention_bias": False, "sliding_window": None, "use_sliding_window": False,
        "bos_token_id": 151643, "eos_token_id": 151645, "torch_dtype": "bfloat16", "_source": source,
    }


def known_configs() -> dict[str, dict[str, Any]]:
    """Hub id -> config.json of Qwen2.5 (base and Instruct), Qwen3 and Qwen-7B(-Chat)."""
    table: dict[str, dict[str, Any]] = {}
    for size, shape in _QWEN25.items():
        table[f"Qwen/Qwen2.5-{size}"] = _qwen25_config(shape, instruct=False)
        table[f"Qwen/Qwen2.5-{size}-Instruct"] = _qwen25_config(shape, instruct=True)
    for size, shape3 in _QWEN3.items():
        table[f"Qwen/Qwen3-{size}"] = _qwen3_config(shape3)
    v1_source = _OFFICIAL + "Qwen-7B-Chat.config.json (undefdev/Qwen-7B-Chat mirror of the Aug-2023 revision)"
    table["Qwen/Qwen-7B-Chat"] = {**_QWEN_V1_7B, "_source": v1_source}
    table["Qwen/Qwen-7B"] = {**_QWEN_V1_7B, "_source": v1_source + "; the base checkpoint shares the architecture"}
    table["Qwen/Qwen3-4B-Instruct-2507"] = {
        **_qwen3_config(_QWEN3["4B"]), "max_position_embeddings": 262144, "rope_theta": 5000000,
        "_source": _MAXT + " qwen3_4b_config (the 2507 release keeps the Qwen3-4B shapes); max_position_embeddings "
        "262144 (256K native context, model card) and rope_theta 5e6 as remembered from the published config, "
        "not verified"}
    table["Qwen/Qwen3-30B-A3B"] = {
        **_qwen3_config((2048, 6144, 48, 32, 4, False, "")),
        "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "num_experts": 128,
        "num_experts_per_tok": 8, "moe_intermediate_size": 768, "decoder_sparse_step": 1, "mlp_only_layers": [],
        "norm_topk_prob": True, "router_aux_loss_coef": 0.001,
        "_source": "zyzshishui/slime scripts/models/qwen3-30B-A3B.sh (Megatron arguments converted from the "
        "published config.json: 48 layers, hidden 2048, 32 heads / 4 KV groups of 128, 128 experts of 768, top-8, "
        "vocab 151936, untied, rope base 1e6); context 40960 and router_aux_loss_coef 0.001 as in the Qwen3 "
        "family's configs, not verified for this checkpoint"}
    table.update(qwen35.known_configs())
    return table
