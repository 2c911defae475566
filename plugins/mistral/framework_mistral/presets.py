"""Mistral defaults as data, each value with its source: hyperparameters, LoRA targets and load
settings (the published checkpoints' config facts are in ``checkpoints.py``).

Hyperparameters reconcile three references:

* the seed notes ("Mistral converges fast and is not very sensitive to hyperparameters; use a
  medium learning rate, 2e-5 to 5e-5, and relatively large batches": shared/seeds/000);
* Mistral's own fine-tuning code, mistral-finetune: LoRA rank 16, dropout 0.0 and a fixed
  scaling of 2.0 (``model/args.py`` ``LoraArgs``), LoRA lr 6e-5 with weight decay 0.1 and 5 %
  warm-up (``example/7B.yaml``), gradient clipping 1.0 (``finetune/args.py``), LoRA on every
  attention and MLP projection, experts included, router excluded (``model/transformer.py``);
* Hugging Face's Zephyr recipes trained on Mistral-7B-v0.1 (alignment-handbook
  ``recipes/zephyr-7b-beta``): full SFT 2e-5 with large batches, DPO 5e-7 (full) / 5e-6 (QLoRA).

The seed's 2e-5 is a full fine-tuning rate (Zephyr uses exactly it); for LoRA the official
6e-5 is taken (scaling 2, as here with alpha = 2 r).
"""

from __future__ import annotations

from typing import Any

from framework.method_kinds import LORA_TARGETED, PROMPT
from framework.hookdata import HardwareFacts, LoadSettings, LoraTargets, ModelFacts

from framework_mistral.detect import is_mla, is_moe, is_wrapper, sliding_window, variant_of

MF_ARGS = "https://github.com/mistralai/mistral-finetune/blob/main/model/args.py"
MF_EXAMPLE = "https://github.com/mistralai/mistral-finetune/blob/main/example/7B.yaml"
MF_TRAIN_ARGS = "https://github.com/mistralai/mistral-finetune/blob/main/finetune/args.py"
MF_MODEL = "https://github.com/mistralai/mistral-finetune/blob/main/model/transformer.py"
MF_README = "https://github.com/mistralai/mistral-finetune/blob/main/README.md"
SEED = "shared/seeds/000_5a1c4f87ca98d43d.txt (5.3 Mistral: lr 2e-5..5e-5, larger batches)"
SEED_LLAMA = "shared/seeds/000_5a1c4f87ca98d43d.txt (5.1 recommended config: epochs 3, warmup 0.1, clip 1.0)"
ZEPHYR = "https://github.com/huggingface/alignment-handbook/blob/main/recipes/zephyr-7b-beta/"
ZEPHYR_SFT = ZEPHYR + "sft/config_full.yaml"
ZEPHYR_DPO = ZEPHYR + "dpo/config_full.yaml"
ZEPHYR_DPO_QLORA = ZEPHYR + "dpo/config_qlora.yaml"
PEFT_EXAMPLES = "https://github.com/huggingface/peft/blob/main/examples/"
PEFT_PROMPT = PEFT_EXAMPLES + "causal_language_modeling/peft_prompt_tuning_clm.ipynb"
PEFT_PREFIX = PEFT_EXAMPLES + "causal_language_modeling/peft_prefix_tuning_clm.ipynb"
PEFT_PTUNING = PEFT_EXAMPLES + "sequence_classification/P_Tuning.ipynb"
CHOICE = "plugin choice (see README, defaults table)"

ADAPTER_METHODS = LORA_TARGETED
PROMPT_METHODS = PROMPT

#: (method group, stage) -> {dotted key: (value, source)}. Groups: adapter (LoRA family),
#: full (full and freeze), prompt (soft prompts). Method-specific overrides follow below.
DEFAULTS: dict[tuple[str, str], dict[str, tuple[Any, str]]] = {
    ("adapter", "sft"): {
        "lora.r": (16, MF_ARGS),
        "lora.alpha": (32, MF_ARGS + " (scaling 2.0 = alpha / r)"),
        "lora.dropout": (0.0, MF_ARGS),
        "training.learning_rate": (6e-5, MF_EXAMPLE),
        "training.weight_decay": (0.1, MF_EXAMPLE),
        "training.warmup": (0.05, MF_EXAMPLE + " (pct_start 0.05)"),
        "training.lr_scheduler": ("cosine", MF_TRAIN_ARGS + " (OneCycleLR: cosine annealing)"),
        "training.max_grad_norm": (1.0, MF_TRAIN_ARGS),
        "training.epochs": (3, SEED_LLAMA),
        "training.micro_batch_size": (4, SEED_LLAMA),
        "training.grad_accum": (4, SEED_LLAMA),
    },
    ("full", "sft"): {
        "training.learning_rate": (2e-5, SEED + "; " + ZEPHYR_SFT),
        "training.weight_decay": (0.1, MF_EXAMPLE),
        "training.warmup": (0.1, SEED_LLAMA),
        "training.lr_scheduler": ("cosine", ZEPHYR_SFT),
        "training.max_grad_norm": (1.0, MF_TRAIN_ARGS),
        "training.epochs": (3, SEED_LLAMA),
        "training.micro_batch_size": (4, SEED),
        "training.grad_accum": (8, SEED + " (effective 32: 'relatively large batches')"),
    },
    ("prompt", "sft"): {
        "training.learning_rate": (3e-2, PEFT_PROMPT),
        "training.warmup": (0.0, PEFT_PROMPT),
        "training.lr_scheduler": ("linear", PEFT_PROMPT),
        "training.weight_decay": (0.0, PEFT_PROMPT),
        "training.max_grad_norm": (1.0, MF_TRAIN_ARGS),
        "training.epochs": (3, SEED_LLAMA),
    },
}

