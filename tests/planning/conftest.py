"""Fixtures of the planner's tests: official configs (test oracles) kept in tests/oracles/configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ModelFacts

REPO = Path(__file__).resolve().parents[2]


#: Published config.json files, with their provenance in tests/oracles/SOURCES.md.
OFFICIAL_CONFIGS = REPO / "tests" / "oracles" / "configs"


@pytest.fixture(scope="session")
def official() -> Callable[[str], ModelFacts]:
    """Facts of an official config.json kept in tests/oracles/configs, by file stem."""
    folder = OFFICIAL_CONFIGS

    def load(name: str) -> ModelFacts:
        config = json.loads((folder / f"{name}.config.json").read_text(encoding="utf-8"))
        return facts_from_config(config, name)

    return load


@pytest.fixture(scope="session")
def llama2_7b() -> ModelFacts:
    """LLaMA-2-7B, the model of LLaMA-Factory's published measurements.

    source: https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json
    """
    return facts_from_config({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
        "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
    }, "meta-llama/Llama-2-7b-hf")
