"""Checkpoints: the published config facts plan with, and the tiny offline Phi-3 the tests train."""

from __future__ import annotations

import json

from framework.facts import facts_from_config
from framework_phi3 import checkpoints, detect
from framework_phi3.vocab import ADDED_TOKENS, VOCAB_SIZE


def test_published_configs_name_their_source_and_are_copies() -> None:
    configs = checkpoints.known_model_configs()
    config = configs["microsoft/Phi-3-mini-4k-instruct"]
    assert config["_source"].endswith("Phi-3-mini-4k-instruct/blob/main/config.json")
    assert config["eos_token_id"] == ADDED_TOKENS["<|endoftext|>"] and config["vocab_size"] == VOCAB_SIZE
    config["hidden_size"] = 1
    assert checkpoints.known_model_configs()["microsoft/Phi-3-mini-4k-instruct"]["hidden_size"] == 3072


def test_tiny_long_context_config_has_one_longrope_factor_per_rotary_pair() -> None:
    config = checkpoints.tiny_config(long_context=True)
    half_head = config["hidden_size"] // config["num_attention_heads"] // 2
    assert len(config["rope_scaling"]["short_factor"]) == len(config["rope_scaling"]["long_factor"]) == half_head
    assert detect.match(facts_from_config(config, "tiny-128k")).variant == "3-128k"


def test_tiny_model_is_transformers_phi3_with_fused_projections() -> None:
    import torch

    model = checkpoints.build_tiny_model()
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    assert {"qkv_proj", "gate_up_proj"} <= names and "q_proj" not in names
    assert model.get_input_embeddings().weight.shape[0] == VOCAB_SIZE
    with torch.no_grad():
        logits = model(torch.tensor([[1, ADDED_TOKENS["<|user|>"], 450]])).logits
    assert logits.shape == (1, 3, VOCAB_SIZE)


def test_saved_tiny_model_is_claimed_from_its_directory_and_has_no_chat_template(tmp_path) -> None:
    directory = checkpoints.save_tiny_model(tmp_path / "tiny", long_context=True)
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert detect.match(facts_from_config(config, str(directory))).variant == "3-128k"
    assert (directory / "model.safetensors").is_file()
    tokenizer_config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert "chat_template" not in tokenizer_config and not (directory / "chat_template.jinja").exists()
