"""Fixtures of the planner's tests: official configs (test oracles) read from the shared folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ModelFacts

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    return Path(os.environ.get("FRAMEWORK_SHARED_DIR") or REPO.parent / "shared")


@pytest.fixture(scope="session")
def official() -> Callable[[str], ModelFacts]:
    """Facts of an official config.json kept in shared/reference/official/configs, by file stem."""
    folder = shared_dir() / "reference" / "official" / "configs"
    if not folder.is_dir():
        pytest.skip(f"official configs not found at {folder} (set FRAMEWORK_SHARED_DIR)")

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
