"""Defaults, load settings, LoRA targets on real tiny models, and the published checkpoint table."""

from __future__ import annotations

from typing import Any

import pytest

from framework.config import Layer, core_layer, resolve, valid_keys
from framework.errors import ConfigError
from framework.facts import facts_from_config
from framework.hardware import choose_attention, choose_dtype
from framework.hookdata import HardwareFacts
from framework_gemma import checkpoints, plugin, presets

METHODS = ["full", "freeze", "lora", "dora", "rslora", "qlora", "qlora8", "prefix", "prompt", "ptuning", "hybrid"]
TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
CPU = HardwareFacts(device="cpu", bf16_supported=False)
GPU = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.7.4", gpu_count=1)
OLD_FLASH = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.5.8", gpu_count=1)
T4 = HardwareFacts(device="cuda", bf16_supported=False, gpu_name="Tesla T4", gpu_count=1)


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


# ── published checkpoints ─────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("name", "hub_id"), [
    ("gemma-2b", "google/gemma-2b"),
    ("gemma-2-2b-it", "google/gemma-2-2b-it"),
    ("gemma-2-9b-it", "google/gemma-2-9b-it"),
    ("gemma-2-27b-it.mlc", "google/gemma-2-27b-it"),
    ("gemma-3-1b-it", "google/gemma-3-1b-it"),
])
def test_published_configs_match_the_official_files(name: str, hub_id: str, official_config: Any) -> None:
    ours, official = checkpoints.known_model_configs()[hub_id], official_config(name)
    ignored = {"_source", "transformers_version", "_name_or_path", "_attn_implementation", "sliding_window_size"}
    keys = set(ours) & set(official) - ignored
    assert {k: ours[k] for k in keys} == {k: official[k] for k in keys}
    assert len(keys) >= 18


#: Parameter counts of Google's model cards / Hub pages, billions (vision tower included for 4B-27B).
PARAMS_B = {
    "google/gemma-2b": 2.51, "google/gemma-7b": 8.54, "google/gemma-2-2b": 2.61, "google/gemma-2-9b": 9.24,
    "google/gemma-2-27b": 27.23, "google/gemma-3-1b-pt": 1.00, "google/gemma-3-4b-pt": 4.30,
    "google/gemma-3-12b-pt": 12.19, "google/gemma-3-27b-pt": 27.43,
}


def expected_variant(hub_id: str) -> str:
    if "gemma-4-" in hub_id:
        return "4-" + hub_id.removeprefix("google/gemma-4-").removesuffix("-it")
    if "gemma-3-1b" in hub_id:
        return "3"
    if "gemma-3-" in hub_id:
        return "3-multimodal"
    return "2" if "gemma-2-" in hub_id else "1"


def test_every_published_config_is_gemma_and_builds() -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    table = plugin.known_model_configs()
    assert len(table) == 22 and all(cfg["_source"] for cfg in table.values())
    for hub_id, cfg in table.items():
        match = plugin.match_model(facts_from_config(cfg, hub_id))
        assert match.score == 100 and match.variant == expected_variant(hub_id), hub_id
        if hub_id in PARAMS_B:
            config = {k: v for k, v in cfg.items() if k != "_source"}
            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
            assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(PARAMS_B[hub_id], abs=0.01)
