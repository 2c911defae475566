"""Fixtures: the real Mistral vocabularies as fast tokenizers, official configs, tiny models.

The tokenizers are built by ``framework_mistral.tokenizer`` from the files mistral-common ships
(no download): sentencepiece v1 and v3 in the ``first`` and ``legacy`` dummy-prefix modes,
NeMo's Tekken file, and the later Tekken versions (v7, v11, v13) as NeMo's file with the later
control tokens at their ranks. mistral-common's own ``MistralTokenizer`` is the ground truth the
tests compare with (``mistral_common_encoder``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ModelFacts
from framework_mistral.tokenizer import (
    later_tekken_raw,
    mistral_data,
    sentencepiece_tokenizer,
    spm_proto as load_spm_proto,
    tekken_file,
    tekken_tokenizer,
)


#: Official templates and configs copied into the repository with their provenance
#: (oracles/SOURCES.md), so a clone runs the tests with nothing beside it.
OFFICIAL = Path(__file__).resolve().parent / "oracles"


def official_template(name: str) -> str:
    return (OFFICIAL / "templates" / name).read_text(encoding="utf-8")


def official_config(name: str) -> dict[str, Any]:
    return json.loads((OFFICIAL / "configs" / name).read_text(encoding="utf-8"))


def official_facts(name: str) -> ModelFacts:
    return facts_from_config(official_config(name), name)


class Official:
    """Access to the official templates and configs (test oracles) copied under ``oracles/``."""

    template = staticmethod(official_template)
    config = staticmethod(official_config)
    facts = staticmethod(official_facts)
    root = OFFICIAL


@pytest.fixture(scope="session")
def official() -> Official:
    return Official()


@pytest.fixture(scope="session")
def tiny() -> Any:
    """Builders of tiny transformers configs: ``tiny.mistral(**kw)``, ``tiny.mixtral(**kw)``."""

    class Tiny:
        mistral = staticmethod(tiny_mistral_config)
        mixtral = staticmethod(tiny_mixtral_config)

    return Tiny()


@pytest.fixture(scope="session")
def build_tokenizer() -> Any:
    """Build a private tokenizer a test may modify: ``build_tokenizer("tokenizer.model.v1", "first")``."""
    return lambda name, mode="first": sentencepiece_tokenizer(mistral_data(name), mode)


@pytest.fixture(scope="session")
def spm_proto() -> Any:
    """The parsed sentencepiece model of a mistral-common file: ``spm_proto("tokenizer.model.v1")``."""
    return load_spm_proto


@pytest.fixture(scope="session")
def tok_v1() -> Any:
    return sentencepiece_tokenizer(mistral_data("tokenizer.model.v1"), "first")


@pytest.fixture(scope="session")
def tok_v1_legacy() -> Any:
    return sentencepiece_tokenizer(mistral_data("tokenizer.model.v1"), "legacy")


@pytest.fixture(scope="session")
def tok_v3() -> Any:
    return sentencepiece_tokenizer(mistral_data("mistral_instruct_tokenizer_240323.model.v3"), "first")


@pytest.fixture(scope="session")
def tok_v3_legacy() -> Any:
    return sentencepiece_tokenizer(mistral_data("mistral_instruct_tokenizer_240323.model.v3"), "legacy")


@pytest.fixture(scope="session")
def tok_tekken() -> Any:
    """NeMo's Tekken vocabulary through transformers' tekken converter (about 4 s)."""
    return tekken_tokenizer(mistral_data("tekken_240718.json"))


@pytest.fixture(scope="session")
def facts_v01() -> ModelFacts:
    return official_facts("Mistral-7B-v0.1.config.json")


@pytest.fixture(scope="session")
def facts_v03() -> ModelFacts:
    return official_facts("Mistral-7B-v0.3.config.json")


@pytest.fixture(scope="session")
def facts_nemo() -> ModelFacts:
    return official_facts("Mistral-Nemo-Base-2407.config.json")


@pytest.fixture(scope="session")
def facts_mixtral() -> ModelFacts:
    return official_facts("Mixtral-8x7B-v0.1.config.json")


def tiny_mistral_config(**overrides: Any) -> Any:
    from transformers import MistralConfig

    values = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    values.update(overrides)
    return MistralConfig(**values)


def tiny_mixtral_config(**overrides: Any) -> Any:
    from transformers import MixtralConfig

    values = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                  max_position_embeddings=256)
    values.update(overrides)
    return MixtralConfig(**values)


@functools.lru_cache(maxsize=None)
def mistral_common_encoder(name: str, mode: str = "finetuning") -> Any:
    """mistral-common's own tokenizer for a file it ships (ground truth); ``mode`` "finetuning" accepts
    conversations ending with a reply, "test" inference prompts."""
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    return MistralTokenizer.from_file(str(mistral_data(name)), mode=ValidationMode(mode))


def mistral_common_request(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> Any:
    """Our ``Message`` dicts as a mistral-common request (an assistant turn that only calls tools has no content)."""
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    converted = []
    for message in messages:
        message = dict(message)
        reasoning = message.pop("reasoning_content", None)
        if reasoning:
            text = [{"type": "text", "text": message["content"]}] if message.get("content") else []
            message["content"] = [{"type": "thinking", "thinking": reasoning}, *text]
        elif message.get("role") == "assistant" and message.get("tool_calls") and not message.get("content"):
            message["content"] = None
        converted.append(message)
    return ChatCompletionRequest(messages=converted, tools=tools)


@pytest.fixture(scope="session")
def tekken_later(tmp_path_factory: Any) -> Any:
    """The v7+ Tekken vocabulary: one fast tokenizer (same for v7/v11/v13) and mistral-common's encoders."""
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    directory = tmp_path_factory.mktemp("tekken")
    raw = later_tekken_raw()
    files: dict[str, Path] = {}
    cache: dict[tuple[str, str], Any] = {}

    def file(version: str) -> Path:
        if version not in files:
            files[version] = tekken_file(directory, version, raw)
        return files[version]

    class Later:
        tokenizer = tekken_tokenizer(file("v13"))

        @staticmethod
        def encoder(version: str, mode: str = "finetuning") -> Any:
            if (version, mode) not in cache:
                cache[version, mode] = MistralTokenizer.from_file(str(file(version)), mode=ValidationMode(mode))
            return cache[version, mode]

    return Later()
