"""Defaults per method, LoRA targets on the fused projections, and the load settings."""

from __future__ import annotations

from framework.facts import facts_from_config
from framework.hookdata import HardwareFacts
from framework_phi3 import presets
from framework_phi3.checkpoints import tiny_config

CPU = HardwareFacts(device="cpu", bf16_supported=False)


def facts(**overrides):
    return facts_from_config(tiny_config(**overrides), "tiny")


def test_defaults_per_method() -> None:
    assert presets.default_hyperparameters("lora")["lora.r"] == 16
    assert presets.default_hyperparameters("qlora")["training.learning_rate"] == 2e-4
    assert presets.default_hyperparameters("full")["training.learning_rate"] == 5e-6
    assert "lora.r" not in presets.default_hyperparameters("prefix")


def test_every_default_names_its_source() -> None:
    for method in (*presets.ADAPTER_METHODS, *presets.FULL_METHODS, "prefix"):
        for key, (_, source) in presets.hyperparameter_table(method).items():
            assert source.startswith("https://"), (method, key)


def test_lora_targets_are_the_fused_projections() -> None:
    targets = presets.lora_targets(facts(), train_embeddings=False)
    assert targets.target_modules == ("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
    assert presets.lora_targets(facts(), train_embeddings=True).modules_to_save == ("embed_tokens", "lm_head")


def test_load_settings_explain_the_window_and_remote_code() -> None:
    settings = presets.load_settings(facts(), CPU)
    assert not settings.trust_remote_code and "sliding window of 2047" in settings.notes[1]


def test_a_gpu_without_bf16_is_told_the_checkpoints_are_bf16() -> None:
    t4 = HardwareFacts(device="cuda", bf16_supported=False, gpu_name="Tesla T4")
    assert any("no bf16 on Tesla T4" in note for note in presets.load_settings(facts(), t4).notes)
    no_window = presets.load_settings(facts(sliding_window=None), CPU)
    assert not any("sliding window" in note for note in no_window.notes)
