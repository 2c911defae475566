"""Parameter counts from config shapes against the published model sizes."""

from __future__ import annotations

import pytest

from framework.facts import facts_from_config
from framework.planning import parameter_count
from framework.planning.shapes import shape_from_facts


@pytest.mark.parametrize(("config", "published"), [
    ("Meta-Llama-3-8B", 8.03e9),  # 8,030,261,248 in the model card's safetensors index
    ("Llama-3.1-8B-Instruct", 8.03e9),
    ("Qwen2.5-7B-Instruct", 7.61e9),  # "Number of Parameters: 7.61B" (model card)
    ("Mistral-7B-v0.1", 7.24e9),  # "7.24B params"
    ("gemma-2-9b-it", 9.24e9),  # "9.24B params"; tied head, head_dim 256 > hidden / heads
    ("Mixtral-8x7B-v0.1", 46.7e9),  # "46.7B total parameters"
    ("Llama-3.2-3B-Instruct", 3.21e9),  # tied head
    ("gemma-2-2b-it", 2.61e9),
])
def test_parameter_count_matches_published_sizes_within_half_a_percent(official, config: str,
                                                                        published: float) -> None:
    assert parameter_count(official(config)) == pytest.approx(published, rel=0.005)


def test_hand_count_of_an_8b_decoder(official) -> None:
    """Per block: q,o 4096x4096; k,v 4096x1024; gate, up, down 4096x14336; two norms."""
    block = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096
    expected = 128256 * 4096 * 2 + 32 * block + 4096
    assert parameter_count(official("Meta-Llama-3-8B")) == expected == 8_030_261_248


def test_a_tied_head_is_counted_once() -> None:
    base = {"model_type": "x", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "vocab_size": 1000}
    untied = parameter_count(facts_from_config({**base, "tie_word_embeddings": False}, "x"))
    tied = parameter_count(facts_from_config({**base, "tie_word_embeddings": True}, "x"))
    missing = parameter_count(facts_from_config(base, "x"))  # transformers' default: tied
    assert untied - tied == 1000 * 64
    assert missing == tied


def test_grouped_kv_heads_and_explicit_head_dim_size_the_projections(official) -> None:
    shape = shape_from_facts(official("gemma-2-9b-it"))
    assert (shape.q_width, shape.kv_width) == (16 * 256, 8 * 256)
    qwen = shape_from_facts(official("Qwen2.5-7B-Instruct"))
    assert (qwen.q_width, qwen.kv_width) == (3584, 4 * 128)


def test_experts_multiply_the_mlp_and_add_a_router(official) -> None:
    shape = shape_from_facts(official("Mixtral-8x7B-v0.1"))
    assert (shape.experts, shape.experts_per_token) == (8, 2)
    dense_mlp = 3 * 4096 * 14336
    mlp = sum(lin.numel for lin in shape.linears() if lin.role in ("expert", "router"))
    assert mlp == 8 * dense_mlp + 4096 * 8
    # transformers 5 fuses gate and up projections of all experts into one 3-D parameter
    assert [(lin.key, lin.fused) for lin in shape.linears() if lin.role == "expert"] == [
        ("experts.gate_up_proj", True), ("experts.down_proj", True)]
    # "12.9B active parameters" (Mistral AI's Mixtral announcement): 2 of 8 experts per token
    assert abs(shape.active_parameter_count() - 12.9e9) / 12.9e9 < 0.01


def test_missing_shapes_name_the_key() -> None:
    from framework.errors import ModelError

    facts = facts_from_config({"model_type": "x", "hidden_size": 64}, "somewhere")
    with pytest.raises(ModelError, match="num_attention_heads"):
        parameter_count(facts)


#: Text configs of published mixtures of experts (the keys the counts read) and their published
#: totals and active counts. Qwen3-30B-A3B: config.json of Qwen/Qwen3-30B-A3B and its model card
#: ("30.5B in total and 3.3B activated"). Llama 4: config.json text_config of
#: meta-llama/Llama-4-Scout-17B-16E / -Maverick-17B-128E and Meta's model card ("17B active",
#: 109B / 400B total, the vision encoder's ~1B included). Gemma 4 26B-A4B: its text_config as the
#: gemma plugin records it and Google's model card ("25.2B total, 3.8B active").
_LLAMA4 = {"model_type": "llama4_text", "hidden_size": 5120, "intermediate_size": 8192,
           "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
           "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 202048, "num_experts_per_tok": 1,
           "tie_word_embeddings": False}
PUBLISHED_MOE = {
    "Qwen3-30B-A3B": ({"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144,
                       "moe_intermediate_size": 768, "num_hidden_layers": 48, "num_attention_heads": 32,
                       "num_key_value_heads": 4, "head_dim": 128, "num_experts": 128, "num_experts_per_tok": 8,
                       "vocab_size": 151936, "tie_word_embeddings": False, "decoder_sparse_step": 1,
                       "mlp_only_layers": []}, 30.5e9, 3.3e9),
    "Llama-4-Scout": ({**_LLAMA4, "num_local_experts": 16, "interleave_moe_layer_step": 1}, 108e9, 17e9),
    "Llama-4-Maverick": ({**_LLAMA4, "num_local_experts": 128, "interleave_moe_layer_step": 2}, 400e9, 17e9),
    "Gemma-4-26B-A4B": ({"model_type": "gemma4_text", "hidden_size": 2816, "intermediate_size": 2112,
                         "moe_intermediate_size": 704, "num_hidden_layers": 30, "num_attention_heads": 16,
                         "num_key_value_heads": 8, "head_dim": 256, "num_experts": 128, "top_k_experts": 8,
                         "enable_moe_block": True, "vocab_size": 262144}, 25.2e9, 3.8e9),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_MOE))
def test_total_and_active_parameters_of_published_mixtures(name: str) -> None:
    """Mixed dense/MoE blocks, shared experts, a dense MLP beside the experts and the top-k key
    names of each config are read; both counts land within 4% of the published ones."""
    config, total, active = PUBLISHED_MOE[name]
    shape = shape_from_facts(facts_from_config(config, name))
    assert abs(shape.parameter_count() - total) / total < 0.04
    assert abs(shape.active_parameter_count() - active) / active < 0.04
