"""Defaults, load settings and LoRA targets, on published configs and real tiny models (Gemma 1-3 and Gemma 4)."""

from __future__ import annotations

from typing import Any

import pytest

from framework.config import Layer, core_layer, resolve, valid_keys
from framework.errors import ConfigError
from framework.facts import facts_from_config
from framework.hardware import choose_attention, choose_dtype
from framework.hookdata import HardwareFacts
from framework.loss import chunked_causal_lm_loss
from framework_gemma import checkpoints, plugin, presets

METHODS = ["full", "freeze", "lora", "dora", "rslora", "qlora", "qlora8", "prefix", "prompt", "ptuning", "hybrid"]
TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
CPU = HardwareFacts(device="cpu", bf16_supported=False)
GPU = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.7.4", gpu_count=1)
OLD_FLASH = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.5.8", gpu_count=1)
T4 = HardwareFacts(device="cuda", bf16_supported=False, gpu_name="Tesla T4", gpu_count=1)
H100 = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.8.3", gpu_name="H100",
                     gpu_memory_bytes=80 * 2**30, gpu_count=1)


def published(hub_id: str) -> Any:
    return facts_from_config(checkpoints.known_model_configs()[hub_id], hub_id)


@pytest.mark.parametrize("stage", ["sft", "pt", "dpo"])
@pytest.mark.parametrize("method", METHODS)
def test_defaults_are_valid_run_config_keys(method: str, stage: str, facts_for: Any) -> None:
    facts = facts_for("gemma-2-9b-it", "2")
    defaults = plugin.default_hyperparameters(facts, method, stage)
    assert set(defaults) <= set(valid_keys())
    config = resolve([core_layer(), Layer("plugin:gemma", defaults)]).config
    assert config.training.max_grad_norm == 1.0 and config.training.lr_scheduler == "cosine"
    table = presets.hyperparameter_table(facts, method, stage)
    assert all(source in presets.SOURCES for _, source in table.values())


def test_default_values(facts_for: Any) -> None:
    small, large = facts_for("gemma-2-9b-it", "2"), published("google/gemma-3-27b-it")
    lora = plugin.default_hyperparameters(small, "lora", "sft")
    assert (lora["lora.r"], lora["lora.alpha"], lora["lora.dropout"]) == (16, 16, 0.05)
    assert lora["training.learning_rate"] == 5e-5 and lora["training.warmup"] == 0.05
    assert lora["training.weight_decay"] == 0.01 and lora["training.epochs"] == 3.0
    assert plugin.default_hyperparameters(small, "qlora", "sft")["training.learning_rate"] == 1e-4
    assert plugin.default_hyperparameters(small, "full", "sft")["training.learning_rate"] == 1e-5
    assert plugin.default_hyperparameters(large, "lora", "sft")["training.learning_rate"] == 3e-5
    assert plugin.default_hyperparameters(large, "qlora", "sft")["training.learning_rate"] == 5e-5
    assert plugin.default_hyperparameters(large, "full", "sft")["training.learning_rate"] == 5e-6
    assert plugin.default_hyperparameters(small, "rslora", "sft")["lora.alpha"] == 4
    assert plugin.default_hyperparameters(small, "lora", "pt")["training.warmup"] == 0.01
    dpo = plugin.default_hyperparameters(small, "lora", "dpo")
    assert dpo["training.learning_rate"] == 5e-6 and dpo["training.epochs"] == 1.0
    assert plugin.default_hyperparameters(small, "full", "dpo")["training.learning_rate"] == 5e-7
    assert "training.learning_rate" not in plugin.default_hyperparameters(small, "prompt", "sft")