#: Per-method changes on top of the group defaults.
METHOD_OVERRIDES: dict[str, dict[str, tuple[Any, str]]] = {
    # rsLoRA scales by alpha / sqrt(r): alpha = 2 * sqrt(16) = 8 keeps mistral-finetune's scaling 2.0.
    "rslora": {"lora.alpha": (8, MF_ARGS + " (scaling 2.0 = alpha / sqrt(r) for rsLoRA)")},
    "prefix": {"training.learning_rate": (3e-2, PEFT_PREFIX)},
    "ptuning": {"training.learning_rate": (1e-3, PEFT_PTUNING)},
    # hybrid starts with full fine-tuning steps (seed 004): the full-FT rate is the safe one for both phases.
    "hybrid": {"training.learning_rate": (2e-5, SEED + "; shared/seeds/004 (full SFT first, then LoRA)")},
}

#: Stage changes: DPO follows Zephyr (Mistral-7B-v0.1) DPO; continued pretraining makes one pass.
STAGE_OVERRIDES: dict[tuple[str, str], dict[str, tuple[Any, str]]] = {
    ("adapter", "dpo"): {"training.learning_rate": (5e-6, ZEPHYR_DPO_QLORA), "training.epochs": (1, ZEPHYR_DPO_QLORA),
                         "training.warmup": (0.1, ZEPHYR_DPO_QLORA), "training.weight_decay": (0.0, ZEPHYR_DPO_QLORA)},
    ("full", "dpo"): {"training.learning_rate": (5e-7, ZEPHYR_DPO), "training.epochs": (1, ZEPHYR_DPO),
                      "training.warmup": (0.1, ZEPHYR_DPO), "training.weight_decay": (0.0, ZEPHYR_DPO)},
    ("adapter", "pt"): {"training.epochs": (1, CHOICE + ": one pass over raw text; more epochs memorise it")},
    ("full", "pt"): {"training.epochs": (1, CHOICE + ": one pass over raw text; more epochs memorise it")},
}


def method_group(method: str) -> str:
    """adapter, full or prompt."""
    if method in ADAPTER_METHODS:
        return "adapter"
    if method in PROMPT_METHODS:
        return "prompt"
    return "full"


def hyperparameters_with_sources(method: str, stage: str) -> dict[str, tuple[Any, str]]:
    """Defaults for a method and stage with the source of each value (README table, tests)."""
    group = method_group(method)
    table = dict(DEFAULTS[(group, "sft")])
    table.update(METHOD_OVERRIDES.get(method, {}))
    table.update(STAGE_OVERRIDES.get((group, stage), {}))
    return table


def default_hyperparameters(method: str, stage: str) -> dict[str, Any]:
    """Dotted run-config keys for the core."""
    return {key: value for key, (value, _) in hyperparameters_with_sources(method, stage).items()}


# ── LoRA targets ────────────────────────────────────────────────────────────────────────

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
#: The MoE router of transformers 5 Mixtral (``MixtralTopKRouter`` at ``mlp.gate``).
ROUTER = ("mlp.gate",)


#: transformers 5 fused experts (``MixtralExperts``, ``Mistral4Experts``): 3-D parameters, no Linear.
EXPERTS = ("mlp.experts.gate_up_proj", "mlp.experts.down_proj")
#: Mistral 4's MLA attention: low-rank query and key/value projections.
MLA_ATTENTION = ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj")
#: peft's ParamWrapper (target_parameters) refuses DoRA: the experts stay frozen under --method dora.
NO_EXPERT_METHODS = ("dora",)


def _language_model_only(names: tuple[str, ...]) -> str:
    """One regex over full module names: the projections of the wrapper's language model, never the
    Pixtral vision tower (its attention and MLP reuse the same names) nor the projector."""
    return r".*language_model\.layers\.\d+\.(self_attn|mlp|mlp\.shared_experts)\.(" + "|".join(names) + ")"


