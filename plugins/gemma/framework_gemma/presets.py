"""Gemma defaults as data: hyperparameters per method and stage, load settings, LoRA targets.

Every value names its source (``SOURCES``; the README's defaults table repeats them). Learning
rates are the conservative size-tiered table of the project's seeds, which for LoRA coincides
with Google's own Keras LoRA guide (5e-5 at alpha/r = 1). LoRA shape r 16 / alpha 16 / dropout
0.05 is Google's Hugging Face QLoRA guide. The published checkpoints live in ``checkpoints``.
"""

from __future__ import annotations

from typing import Any

from framework.method_kinds import LORA_METHODS, LORA_TARGETED, WEIGHT_UPDATING
from framework.hookdata import HardwareFacts, LoadSettings, LoraTargets, ModelFacts
from framework_gemma import detect
from framework_gemma.detect import generation, is_multimodal

SOURCES: dict[str, str] = {
    "google-lora": "https://ai.google.dev/gemma/docs/core/lora_tuning (Keras LoRA: AdamW lr 5e-5, weight decay 0.01, "
    "LoRA alpha = rank, i.e. scale 1)",
    "google-qlora": "https://ai.google.dev/gemma/docs/core/huggingface_text_finetune_qlora (LoraConfig r 16, "
    "lora_alpha 16, lora_dropout 0.05; 3 epochs; lr 2e-4 constant)",
    "seed-lr": "shared/seeds/003 §4.1 (lr by size: 7B full 1e-5 / LoRA 5e-5 / QLoRA 1e-4; 13B 5e-6 / 3e-5 / 5e-5)",
    "seed-schedule": "shared/seeds/003 §4.1 (cosine/linear scheduler) and §4.4 (warmup 5-10% of steps)",
    "seed-batch": "shared/seeds/003 §4.2 (micro batch 2, effective batch 16-32 through accumulation)",
    "seed-pt": "shared/seeds/004 §8.2 (pre-training warmup ratio 0.01-0.015)",
    "seed-clip": "shared/seeds/000 §5.1 (clip gradients at 1.0)",
    "rslora": "https://arxiv.org/abs/2312.03732 (rsLoRA scales by alpha/sqrt(r)): alpha 4 = sqrt(16) keeps scale 1",
    "lf-dpo": "LLaMA-Factory examples/train_lora/qwen3_lora_dpo.yaml: LoRA DPO lr 5e-6 (families.md §5.3)",
    "zephyr-dpo": "https://github.com/huggingface/alignment-handbook/blob/main/recipes/zephyr-7b-beta/dpo/"
    "config_full.yaml (full DPO lr 5e-7, 1 epoch)",
}

ADAPTERS = LORA_METHODS
FULL_LIKE = WEIGHT_UPDATING

LORA_R = 16
LORA_ALPHA = 16
#: seed-lr by size tier: full, LoRA, QLoRA. Gemma sizes: up to 9B in the first row, 12B-27B in the second.
LR_BY_TIER: dict[str, dict[str, float]] = {
    "up to 10B": {"full": 1e-5, "lora": 5e-5, "qlora": 1e-4},
    "10B-40B": {"full": 5e-6, "lora": 3e-5, "qlora": 5e-5},
}
TIER_LIMIT = 10e9

Table = dict[str, tuple[Any, str]]


def approx_parameters(facts: ModelFacts) -> int | None:
    """Language-model parameters from the config (attention, MLP, one tied embedding)."""
    h, layers, inter = facts.hidden_size, facts.num_hidden_layers, facts.intermediate_size
    heads = facts.num_attention_heads
    if not (h and layers and inter and heads):
        return None
    head_dim = facts.effective_head_dim or h // heads
    kv = facts.num_key_value_heads or heads
    attention = 2 * h * heads * head_dim + 2 * h * kv * head_dim
    return layers * (attention + 3 * h * inter) + (facts.vocab_size or 0) * h


#: Gemma 4 sizes in the larger tier (the 26B-A4B by total parameters: all experts are trained with LoRA).
G4_LARGE = ("4-12B", "4-26B-A4B", "4-31B")


def size_tier(facts: ModelFacts) -> str:
    if generation(facts) == "4":
        return "10B-40B" if (facts.variant or detect.gemma4_size(facts)[0]) in G4_LARGE else "up to 10B"
    params = approx_parameters(facts)
    return "up to 10B" if params is None or params <= TIER_LIMIT else "10B-40B"


def _learning_rate(method: str, stage: str, tier: str) -> tuple[float, str] | None:
    if stage == "dpo":
        if method in ADAPTERS:
            return 5e-6, "lf-dpo"
        return (5e-7, "zephyr-dpo") if method in FULL_LIKE else None
    rates = LR_BY_TIER[tier]
    if method in FULL_LIKE:
        return rates["full"], "seed-lr"  # freeze and hybrid update original weights: the full-tuning rate
    if method in ("qlora", "qlora8"):
        return rates["qlora"], "seed-lr"
    if method in ADAPTERS:
        return rates["lora"], "seed-lr"
    return None  # prompt learning: no Gemma-specific source, the core default applies


