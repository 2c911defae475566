"""Hyperparameter defaults, LoRA targets on real tiny models, load settings."""

from __future__ import annotations

import pytest

from framework.facts import facts_from_config
from framework.hookdata import HardwareFacts
from framework_mistral import plugin, presets

ALLOWED_KEYS = {"lora.r", "lora.alpha", "lora.dropout", "training.learning_rate", "training.epochs",
                "training.warmup", "training.weight_decay", "training.max_grad_norm", "training.lr_scheduler",
                "training.micro_batch_size", "training.grad_accum"}
METHODS = ["full", "freeze", "lora", "dora", "rslora", "qlora", "qlora8", "prefix", "prompt", "ptuning", "hybrid"]
CPU = HardwareFacts(device="cpu", bf16_supported=True)
#: The family defaults do not depend on the checkpoint; the hook is given one all the same.
V03 = facts_from_config({"model_type": "mistral", "vocab_size": 32768, "sliding_window": None}, "v0.3")


@pytest.mark.parametrize("stage", ["sft", "pt", "dpo"])
@pytest.mark.parametrize("method", METHODS)
def test_defaults_use_only_run_config_keys_and_cite_a_source(method, stage):
    table = presets.hyperparameters_with_sources(method, stage)
    assert set(table) <= ALLOWED_KEYS and "training.learning_rate" in table
    assert all(source for _, source in table.values())
    values = plugin.default_hyperparameters(V03, method, stage)
    assert 0 <= values.get("training.warmup", 0) <= 1
    assert values.get("training.lr_scheduler", "cosine") in ("cosine", "linear", "constant_with_warmup")
    if method in presets.ADAPTER_METHODS:
        assert values["lora.r"] == 16


def test_the_reconciled_values():
    lora, full = plugin.default_hyperparameters(V03, "lora", "sft"), plugin.default_hyperparameters(V03, "full", "sft")
    assert (lora["lora.alpha"], lora["lora.dropout"], lora["training.learning_rate"]) == (32, 0.0, 6e-5)
    assert full["training.learning_rate"] == 2e-5  # seed range 2e-5..5e-5, Zephyr full SFT on Mistral-7B-v0.1
    assert full["training.micro_batch_size"] * full["training.grad_accum"] == 32  # "larger batches"
    assert plugin.default_hyperparameters(V03, "rslora", "sft")["lora.alpha"] == 8  # 8 / sqrt(16) = 2 = 32 / 16
    assert plugin.default_hyperparameters(V03, "full", "dpo")["training.learning_rate"] == 5e-7
    assert plugin.default_hyperparameters(V03, "qlora", "dpo")["training.learning_rate"] == 5e-6


def _lora_names(model, targets):
    from peft import LoraConfig, get_peft_model

    modules = targets.target_modules if isinstance(targets.target_modules, str) else list(targets.target_modules)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=modules,
                        target_parameters=list(targets.target_parameters) or None,
                        exclude_modules=list(targets.exclude_modules) or None,
                        modules_to_save=list(targets.modules_to_save) or None)
    peft_model = get_peft_model(model, config)
    wrapped = {n.rsplit(".lora_A", 1)[0].split(".")[-1] for n, _ in peft_model.named_parameters() if ".lora_A" in n}
    return peft_model, wrapped


def test_dense_targets_wrap_every_projection_of_a_real_tiny_mistral(tiny):
    import torch
    from transformers import MistralForCausalLM

    facts = facts_from_config(tiny.mistral(vocab_size=32768, sliding_window=None).to_dict(), "tiny")
    targets = plugin.lora_target_modules(facts, "lora", False)
    peft_model, wrapped = _lora_names(MistralForCausalLM(tiny.mistral()), targets)
    assert wrapped == set(presets.ATTENTION + presets.MLP)
    ids = torch.randint(0, 64, (1, 8))
    peft_model(input_ids=ids, labels=ids).loss.backward()


def test_embeddings_are_saved_only_when_asked(tiny):
    facts = facts_from_config(tiny.mistral().to_dict(), "tiny")
    assert plugin.lora_target_modules(facts, "lora", False).modules_to_save == ()
    with_embeddings = plugin.lora_target_modules(facts, "lora", True)
    assert with_embeddings.modules_to_save == ("embed_tokens", "lm_head")
    assert not with_embeddings.ensure_weight_tying  # Mistral never ties (tie_word_embeddings false)
    tied = facts_from_config(tiny.mistral(tie_word_embeddings=True).to_dict(), "tied")
    assert plugin.lora_target_modules(tied, "lora", True).ensure_weight_tying


def test_mixtral_router_is_never_wrapped(tiny, facts_mixtral):
    from transformers import MixtralForCausalLM

    targets = plugin.lora_target_modules(facts_mixtral, "lora", False)
    model = MixtralForCausalLM(tiny.mixtral())
    modules = dict(model.named_modules())
    assert type(modules["model.layers.0.mlp.gate"]).__name__ == "MixtralTopKRouter"
    # transformers 5 fuses the experts into 3-D parameters: no per-expert Linear exists to target
    assert not any(type(mod).__name__ == "Linear" and ".experts" in name for name, mod in modules.items())
    assert targets.target_parameters == presets.EXPERTS and targets.exclude_modules == presets.ROUTER
    peft_model, wrapped = _lora_names(model, targets)
    # the fused experts through target_parameters (two stacked ParamWrappers: gate_up_proj, down_proj)
    assert wrapped - {"base_layer"} == {*presets.ATTENTION, "experts"}
    assert not any(".gate." in n and "lora" in n for n, _ in peft_model.named_parameters())


def test_all_linear_would_adapt_the_mixtral_router(tiny):
    """Why the plugin names targets: peft's all-linear adds the router weight as a target parameter."""
    from peft import LoraConfig, get_peft_model
    from transformers import MixtralForCausalLM

    peft_model = get_peft_model(MixtralForCausalLM(tiny.mixtral()), LoraConfig(r=4, target_modules="all-linear"))
    names = [n for n, _ in peft_model.named_parameters()]
    assert any(n.startswith("base_model.model.model.layers.0.mlp.gate.lora_A") for n in names)


def test_load_settings_notes(facts_v01, facts_v03, facts_nemo, facts_mixtral):
    v01 = plugin.model_load_settings(facts_v01, CPU)
    assert v01.supports_packing and v01.attn_implementations[0] == "flash_attention_2"
    assert any("sliding window 4096" in n for n in v01.notes)
    old_flash = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.1.1")
    assert "flash_attention_2" not in plugin.model_load_settings(facts_v01, old_flash).attn_implementations
    assert "flash_attention_2" in plugin.model_load_settings(facts_v03, old_flash).attn_implementations
    nemo = plugin.model_load_settings(facts_nemo, CPU).notes
    assert any("head_dim 128 != hidden/heads 160" in n for n in nemo) and any("16384" in n for n in nemo)
    assert any("router" in n for n in plugin.model_load_settings(facts_mixtral, CPU).notes)
    assert plugin.model_load_settings(facts_v03, CPU).forbidden_dtypes == ()
