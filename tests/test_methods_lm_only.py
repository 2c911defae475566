"""A multimodal wrapper trains only its language model when the plugin says so."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from framework.methods import restrict_to_language_model


def test_vision_tower_and_projector_stay_frozen_under_full_training() -> None:
    text = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=16, sliding_window=8)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                  patch_size=14)
    config = AutoConfig.for_model("gemma3", text_config=text, vision_config=vision, mm_tokens_per_image=4)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    frozen = restrict_to_language_model(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert frozen > 0
    assert trainable and all("vision" not in n and "multi_modal_projector" not in n for n in trainable)
    assert any("language_model" in n for n in trainable)