def hyperparameter_table(facts: ModelFacts, method: str, stage: str) -> Table:
    """Dotted key -> (value, source key) for ``method`` and ``stage``."""
    table: Table = {
        "training.epochs": (1.0, "zephyr-dpo") if stage == "dpo" else (3.0, "google-qlora"),
        "training.warmup": (0.01, "seed-pt") if stage == "pt" else (0.05, "seed-schedule"),
        "training.lr_scheduler": ("cosine", "seed-schedule"),
        "training.weight_decay": (0.01, "google-lora"),
        "training.max_grad_norm": (1.0, "seed-clip"),
        "training.micro_batch_size": (2, "seed-batch"),
        "training.grad_accum": (8, "seed-batch"),
    }
    if method in LORA_TARGETED:
        table.update({"lora.r": (LORA_R, "google-qlora"), "lora.alpha": (LORA_ALPHA, "google-qlora"),
                      "lora.dropout": (0.05, "google-qlora")})
    if method == "rslora":
        table["lora.alpha"] = (4, "rslora")
    rate = _learning_rate(method, stage, size_tier(facts))
    if rate is not None:
        table["training.learning_rate"] = rate
    return table


def default_hyperparameters(facts: ModelFacts, method: str, stage: str) -> dict[str, Any]:
    return {key: value for key, (value, _) in hyperparameter_table(facts, method, stage).items()}


# ── loading ───────────────────────────────────────────────────────────────────────────────

#: flash-attn gained soft-capping in 2.6 and a correct backward in 2.6.2+; 2.6.3 is the first
#: release recommended for Gemma 2 (transformers PR 31887, axolotl PR 1781).
FLASH_SOFTCAP_MIN = "2.6.3"
TF_GEMMA2 = "https://github.com/huggingface/transformers/issues/32309"
SRC_FP16_G3 = "https://github.com/huggingface/transformers/issues/36822"
SRC_FP16_G3_ACT = "https://github.com/unslothai/unsloth/pull/4014"
SRC_FP16_G1 = "https://github.com/google/gemma_pytorch/issues/24"
SRC_LOGITS = "https://github.com/EvolvingLMMs-Lab/LongVA/pull/19"
SRC_WRAPPER_FA = ("transformers models/gemma3/modeling_gemma3.py: Gemma3ForConditionalGeneration "
                  "_supports_flash_attn = False (flash attention drops the bidirectional mask over image tokens)")


def _flash_softcap_ok(version: str | None) -> bool:
    if not version:
        return False
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) >= Version(FLASH_SOFTCAP_MIN)
    except InvalidVersion:
        return False


SRC_G4_HEAD_DIM = "https://github.com/huggingface/transformers/pull/46634"
SRC_G4_FP16 = "https://github.com/unslothai/unsloth/pull/5092; https://github.com/unslothai/unsloth-zoo/issues/931"


def _attention_gemma4(facts: ModelFacts) -> tuple[tuple[str, ...], list[str]]:
    global_dim = detect.language_model_config(facts).get("global_head_dim", 512)
    return ("sdpa", "eager"), [
        f"Gemma 4's global layers have head_dim {global_dim}: flash-attention supports at most 256, so SDPA "
        f"(eager as fallback) is the kernel ({SRC_G4_HEAD_DIM})",
        "padding-free packing is exact under SDPA: the mask built from restarted position_ids isolates packed "
        "samples (tested: packed rows give the separate samples' logits on tiny gemma4_text, multimodal wrapper "
        "and MoE models)",
    ]


def _attention(facts: ModelFacts, hardware: HardwareFacts) -> tuple[tuple[str, ...], list[str]]:
    gen = generation(facts)
    if gen == "4":
        return _attention_gemma4(facts)
    if gen == "2":
        notes = [f"Gemma 2 soft-caps attention logits (attn_logit_softcapping=50): SDPA cannot soft-cap, so only eager "
                 f"or flash-attn >= {FLASH_SOFTCAP_MIN} are allowed (pitfall G2; {TF_GEMMA2})"]
        if _flash_softcap_ok(hardware.flash_attn_version):
            return ("flash_attention_2", "eager"), notes
        if hardware.flash_attn_version:
            notes.append(f"flash-attn {hardware.flash_attn_version} is older than {FLASH_SOFTCAP_MIN}: eager attention "
                         "(memory grows with the square of the sequence length)")
        return ("eager",), notes
    if is_multimodal(facts):
        return ("sdpa", "eager"), [f"multimodal Gemma 3 wrapper: no flash-attention ({SRC_WRAPPER_FA})"]
    return ("flash_attention_2", "sdpa", "eager"), []


