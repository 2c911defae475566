"""Fixtures: the real Llama 3 tokenizers (built offline once per session), official oracles, facts.

Helpers are handed out as fixtures because, with ``--import-mode=importlib``, test modules of the
four plugins cannot import a module named ``conftest``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ModelFacts
from framework_llama3.tokenizer import build_llama3_tokenizer


#: Copies of the official files the tests compare against, with their origin and sha256 in
#: oracles/SOURCES.md (tests never read outside the repository).
ORACLES = Path(__file__).resolve().parent / "oracles"

#: Official template file per variant.
TEMPLATES = {
    "3": "meta-llama-3-8b-instruct.jinja",
    "3.1": "llama-3.1-8b-instruct.jinja",
    "3.2": "llama-3.2-3b-instruct.jinja",
}


def official_config(name: str) -> dict[str, Any]:
    return json.loads((ORACLES / "configs" / f"{name}.config.json").read_text(encoding="utf-8"))


def official_template(variant: str) -> str:
    return (ORACLES / "templates" / TEMPLATES[variant]).read_text(encoding="utf-8")


def facts_for(name: str, variant: str | None = None) -> ModelFacts:
    facts = facts_from_config(official_config(name), name)
    return facts.model_copy(update={"variant": variant}) if variant else facts


def tiny_config(**overrides: Any) -> dict[str, Any]:
    """A Llama 3 shaped config small enough to instantiate in milliseconds (real vocabulary size)."""
    config = {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 128256,
        "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 1, "max_position_embeddings": 8192, "rope_theta": 500000.0,
        "bos_token_id": 128000, "eos_token_id": 128001, "tie_word_embeddings": False,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session", name="official_config")
def _official_config_fixture() -> Any:
    return official_config


@pytest.fixture(scope="session", name="official_template")
def _official_template_fixture() -> Any:
    return official_template


@pytest.fixture(scope="session", name="facts_for")
def _facts_for_fixture() -> Any:
    return facts_for


@pytest.fixture(scope="session", name="tiny_config")
def _tiny_config_fixture() -> Any:
    return tiny_config


@pytest.fixture(scope="session")
def tok3() -> Any:
    """Meta-Llama-3-8B's tokenizer: base eos <|end_of_text|>, Llama 3.0 control-token names."""
    return build_llama3_tokenizer("3")


@pytest.fixture(scope="session")
def tok31() -> Any:
    """Llama 3.1/3.2 Instruct tokenizer: eos <|eot_id|>, <|finetune_right_pad_id|> and <|eom_id|> named."""
    return build_llama3_tokenizer("3.1", instruct=True)


@pytest.fixture(scope="session")
def tokenizers(tok3: Any, tok31: Any) -> dict[str, Any]:
    return {"3": tok3, "3.1": tok31, "3.2": tok31}