def test_size_tiers_follow_parameter_counts() -> None:
    tiers = {hub: presets.size_tier(published(hub)) for hub in checkpoints.known_model_configs()}
    assert {hub for hub, tier in tiers.items() if tier == "10B-40B"} == {
        f"google/{stem}-{kind}" for stem in ("gemma-3-12b", "gemma-3-27b") for kind in ("pt", "it")
    } | {"google/gemma-2-27b", "google/gemma-2-27b-it", "google/gemma-4-26B-A4B-it", "google/gemma-4-31B-it"}


# ── load settings ─────────────────────────────────────────────────────────────────────────


def test_gemma2_attention_needs_eager_or_recent_flash_attn(facts_for: Any) -> None:
    """G2: SDPA cannot soft-cap; flash-attn only from 2.6.3."""
    facts = facts_for("gemma-2-9b-it", "2")
    assert plugin.model_load_settings(facts, GPU).attn_implementations == ("flash_attention_2", "eager")
    old = plugin.model_load_settings(facts, OLD_FLASH)
    assert old.attn_implementations == ("eager",) and any("2.5.8 is older" in n for n in old.notes)
    assert choose_attention(plugin.model_load_settings(facts, CPU), CPU)[0] == "eager"
    with pytest.raises(ConfigError):
        choose_attention(plugin.model_load_settings(facts, GPU), GPU, "sdpa")


@pytest.mark.parametrize(("name", "variant"), [("gemma-2-9b-it", "2"), ("gemma-3-1b-it", "3")])
def test_gemma2_and_3_never_train_in_fp16(name: str, variant: str, facts_for: Any) -> None:
    """G3: fp16 overflows their activations, whatever the hardware."""
    facts = facts_for(name, variant)
    for hardware in (GPU, T4):
        settings = plugin.model_load_settings(facts, hardware)
        assert settings.forbidden_dtypes == ("fp16",)
    assert choose_dtype(plugin.model_load_settings(facts, GPU), GPU)[0] == "bf16"
    assert choose_dtype(plugin.model_load_settings(facts, T4), T4)[0] == "fp32"
    with pytest.raises(ConfigError):
        choose_dtype(plugin.model_load_settings(facts, GPU), GPU, "fp16")


def test_gemma1_fp16_refused_only_where_bf16_exists(facts_for: Any) -> None:
    facts = facts_for("gemma-2b", "1")
    with_bf16 = plugin.model_load_settings(facts, GPU)
    assert with_bf16.forbidden_dtypes == ("fp16",) and choose_dtype(with_bf16, GPU)[0] == "bf16"
    old = plugin.model_load_settings(facts, T4)
    assert old.forbidden_dtypes == () and choose_dtype(old, T4)[0] == "fp16"
    assert any("Tesla T4 has no bf16" in n and "NaN" in n for n in old.notes)
    assert with_bf16.attn_implementations == ("flash_attention_2", "sdpa", "eager")


def test_multimodal_wrapper_trains_the_language_model_only() -> None:
    settings = plugin.model_load_settings(published("google/gemma-3-4b-it"), GPU)
    assert settings.train_language_model_only and settings.attn_implementations == ("sdpa", "eager")
    assert settings.supports_packing and settings.forbidden_dtypes == ("fp16",)
    text = plugin.model_load_settings(published("google/gemma-3-1b-it"), GPU)
    assert not text.train_language_model_only
    notes = plugin.model_load_settings(published("google/gemma-2b"), GPU).notes
    assert any("chunked_loss" in n and "7.8 GiB" in n for n in notes)


# ── LoRA targets on real tiny models ──────────────────────────────────────────────────────


def _wrapped(model: Any) -> list[str]:
    return [name for name, module in model.named_modules() if hasattr(module, "lora_A")]


