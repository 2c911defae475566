"""RoPE decisions, and that transformers builds a working model from the scaling the plugin returns."""

from __future__ import annotations

from typing import Any

import pytest

from framework.facts import facts_from_config
from framework_llama3 import plugin


@pytest.mark.parametrize("name", ["Llama-3.1-8B-Instruct", "Llama-3.2-3B-Instruct"])
def test_native_llama3_scaling_up_to_131072_then_refuse(name: str, facts_for: Any) -> None:
    facts = facts_for(name)
    assert plugin.rope_scaling(facts, 131072).action == "native"
    refused = plugin.rope_scaling(facts, 131073)
    assert refused.action == "refuse" and "rope_type=llama3" in refused.reason


@pytest.mark.parametrize(("target", "factor"), [(8193, 2.0), (16384, 2.0), (20000, 4.0), (65536, 8.0), (131072, 16.0)])
def test_llama3_base_is_scaled_with_llama3_rope(target: int, factor: float, facts_for: Any) -> None:
    facts = facts_for("Meta-Llama-3-8B", "3")
    assert plugin.rope_scaling(facts, 8192).action == "native"
    decision = plugin.rope_scaling(facts, target)
    assert decision.action == "scale" and decision.max_position_embeddings == target
    assert decision.rope_scaling == {
        "rope_type": "llama3", "factor": factor, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192, "rope_theta": 500000.0,
    }
    assert "progressively" in decision.warnings[0] and "data.seq_schedule" in decision.warnings[0]


def test_beyond_any_llama3_context_is_refused(facts_for: Any, tiny_config: Any) -> None:
    assert plugin.rope_scaling(facts_for("Meta-Llama-3-8B", "3"), 262144).action == "refuse"
    linear = facts_from_config(tiny_config(max_position_embeddings=32768,
                                           rope_scaling={"rope_type": "linear", "factor": 4.0}), "long")
    assert plugin.rope_scaling(linear, 32768).action == "native"
    assert plugin.rope_scaling(linear, 40000).action == "refuse"


def test_transformers_accepts_the_scaling(facts_for: Any, official_config: Any) -> None:
    """Apply the decision the way the core does (assign config.rope_scaling) and run a tiny model."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    decision = plugin.rope_scaling(facts_for("Meta-Llama-3-8B", "3"), 32768)
    shape = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 2,
             "num_key_value_heads": 1, "vocab_size": 256}
    base = LlamaConfig(**{**official_config("Meta-Llama-3-8B"), **shape})
    scaled = LlamaConfig(**{**official_config("Meta-Llama-3-8B"), **shape})
    scaled.rope_scaling = decision.rope_scaling
    scaled.max_position_embeddings = decision.max_position_embeddings
    reference = LlamaConfig(**{**official_config("Meta-Llama-3-8B"), **shape, "max_position_embeddings": 32768},
                            rope_parameters=dict(decision.rope_scaling))
    torch.manual_seed(0)
    model = LlamaForCausalLM(scaled)
    inv = model.model.rotary_emb.inv_freq
    plain = LlamaForCausalLM(base).model.rotary_emb.inv_freq
    assert torch.equal(inv, LlamaForCausalLM(reference).model.rotary_emb.inv_freq)
    assert torch.allclose(inv[:4], plain[:4])  # high frequencies (short wavelengths) untouched
    assert torch.allclose(inv[-1], plain[-1] / 4.0)  # the lowest frequency divided by the factor
    logits = model(torch.arange(64).unsqueeze(0) % 256, position_ids=torch.arange(30000, 30064).unsqueeze(0)).logits
    assert torch.isfinite(logits).all()