def _dtypes(facts: ModelFacts, hardware: HardwareFacts) -> tuple[tuple[str, ...], list[str]]:
    gen = generation(facts)
    if gen == "4":
        return ("fp16",), [f"fp16 refused: Gemma 4 fine-tuning in float16 reports NaN losses ({SRC_G4_FP16}); bf16 "
                           "where the accelerator has it, else fp32 (pitfall G3)"]
    if gen in ("2", "3"):
        notes = [f"fp16 refused: Gemma {gen} activations overflow float16 (Gemma 3 outputs nothing in fp16, "
                 f"{SRC_FP16_G3}; activations reach ~800k > 65504, {SRC_FP16_G3_ACT}); bf16 where the accelerator has it, else fp32 "
                 "(pitfall G3)"]
        return ("fp16",), notes
    if hardware.bf16_supported:
        return ("fp16",), [f"fp16 refused in favour of bf16, which this accelerator has: Gemma was trained in bf16 and "
                           f"fp16 fine-tuning has produced NaN losses ({SRC_FP16_G1}; pitfall G3)"]
    note = (f"this {hardware.gpu_name or hardware.device} has no bf16: fp16 is allowed for Gemma 1 but has produced "
            f"NaN losses ({SRC_FP16_G1}); prefer --set model.dtype=fp32 if the loss turns NaN")
    return (), [note] if hardware.device != "cpu" else []


def load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    attention, notes = _attention(facts, hardware)
    forbidden, dtype_notes = _dtypes(facts, hardware)
    vocab = facts.vocab_size or 262_144
    notes += dtype_notes
    notes += [
        f"vocabulary of {vocab} tokens: fp32 logits cost {vocab * 4 * 8192 / 2**30:.1f} GiB per 8192 tokens; keep "
        f"training.chunked_loss on and micro batches small for long sequences (pitfall G5; {SRC_LOGITS})",
        "embeddings are multiplied by sqrt(hidden_size) inside transformers' Gemma models (pitfall G4): nothing to do",
    ]
    if generation(facts) != "4":
        notes.append("padding-free packing is exact: packed rows give the same logits as separate samples, "
                     "sliding-window layers included (tested on tiny Gemma, Gemma 2 with eager attention and Gemma 3 "
                     "models)")
    else:
        notes += _gemma4_notes(facts)
    if is_multimodal(facts):
        towers = "vision and audio towers and their projectors" if generation(facts) == "4" else \
            "SigLIP vision tower and the multi-modal projector"
        notes.append(f"only the language model is trained: the {towers} stay frozen and outside LoRA (pitfall G9)")
    return LoadSettings(
        attn_implementations=attention,
        forbidden_dtypes=forbidden,  # type: ignore[arg-type]
        trust_remote_code=False,
        supports_packing=True,
        train_language_model_only=is_multimodal(facts),
        notes=tuple(notes),
    )


# ── adapters ──────────────────────────────────────────────────────────────────────────────

def _gemma4_notes(facts: ModelFacts) -> list[str]:
    notes = ["final logits are soft-capped at 30 (final_logit_softcapping): the fused chunked loss applies the same "
             "cap, read from the language model's config of the wrapper too (tested: equal to the model's own loss)"]
    if detect.per_layer_input(facts):
        notes.append("per-layer input embeddings (embed_tokens_per_layer and their projections) are left out of "
                     "LoRA; KV-shared layers reuse earlier keys/values and have no k_proj/v_proj of their own")
    if detect.is_moe(facts):
        notes.append("mixture of experts: LoRA adapts the fused expert weights through peft target_parameters; "
                     "routers are never adapted")
    return notes


TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: Gemma 4's per-layer input (PLE) projections: excluded from LoRA (the "E" models' per-layer embeddings).
PLE_MODULES = ("per_layer_input_gate", "per_layer_projection", "per_layer_model_projection")
#: Gemma 4 MoE fused expert weights (3-D parameters of Gemma4TextExperts), adapted via peft target_parameters.
EXPERT_PARAMETERS = ("experts.gate_up_proj", "experts.down_proj")
EMBEDDING_MODULES = ("embed_tokens", "lm_head")
#: peft full-name regex for the wrapper: the projections of the language model's decoder layers only
#: (``model.language_model.layers.N...`` in transformers 5, ``language_model.model.layers.N...`` before).
#: SigLIP's own q_proj/k_proj/v_proj (``model.vision_tower...``) never match.
WRAPPER_TARGETS = (r"(.*\.)?language_model\.(model\.)?layers\.\d+\."
                   r"(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))")


def lora_targets(facts: ModelFacts, train_embeddings: bool) -> LoraTargets:
    """Every attention and MLP projection of the language model; embeddings in full only when asked.

    Gemma ties the output head to the input embedding (GemmaConfig.tie_word_embeddings defaults to
    True and the published configs do not override it), so training both needs ``ensure_weight_tying``.
    """
    targets: tuple[str, ...] | str = WRAPPER_TARGETS if is_multimodal(facts) else TARGET_MODULES
    extra: dict[str, Any] = {}
    if generation(facts) == "4":
        if detect.per_layer_input(facts):
            extra["exclude_modules"] = PLE_MODULES
        if detect.is_moe(facts):
            extra["target_parameters"] = EXPERT_PARAMETERS
    if not train_embeddings:
        return LoraTargets(target_modules=targets, **extra)
    return LoraTargets(target_modules=targets, modules_to_save=EMBEDDING_MODULES,
                       ensure_weight_tying=facts.tie_word_embeddings is not False, **extra)
