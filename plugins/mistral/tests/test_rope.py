"""RoPE decisions per variant, and that a YaRN decision loads and runs on a tiny model."""

from __future__ import annotations

from framework.facts import facts_from_config
from framework_mistral import plugin


def test_native_lengths(facts_v01, facts_v03, facts_nemo, facts_mixtral):
    assert plugin.rope_scaling(facts_v01, 8192).action == "native"
    assert plugin.rope_scaling(facts_v03, 32768).action == "native"
    assert plugin.rope_scaling(facts_mixtral, 32768).action == "native"
    assert plugin.rope_scaling(facts_nemo, 128000).action == "native"


def test_v01_beyond_its_trained_length_warns_about_the_window(facts_v01):
    decision = plugin.rope_scaling(facts_v01, 16384)
    assert decision.action == "native" and any("sliding window" in w for w in decision.warnings)


def test_sliding_window_model_is_never_rope_scaled(facts_v01):
    decision = plugin.rope_scaling(facts_v01, 65536)
    assert decision.action == "refuse" and "sliding-window" in decision.reason


def test_yarn_beyond_native(facts_v03, facts_nemo):
    decision = plugin.rope_scaling(facts_v03, 65536)
    assert decision.action == "scale" and decision.max_position_embeddings == 65536
    assert decision.rope_scaling == {"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 32768,
                                     "rope_theta": 1e6}
    assert any("progressively" in w for w in decision.warnings)
    nemo = plugin.rope_scaling(facts_nemo, 256000)
    assert nemo.rope_scaling["original_max_position_embeddings"] == 128000
    assert any("16384" in w for w in nemo.warnings)  # large-vocabulary loss memory (M7)


def test_nemo_instruct_config_length_is_not_its_trained_length():
    instruct = plugin.known_model_configs()["mistralai/Mistral-Nemo-Instruct-2407"]
    decision = plugin.rope_scaling(facts_from_config(instruct, "nemo-instruct"), 200000)
    assert decision.action == "scale" and decision.rope_scaling["original_max_position_embeddings"] == 128000


def test_factor_above_four_is_refused(facts_v03):
    assert plugin.rope_scaling(facts_v03, 32768 * 4).action == "scale"
    assert plugin.rope_scaling(facts_v03, 32768 * 4 + 1).action == "refuse"


def test_already_scaled_config_is_refused(tiny):
    config = tiny.mistral(vocab_size=32768, sliding_window=None, max_position_embeddings=64).to_dict()
    config["rope_scaling"] = {"rope_type": "linear", "factor": 2.0}
    assert plugin.rope_scaling(facts_from_config(config, "scaled"), 128).action == "refuse"


def test_scale_decision_builds_a_working_model(tiny):
    import torch
    from transformers import MistralForCausalLM

    config = tiny.mistral(vocab_size=32768, sliding_window=None, max_position_embeddings=64, rope_theta=1e6)
    decision = plugin.rope_scaling(facts_from_config(config.to_dict(), "tiny"), 128)
    config.rope_scaling = decision.rope_scaling  # what the core writes onto the config
    config.max_position_embeddings = decision.max_position_embeddings
    model = MistralForCausalLM(config)
    assert model.model.rotary_emb.rope_type == "yarn"
    assert model(input_ids=torch.randint(0, 64, (1, 128))).logits.shape == (1, 128, 32768)
