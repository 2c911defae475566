"""Defaults, load settings and LoRA targets on a real tiny model."""

from __future__ import annotations

from typing import Any

import pytest

from framework.config import Layer, core_layer, resolve, valid_keys
from framework.errors import ConfigError
from framework.facts import facts_from_config
from framework.hardware import choose_attention, choose_dtype
from framework.hookdata import HardwareFacts
from framework_llama3 import checkpoints, plugin, presets

METHODS = ["full", "freeze", "lora", "dora", "rslora", "qlora", "qlora8", "prefix", "prompt", "ptuning", "hybrid"]
TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.mark.parametrize("stage", ["sft", "pt", "dpo"])
@pytest.mark.parametrize("method", METHODS)
def test_defaults_are_valid_run_config_keys(method: str, stage: str, facts_for: Any) -> None:
    defaults = plugin.default_hyperparameters(facts_for("Meta-Llama-3-8B", "3"), method, stage)
    assert set(defaults) <= set(valid_keys())
    config = resolve([core_layer(), Layer("plugin:llama3", defaults)]).config
    assert config.training.max_grad_norm == 1.0 and config.training.lr_scheduler == "cosine"
    table = presets.hyperparameter_table(facts_for("Meta-Llama-3-8B", "3"), method, stage)
    assert all(source for _, source in table.values())


def test_default_values(facts_for: Any) -> None:
    small, large = facts_for("Meta-Llama-3-8B", "3"), facts_from_config(
        checkpoints.known_model_configs()["meta-llama/Meta-Llama-3-70B"], "70B")
    lora = plugin.default_hyperparameters(small, "lora", "sft")
    assert (lora["lora.r"], lora["lora.alpha"], lora["lora.dropout"]) == (16, 32, 0.05)
    assert lora["training.learning_rate"] == 1e-4 and lora["training.warmup"] == 0.1
    assert plugin.default_hyperparameters(small, "full", "sft")["training.learning_rate"] == 1e-5
    assert plugin.default_hyperparameters(small, "qlora", "sft")["training.learning_rate"] == 2e-4
    assert plugin.default_hyperparameters(large, "qlora", "sft")["training.learning_rate"] == 1e-4
    assert plugin.default_hyperparameters(small, "rslora", "sft")["lora.alpha"] == 8
    assert plugin.default_hyperparameters(small, "hybrid", "sft")["training.learning_rate"] == 1e-5
    assert plugin.default_hyperparameters(small, "lora", "dpo")["training.learning_rate"] == 5e-6
    assert plugin.default_hyperparameters(small, "full", "dpo")["training.learning_rate"] == 5e-7
    assert "training.learning_rate" not in plugin.default_hyperparameters(small, "prompt", "sft")


def test_load_settings_refuse_fp16(facts_for: Any) -> None:
    gpu = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.7.0", gpu_count=1)
    old_gpu = HardwareFacts(device="cuda", bf16_supported=False, gpu_name="Tesla T4", gpu_count=1)
    facts = facts_for("Meta-Llama-3-8B", "3")
    settings = plugin.model_load_settings(facts, gpu)
    assert settings.attn_implementations == ("flash_attention_2", "sdpa", "eager")
    assert settings.forbidden_dtypes == ("fp16",) and settings.supports_packing and not settings.trust_remote_code
    assert choose_attention(settings, gpu)[0] == "flash_attention_2"
    assert choose_attention(settings, old_gpu)[0] == "sdpa"
    assert choose_dtype(settings, gpu)[0] == "bf16"
    old = plugin.model_load_settings(facts, old_gpu)
    assert choose_dtype(old, old_gpu)[0] == "fp32" and any("Tesla T4 has no bf16" in n for n in old.notes)
    with pytest.raises(ConfigError):
        choose_dtype(settings, gpu, "fp16")


def _tiny_model(tiny_config: Any, **overrides: Any) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**tiny_config(vocab_size=512, num_hidden_layers=2, **overrides)))


def test_lora_targets_wrap_every_projection(tiny_config: Any, facts_for: Any) -> None:
    from peft import get_peft_model

    from framework.config import RunConfig
    from framework.methods import lora_config

    targets = plugin.lora_target_modules(facts_for("Meta-Llama-3-8B", "3"), "lora", False)
    assert not targets.modules_to_save
    model = get_peft_model(_tiny_model(tiny_config), lora_config(RunConfig(), targets))
    wrapped = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if hasattr(module, "lora_A")}
    assert wrapped == TARGETS
    assert sum(hasattr(m, "lora_A") for m in model.modules()) == 2 * len(TARGETS)
    assert not [n for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n]


def test_tied_embeddings_stay_tied_when_trained(tiny_config: Any, facts_for: Any) -> None:
    """L7: Llama 3.2 ties lm_head to embed_tokens; training both needs ensure_weight_tying."""
    from peft import get_peft_model

    from framework.config import RunConfig
    from framework.methods import lora_config

    facts = facts_for("Llama-3.2-1B-Instruct.mlc", "3.2")
    targets = plugin.lora_target_modules(facts=facts, method="lora", train_embeddings=True)
    assert targets.modules_to_save == ("embed_tokens", "lm_head") and targets.ensure_weight_tying
    untied = plugin.lora_target_modules(facts_for("Meta-Llama-3-8B", "3"), "lora", True)
    assert not untied.ensure_weight_tying
    model = get_peft_model(_tiny_model(tiny_config, tie_word_embeddings=True), lora_config(RunConfig(), targets))
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    assert head.modules_to_save["default"].weight is embed.modules_to_save["default"].weight