@pytest.mark.parametrize("model_type", ["gemma", "gemma2", "gemma3_text", "gemma3"])
def test_lora_targets_wrap_every_language_model_projection(model_type: str, tiny_config: Any,
                                                           tiny_model: Any) -> None:
    from peft import get_peft_model

    from framework.config import RunConfig
    from framework.methods import lora_config

    facts = facts_from_config(tiny_config(model_type), "tiny")
    facts = facts.model_copy(update={"variant": plugin.match_model(facts).variant})
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=False)
    assert not targets.modules_to_save
    model = get_peft_model(tiny_model(model_type), lora_config(RunConfig(), targets))
    wrapped = _wrapped(model)
    assert {name.rsplit(".", 1)[-1] for name in wrapped} == TARGETS and len(wrapped) == 2 * len(TARGETS)
    assert not [n for n in wrapped if "vision" in n or "projector" in n]  # G9
    assert not [n for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n]


def test_plain_suffixes_would_wrap_the_vision_tower(tiny_model: Any) -> None:
    """Why the wrapper needs the regex: SigLIP has q_proj/k_proj/v_proj of its own."""
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_model("gemma3"), LoraConfig(target_modules=list(TARGETS)))
    assert [n for n in _wrapped(model) if "vision_tower" in n]


@pytest.mark.parametrize("model_type", ["gemma", "gemma3"])
def test_tied_embeddings_stay_tied_when_trained(model_type: str, tiny_config: Any, tiny_model: Any) -> None:
    """G8: Gemma ties lm_head to embed_tokens; training both needs ensure_weight_tying."""
    from peft import get_peft_model

    from framework.config import RunConfig
    from framework.methods import lora_config

    facts = facts_from_config(tiny_config(model_type), "tiny")
    facts = facts.model_copy(update={"variant": plugin.match_model(facts).variant})
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=True)
    assert targets.modules_to_save == ("embed_tokens", "lm_head") and targets.ensure_weight_tying
    model = get_peft_model(tiny_model(model_type), lora_config(RunConfig(), targets))
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    assert head.modules_to_save["default"].weight is embed.modules_to_save["default"].weight


# ── Gemma 4: load settings, the soft-capped loss and LoRA on tiny models ──────────────────

KINDS = ["text", "wrapper", "moe", "unified"]


@pytest.mark.parametrize("hub_id", sorted(checkpoints.known_gemma_4_configs()))
def test_gemma4_load_settings_refuse_fp16_and_pick_sdpa(hub_id: str, claimed: Any) -> None:
    facts = claimed(checkpoints.known_model_configs()[hub_id], hub_id)
    settings = plugin.model_load_settings(facts, H100)
    assert settings.forbidden_dtypes == ("fp16",) and settings.attn_implementations == ("sdpa", "eager")
    assert settings.supports_packing and settings.train_language_model_only
    assert choose_attention(settings, H100)[0] == "sdpa"
    notes = " ".join(settings.notes)
    assert "head_dim 512" in notes and "NaN" in notes and "soft-capped at 30" in notes


def _batch(seed: int = 1) -> dict[str, Any]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 1000, (2, 12), generator=generator)
    labels = ids.clone()
    labels[:, :5] = -100
    return {"input_ids": ids, "labels": labels}


@pytest.mark.parametrize("kind", KINDS)
def test_fused_loss_honours_final_soft_capping(kind: str, tiny_gemma4: Any) -> None:
    """The core's chunked loss equals the model's own loss, soft-cap included (a cap of 0.5 bites hard)."""
    import torch

    capped, uncapped = tiny_gemma4(kind, final_logit_softcapping=0.5), tiny_gemma4(kind, final_logit_softcapping=None)
    batch = _batch()
    with torch.no_grad():
        own = capped(**batch, use_cache=False).loss
        fused = chunked_causal_lm_loss(capped, batch, chunk_size=7)
        fused_uncapped = chunked_causal_lm_loss(uncapped, batch, chunk_size=7)
    assert fused.item() == pytest.approx(own.item(), abs=1e-5)
    assert abs(fused_uncapped.item() - own.item()) > 1e-3  # the cap changes the loss: the test can fail