def lora_targets(facts: ModelFacts, method: str, train_embeddings: bool) -> LoraTargets:
    """All attention and MLP projections, the fused experts through ``target_parameters``; never a router.

    transformers 5 stores MoE experts as fused 3-D parameters (``mlp.experts.gate_up_proj``,
    ``mlp.experts.down_proj``), not ``nn.Linear`` modules, so no module name reaches them;
    peft adapts them as parameters (``target_parameters``, hook API 1.1). ``all-linear`` is no
    way out: peft 0.21 then adds ``gate.weight`` (the router) to its targets. Mistral 4 adds
    shared experts (plain ``gate_proj/up_proj/down_proj``, targeted) and MLA attention. A
    ``mistral3`` wrapper gets a regex limited to its language model (the vision tower's
    modules have the same names).
    """
    save: tuple[str, ...] = ("embed_tokens", "lm_head") if train_embeddings else ()
    tied = bool(facts.tie_word_embeddings) and train_embeddings
    attention = MLA_ATTENTION if is_mla(facts) else ATTENTION
    experts = EXPERTS if is_moe(facts) and method not in NO_EXPERT_METHODS else ()
    if facts.model_type == "mixtral":
        names: tuple[str, ...] = attention
    else:  # dense MLP, Mistral 4's dense first layers and shared experts
        names = (*attention, *MLP)
    exclude = ROUTER if is_moe(facts) else ()
    targets: tuple[str, ...] | str = _language_model_only(names) if is_wrapper(facts) else names
    return LoraTargets(target_modules=targets, exclude_modules=exclude, target_parameters=experts,
                       modules_to_save=save, ensure_weight_tying=tied)


# ── load settings ───────────────────────────────────────────────────────────────────────

SWA_FLASH_MIN = (2, 3, 0)  # flash-attn version with sliding-window support (families.md M3)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    """Attention order, packing and the notes `plan` prints for this variant."""
    attn = ["flash_attention_2", "sdpa", "eager"]
    notes = ["bf16 preferred (every Mistral config ships torch_dtype bfloat16); fp16 needs loss scaling and "
             "copy-pasted fp16 recipes report overflow (M9)",
             "padding-free packing is exact with restarted position_ids and no KV cache in the forward "
             "(transformers skips packed-sequence masking when a cache is passed)"]
    window = sliding_window(facts)
    if window:
        notes.append(f"sliding window {window}: flash-attn >= 2.3 applies it natively, SDPA/eager get an explicit "
                     "sliding-window mask; packed and separate sequences give the same logits with either (M3)")
        if hardware.flash_attn_version and _version(hardware.flash_attn_version) < SWA_FLASH_MIN:
            attn.remove("flash_attention_2")
            notes.append(f"flash-attn {hardware.flash_attn_version} predates sliding-window support (2.3.0): SDPA used")
    if facts.head_dim and facts.hidden_size and facts.num_attention_heads \
            and facts.head_dim != facts.hidden_size // facts.num_attention_heads:
        notes.append(f"explicit head_dim {facts.head_dim} != hidden/heads "
                     f"{facts.hidden_size // facts.num_attention_heads}: honoured by transformers (M6)")
    if variant_of(facts).name == "nemo":
        notes.append(f"131072-token vocabulary: the loss logits dominate activation memory; mistral-finetune "
                     f"recommends seq_len <= 16384 for NeMo (M7, {MF_README})")
    if is_wrapper(facts):
        notes.append("mistral3 wrapper (Pixtral vision tower + projector): only the language model is trained; LoRA "
                     "targets are limited to language_model layers")
    if is_mla(facts):
        notes.append("Mistral 4: MLA attention (q_a/q_b, kv_a/kv_b low-rank projections) and shared experts; "
                     "transformers has Mistral4ForCausalLM (not in AutoModelForCausalLM): trained on CPU in the tests")
    if is_moe(facts):
        notes += ["MoE: the router (mlp.gate) is never adapted; the fused 3-D experts (mlp.experts.gate_up_proj, "
                  "down_proj) are adapted through peft target_parameters (not under DoRA: peft refuses it) (M8)",
                  "MoE: bitsandbytes 4/8-bit quantizes nn.Linear only; the fused experts stay in the compute dtype, "
                  "so QLoRA saves far less memory on Mixtral than on a dense model",
                  "MoE: the router load-balancing loss is added only with output_router_logits=True "
                  "(config: false, router_aux_loss_coef 0.02)"]
    return LoadSettings(attn_implementations=tuple(attn), supports_packing=True,
                        train_language_model_only=is_wrapper(facts), notes=tuple(notes))
