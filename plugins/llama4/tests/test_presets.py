"""Defaults are run-config keys with sources; LoRA targets reach only the language model."""

from __future__ import annotations

from typing import Any

import pytest

from framework.config import Layer, core_layer, resolve, valid_keys
from framework.facts import facts_from_config
from framework_llama4 import checkpoints, plugin, presets

METHODS = ["full", "freeze", "lora", "dora", "rslora", "qlora", "qlora8", "prefix", "prompt", "ptuning", "hybrid"]
TABLE = checkpoints.known_model_configs()
SCOUT = facts_from_config(TABLE["meta-llama/Llama-4-Scout-17B-16E-Instruct"], "scout")


@pytest.mark.parametrize("stage", ["sft", "pt", "dpo"])
@pytest.mark.parametrize("method", METHODS)
def test_defaults_are_run_config_keys_with_sources(method: str, stage: str) -> None:
    defaults = plugin.default_hyperparameters(SCOUT, method, stage)
    assert set(defaults) <= set(valid_keys())
    resolve([core_layer(), Layer("plugin:llama4", defaults)])
    assert all(source for _, source in presets.hyperparameter_table(SCOUT, method, stage).values())
    if method in ("lora", "qlora", "dora", "rslora", "qlora8", "hybrid"):
        assert defaults["lora.dropout"] == 0.0  # peft's fused-expert adapter refuses dropout


def test_lora_targets_are_the_same_for_text_and_wrapper() -> None:
    text = facts_from_config({**TABLE["meta-llama/Llama-4-Scout-17B-16E-Instruct"]["text_config"]}, "text")
    for facts in (SCOUT, text):
        targets = plugin.lora_target_modules(facts, "lora", False)
        assert targets.target_modules == presets.TARGETS and not targets.modules_to_save
        assert targets.target_parameters == ("feed_forward.experts.gate_up_proj", "feed_forward.experts.down_proj")
        assert targets.exclude_modules == ("router",)
    assert plugin.lora_target_modules(text, "lora", True).modules_to_save == ("embed_tokens", "lm_head")


TINY_WRAPPER = {"text_config": {
    "model_type": "llama4_text", "vocab_size": 256, "hidden_size": 32, "intermediate_size": 32,
    "intermediate_size_mlp": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 8, "num_local_experts": 2, "interleave_moe_layer_step": 2, "bos_token_id": 1, "eos_token_id": 2,
    "pad_token_id": 0}, "vision_config": {
    "model_type": "llama4_vision_model", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
    "num_attention_heads": 2, "image_size": 28, "patch_size": 14, "vision_output_dim": 16, "projector_input_dim": 16,
    "projector_output_dim": 32}}


def test_targets_reach_only_the_language_model_in_both_layouts(tmp_path: Any) -> None:
    """The full wrapper (vision tower included) and what AutoModelForCausalLM loads from its checkpoint."""
    import re

    import torch
    from transformers import AutoModelForCausalLM, Llama4Config, Llama4ForConditionalGeneration

    torch.manual_seed(0)
    wrapper = Llama4ForConditionalGeneration(Llama4Config(**TINY_WRAPPER)).eval()
    wrapper.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    ids = torch.tensor([[1, 5, 9, 33, 7]])
    with torch.no_grad():  # the language model alone, with the checkpoint's weights
        assert torch.allclose(wrapper(input_ids=ids).logits, loaded(input_ids=ids).logits, atol=1e-5)
    for model in (wrapper, loaded):
        names = [n for n, _ in model.named_modules()]
        hit = [n for n in names if re.fullmatch(presets.TARGETS, n)]
        assert len(hit) == 4 + 3 + 4 + 3  # attention x2, dense MLP (layer 0), shared expert (layer 1)
        assert not any("vision" in n or "router" in n for n in hit)
        assert any(n.endswith("feed_forward.gate_proj") for n in hit)
    assert any("vision" in n and n.endswith("q_proj") for n, _ in wrapper.named_modules())