def _peft(kind: str, tiny_gemma4: Any, tiny_gemma4_config: Any, claimed: Any) -> Any:
    from peft import get_peft_model

    from framework.config import RunConfig
    from framework.methods import lora_config

    facts = claimed(tiny_gemma4_config(kind), "tiny")
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=False)
    config = lora_config(RunConfig.model_validate({"method": "lora", "lora": {"dropout": 0.0}}), targets)
    return get_peft_model(tiny_gemma4(kind), config), targets


@pytest.mark.parametrize("kind", KINDS)
def test_gemma4_lora_wraps_attention_and_mlp_only_and_changes_the_logits(kind: str, tiny_gemma4: Any,
                                                                         tiny_gemma4_config: Any,
                                                                         claimed: Any) -> None:
    """Guards the reported 'LoRA had no effect' on Gemma 4: a nonzero B must move the output."""
    import torch

    model, targets = _peft(kind, tiny_gemma4, tiny_gemma4_config, claimed)
    wrapped = [n for n, m in model.named_modules() if hasattr(m, "lora_A") and not n.endswith(("lora_A", "lora_B"))]
    experts = [n for n in wrapped if ".experts" in n]  # fused expert weights (peft nests one wrapper per parameter)
    assert wrapped and all(n.endswith("_proj") for n in wrapped if n not in experts)
    assert bool(experts) == (kind == "moe")
    assert not any("per_layer" in n or "router" in n for n in wrapped)
    if kind in ("text", "wrapper"):
        assert targets.exclude_modules == ("per_layer_input_gate", "per_layer_projection", "per_layer_model_projection")
    ids = _batch()["input_ids"]
    with torch.no_grad():
        before = model(input_ids=ids, use_cache=False).logits
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.fill_(0.05)
        after = model(input_ids=ids, use_cache=False).logits
    assert (after - before).abs().max() > 1e-3


def test_moe_experts_are_adapted_through_target_parameters(tiny_gemma4: Any, tiny_gemma4_config: Any,
                                                           claimed: Any) -> None:
    import torch

    model, targets = _peft("moe", tiny_gemma4, tiny_gemma4_config, claimed)
    assert targets.target_parameters == ("experts.gate_up_proj", "experts.down_proj")
    expert_lora = {n: p for n, p in model.named_parameters() if "experts" in n and "lora_" in n}
    assert expert_lora and all(p.requires_grad for p in expert_lora.values())
    assert not any("router" in n for n, p in model.named_parameters() if p.requires_grad)
    start = {n: p.detach().clone() for n, p in expert_lora.items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    loss = chunked_causal_lm_loss(model, _batch(), chunk_size=16)
    loss.backward()
    optimizer.step()
    moved = [n for n, p in expert_lora.items() if not torch.equal(p.detach(), start[n])]
    assert any("lora_B" in n for n in moved), "the expert adapters did not learn"


def test_vision_tower_stays_frozen_and_outside_lora(tiny_gemma4: Any, tiny_gemma4_config: Any, claimed: Any) -> None:
    """The wrapper's vision tower has its own q_proj/k_proj/...: the targets reach the language model only, and the
    core's language-model-only restriction (the plugin asks for it) leaves every vision weight frozen."""
    from framework.config import RunConfig
    from framework.methods import apply_method, restrict_to_language_model

    facts = claimed(tiny_gemma4_config("vision"), "tiny")
    assert plugin.model_load_settings(facts, CPU).train_language_model_only
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=False)
    model = apply_method(tiny_gemma4("vision"), RunConfig.model_validate({"method": "lora"}), targets)
    restrict_to_language_model(model)
    wrapped = [n for n, m in model.named_modules() if hasattr(m, "lora_A") and not n.endswith(("lora_A", "lora_B"))]
    assert wrapped and all("language_model" in n for n in wrapped)
    vision = [(n, p) for n, p in model.named_parameters() if "vision" in n]
    assert vision and not any(p.requires_grad for _, p in vision)
