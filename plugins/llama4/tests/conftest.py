"""Fixtures: the real Llama 4 tokenizer (built offline once per session), the official template, tiny configs.

Helpers are handed out as fixtures because, with ``--import-mode=importlib``, test modules of the
plugins cannot import a module named ``conftest``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from framework_llama4.tokenizer import build_llama4_tokenizer

ORACLES = Path(__file__).resolve().parent / "oracles"


def tiny_text_config(**overrides: Any) -> dict[str, Any]:
    """A llama4_text config small enough to train in seconds, with the real vocabulary size.

    Two layers: layer 0 uses RoPE with chunked attention (chunk 8), layer 1 is a NoPE layer
    (``no_rope_layer_interval`` 2); both are MoE with 4 routed experts and a shared expert.
    """
    config = {
        "model_type": "llama4_text", "architectures": ["Llama4ForCausalLM"], "vocab_size": 202048,
        "hidden_size": 32, "intermediate_size": 64, "intermediate_size_mlp": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "num_local_experts": 4,
        "num_experts_per_tok": 1, "interleave_moe_layer_step": 1, "attention_chunk_size": 8,
        "no_rope_layer_interval": 2, "max_position_embeddings": 4096, "rope_theta": 500000.0,
        "bos_token_id": 200000, "eos_token_id": [200001, 200007, 200008], "pad_token_id": 200018,
        "tie_word_embeddings": False,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def tok4() -> Any:
    return build_llama4_tokenizer()


@pytest.fixture(scope="session")
def template4() -> str:
    return (ORACLES / "templates" / "meta-llama-Llama-4-Scout-17B-16E-Instruct.jinja").read_text(encoding="utf-8")


@pytest.fixture(scope="session", name="tiny_text_config")
def _tiny_text_config() -> Any:
    return tiny_text_config
