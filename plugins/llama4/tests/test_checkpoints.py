"""The published Scout/Maverick configs: every text-model release Meta lists, built to the announced sizes."""

from __future__ import annotations

import pytest

from framework.facts import facts_from_config
from framework_llama4 import checkpoints, vocab

SCOUT = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
MAVERICK = "meta-llama/Llama-4-Maverick-17B-128E-Instruct"


def test_every_bf16_release_in_metas_sku_list_is_published() -> None:
    """Meta's ``llama_models.sku_list``: the four bf16 repositories; the FP8 Maverick is a quantized copy."""
    from llama_models.sku_list import llama4_family

    table = checkpoints.known_model_configs()
    released = {m.huggingface_repo for m in llama4_family() if m.quantization_format.value == "bf16"}
    assert set(table) == released and len(table) == 4
    for hub_id, config in table.items():
        assert config["_source"] and config["text_config"]["vocab_size"] == vocab.VOCAB_SIZE
        base = hub_id.removesuffix("-Instruct")
        assert table[base] == table[hub_id]  # Instruct and base carry the same config.json
        facts = facts_from_config(config, hub_id)
        assert facts.hidden_size == 5120 and facts.num_hidden_layers == 48 and facts.vocab_size == vocab.VOCAB_SIZE


def test_callers_get_copies() -> None:
    first = checkpoints.known_model_configs()
    first[SCOUT]["text_config"]["hidden_size"] = -1
    assert checkpoints.known_model_configs()[SCOUT]["text_config"]["hidden_size"] == 5120


def test_published_configs_build_to_the_announced_sizes() -> None:
    """Meta's announcement: Scout 17B active / 109B total, Maverick 17B active / 400B total.

    AutoModelForCausalLM builds the language model only (107.8B for Scout; its ~1B vision tower is left out).
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    sizes = {}
    for hub_id in (SCOUT, MAVERICK):
        config = {k: v for k, v in checkpoints.known_model_configs()[hub_id].items() if k != "_source"}
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
        sizes[hub_id] = sum(p.numel() for p in model.parameters()) / 1e9
    assert sizes[SCOUT] == pytest.approx(109, abs=1.5) and sizes[MAVERICK] == pytest.approx(400, abs=5)
