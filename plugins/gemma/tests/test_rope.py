"""RoPE decisions, and that transformers builds a working model from the scaling the plugin returns."""

from __future__ import annotations

from typing import Any

import pytest

from framework.facts import facts_from_config
from framework_gemma import checkpoints, plugin


def published(hub_id: str) -> Any:
    facts = facts_from_config(checkpoints.known_model_configs()[hub_id], hub_id)
    return facts.model_copy(update={"variant": plugin.match_model(facts).variant})


@pytest.mark.parametrize(("name", "native"), [("gemma-2b", 8192), ("gemma-2-9b-it", 8192), ("gemma-3-1b-it", 32768)])
def test_native_context(name: str, native: int, facts_for: Any) -> None:
    decision = plugin.rope_scaling(facts_for(name), native)
    assert decision.action == "native" and str(native) in decision.reason


def test_gemma2_is_refused_beyond_8192(facts_for: Any) -> None:
    decision = plugin.rope_scaling(facts_for("gemma-2-9b-it", "2"), 8193)
    assert decision.action == "refuse" and "sliding-window" in decision.reason


@pytest.mark.parametrize(("target", "factor"), [(8193, 2.0), (16384, 2.0), (20000, 4.0), (65536, 8.0)])
def test_gemma1_linear_interpolation(target: int, factor: float, facts_for: Any) -> None:
    decision = plugin.rope_scaling(facts_for("gemma-2b", "1"), target)
    assert decision.action == "scale" and decision.max_position_embeddings == target
    assert decision.rope_scaling == {"rope_type": "linear", "factor": factor, "rope_theta": 10000.0}
    assert "progressively" in decision.warnings[0] and "data.seq_schedule" in decision.warnings[0]
    assert plugin.rope_scaling(facts_for("gemma-2b", "1"), 65537).action == "refuse"


def test_gemma3_1b_scales_global_layers_only(facts_for: Any) -> None:
    decision = plugin.rope_scaling(facts_for("gemma-3-1b-it", "3"), 65536)
    assert decision.action == "scale" and decision.max_position_embeddings == 65536
    assert decision.rope_scaling == {
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
    }
    assert plugin.rope_scaling(facts_for("gemma-3-1b-it", "3"), 131073).action == "refuse"


@pytest.mark.parametrize("hub_id", ["google/gemma-3-4b-it", "google/gemma-3-27b-pt"])
def test_already_scaled_multimodal_models(hub_id: str) -> None:
    facts = published(hub_id)
    assert plugin.rope_scaling(facts, 131072).action == "native"
    refused = plugin.rope_scaling(facts, 131073)
    assert refused.action == "refuse" and "rope_type=linear" in refused.reason


def test_transformers5_gemma3_configs_are_read(tiny_config: Any) -> None:
    """transformers 5 saves Gemma 3 RoPE per layer type in rope_parameters; the existing scaling is still seen."""
    from transformers import AutoConfig

    wrapper = dict(tiny_config("gemma3"))
    saved = AutoConfig.for_model(wrapper.pop("model_type"), **wrapper).to_dict()
    facts = facts_from_config(saved, "saved")
    assert facts.rope_scaling is None  # the core's flat view misses the nested per-layer parameters
    refused = plugin.rope_scaling(facts.model_copy(update={"variant": "3-multimodal"}), 200000)
    assert refused.action == "refuse" and "rope_type=linear" in refused.reason
    text = dict(tiny_config("gemma3_text"))
    saved_text = AutoConfig.for_model(text.pop("model_type"), **text).to_dict()
    decision = plugin.rope_scaling(facts_from_config(saved_text, "t").model_copy(update={"variant": "3"}), 40000)
    assert decision.action == "scale" and decision.rope_scaling["full_attention"]["rope_theta"] == 1000000.0


def test_unscaled_wrapper_is_refused(tiny_config: Any) -> None:
    inner = {k: v for k, v in tiny_config("gemma3")["text_config"].items() if k != "rope_scaling"}
    facts = facts_from_config(tiny_config("gemma3", text_config=inner), "custom")
    decision = plugin.rope_scaling(facts.model_copy(update={"variant": "3-multimodal"}), 200000)
    assert decision.action == "refuse" and "text_config" in decision.reason


@pytest.mark.parametrize(("model_type", "target"), [("gemma", 32768), ("gemma3_text", 65536)])
def test_transformers_accepts_the_scaling(model_type: str, target: int, tiny_config: Any) -> None:
    """Apply the decision the way the core does (assign config.rope_scaling) and run a tiny model."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = dict(tiny_config(model_type))
    kind = config.pop("model_type")
    facts = facts_from_config(tiny_config(model_type), "tiny")
    decision = plugin.rope_scaling(facts.model_copy(update={"variant": plugin.match_model(facts).variant}), target)
    assert decision.action == "scale"
    scaled = AutoConfig.for_model(kind, **config)
    scaled.rope_scaling = decision.rope_scaling
    scaled.max_position_embeddings = decision.max_position_embeddings
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(scaled)
    plain = AutoModelForCausalLM.from_config(AutoConfig.for_model(kind, **config)).model.rotary_emb
    rotary = model.model.rotary_emb
    if model_type == "gemma":
        assert torch.allclose(rotary.inv_freq, plain.inv_freq / 4.0)  # 32768 / 8192: linear x4
    else:
        assert torch.allclose(rotary.full_attention_inv_freq, plain.full_attention_inv_freq / 8.0)
        assert torch.equal(rotary.sliding_attention_inv_freq, plain.sliding_attention_inv_freq)
    positions = torch.arange(target - 64, target).unsqueeze(0)
    logits = model(torch.arange(64).unsqueeze(0) % 500, position_ids=positions).logits
    assert torch.isfinite(logits).all()


def test_gemma4_native_within_the_context_and_refused_beyond(claimed: Any) -> None:
    facts = claimed(checkpoints.known_model_configs()["google/gemma-4-31B-it"])
    assert plugin.rope_scaling(facts, 262144).action == "native"
    refused = plugin.rope_scaling(facts, 262145)
    assert refused.action == "refuse" and "proportional RoPE" in refused.reason
    e2b = claimed(checkpoints.known_model_configs()["google/gemma-4-E2B-it"])
    assert plugin.rope_scaling(e2b, 131073).action == "refuse"
