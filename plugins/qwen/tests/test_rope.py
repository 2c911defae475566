"""rope_scaling decisions, and that transformers 5 accepts the dict the way the core applies it."""

from __future__ import annotations

from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ModelFacts
from framework_qwen import plugin


def published(hub_id: str) -> ModelFacts:
    raw = plugin.known_model_configs()[hub_id]
    facts = facts_from_config(raw, hub_id)
    match = plugin.match_model(facts=facts)
    assert match is not None
    return facts.model_copy(update={"variant": match.variant})


def test_native_within_context() -> None:
    decision = plugin.rope_scaling(facts=published("Qwen/Qwen2.5-7B-Instruct"), target_length=32768)
    assert decision.action == "native" and not decision.warnings


@pytest.mark.parametrize(("target", "factor"), [(32769, 2), (65536, 2), (100000, 4), (131072, 4)])
def test_qwen25_yarn(target: int, factor: int) -> None:
    decision = plugin.rope_scaling(facts=published("Qwen/Qwen2.5-7B-Instruct"), target_length=target)
    assert decision.action == "scale"
    assert decision.rope_scaling == {"rope_type": "yarn", "factor": float(factor),
                                     "original_max_position_embeddings": 32768, "rope_theta": 1000000.0}
    assert decision.max_position_embeddings == factor * 32768
    assert any("progressive" in w for w in decision.warnings)


def test_beyond_validated_yarn_is_refused() -> None:
    decision = plugin.rope_scaling(facts=published("Qwen/Qwen3-8B"), target_length=131073)
    assert decision.action == "refuse" and "factor 5" in decision.reason


def test_qwen3_between_pretraining_and_config_length() -> None:
    facts = published("Qwen/Qwen3-8B")
    assert plugin.rope_scaling(facts=facts, target_length=32768).warnings == ()
    decision = plugin.rope_scaling(facts=facts, target_length=40960)
    assert decision.action == "native" and "32768" in decision.warnings[0]
    assert plugin.rope_scaling(facts=facts, target_length=40961).rope_scaling["factor"] == 2.0


def test_v1_and_qwen15_refuse_beyond_native(config: Any) -> None:
    v1 = published("Qwen/Qwen-7B-Chat")
    assert v1.max_position_embeddings == 2048
    assert plugin.rope_scaling(facts=v1, target_length=2048).action == "native"
    refused = plugin.rope_scaling(facts=v1, target_length=4096)
    assert refused.action == "refuse" and "inference" in refused.reason
    qwen15 = facts_from_config(config("Qwen1.5-1.8B-Chat.config.json"), "Qwen/Qwen1.5-1.8B-Chat")
    qwen15 = qwen15.model_copy(update={"variant": "1.5"})
    assert plugin.rope_scaling(facts=qwen15, target_length=8192).action == "refuse"


def test_existing_yarn_warns_on_short_inputs() -> None:
    facts = published("Qwen/Qwen2.5-7B-Instruct").model_copy(update={
        "max_position_embeddings": 131072,
        "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}})
    decision = plugin.rope_scaling(facts=facts, target_length=4096)
    assert decision.action == "native" and "static" in decision.warnings[0]


@pytest.mark.parametrize("kind", ["qwen2", "qwen3"])
def test_transformers_accepts_the_dict(tiny_dense: Any, kind: str) -> None:
    """Applied like framework.methods.load_model: ``config.rope_scaling = dict`` then max positions."""
    import torch
    from transformers import AutoModelForCausalLM

    config = tiny_dense(kind, max_position_embeddings=32768)
    facts = facts_from_config(config.to_dict(), "tiny").model_copy(update={"variant": "3" if kind == "qwen3" else "2"})
    decision = plugin.rope_scaling(facts=facts, target_length=50000)
    assert decision.action == "scale" and decision.rope_scaling is not None
    with pytest.warns(FutureWarning):  # transformers 5 renames rope_scaling to rope_parameters
        config.rope_scaling = decision.rope_scaling
    config.max_position_embeddings = decision.max_position_embeddings
    assert config.rope_parameters["rope_theta"] == 1000000.0 and config.rope_parameters["rope_type"] == "yarn"
    model = AutoModelForCausalLM.from_config(config)
    assert model.model.rotary_emb.rope_type == "yarn" and model.model.rotary_emb.attention_scaling > 1.0
    with torch.no_grad():
        logits = model(torch.arange(8)[None]).logits
    assert torch.isfinite(logits).all()
