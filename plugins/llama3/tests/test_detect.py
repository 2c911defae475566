"""Detection on the official configs, tiny configs and other families' configs; entry-point wiring."""

from __future__ import annotations

from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.plugins import make_plugin_host
from framework_llama3 import plugin

LLAMA3 = {
    "Meta-Llama-3-8B": "3",
    "Meta-Llama-3-8B-Instruct": "3",
    "Llama-3.1-8B-Instruct": "3.1",
    "Llama-3.2-1B-Instruct.mlc": "3.2",
    "Llama-3.2-1B-Instruct.thunder": "3.2",
    "Llama-3.2-3B-Instruct": "3.2",
}
OTHERS = [
    "Mistral-7B-v0.1", "Mistral-7B-v0.1.mlc", "Mistral-7B-v0.3", "Mistral-Nemo-Base-2407", "Mixtral-8x7B-v0.1",
    "Qwen-1_8B-Chat.mlc", "Qwen-7B-Chat", "Qwen1.5-1.8B-Chat", "Qwen2-0.5B-Instruct", "Qwen2-7B-Instruct",
    "Qwen2.5-0.5B", "Qwen2.5-3B-Instruct", "Qwen2.5-7B-Instruct", "Qwen3-0.6B", "Qwen3-1.7B",
    "gemma-2-27b-it.mlc", "gemma-2-2b-it", "gemma-2-9b-it", "gemma-2-9b-it.mlc", "gemma-2b", "gemma-3-1b-it",
]
LLAMA2_7B = {  # Meta's Llama-2-7b-hf config.json: same model_type, 32000 vocabulary
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000, "hidden_size": 4096,
    "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
    "max_position_embeddings": 4096, "bos_token_id": 1, "eos_token_id": 2, "rope_theta": 10000.0,
}


@pytest.mark.parametrize(("name", "variant"), LLAMA3.items())
def test_official_llama3_configs(name: str, variant: str, facts_for: Any) -> None:
    result = plugin.match_model(facts_for(name))
    assert result is not None and result.score == 100 and result.variant == variant
    assert any("vocab_size=128256" in r for r in result.reasons)


@pytest.mark.parametrize("name", OTHERS)
def test_other_families_are_not_claimed(name: str, facts_for: Any) -> None:
    assert plugin.match_model(facts_for(name)) is None


def test_llama2_is_not_claimed() -> None:
    assert plugin.match_model(facts_from_config(LLAMA2_7B, "meta-llama/Llama-2-7b-hf")) is None


def test_transformers5_saved_configs(tiny_config: Any) -> None:
    """Configs saved by transformers 5 keep RoPE in ``rope_parameters``; detection reads the normalised facts."""
    from transformers import LlamaConfig

    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192, "rope_theta": 500000.0}
    saved = LlamaConfig(**tiny_config(max_position_embeddings=131072), rope_parameters=rope).to_dict()
    assert saved.get("rope_scaling") is None and saved["rope_parameters"]["rope_type"] == "llama3"
    assert plugin.match_model(facts_from_config(saved, "t5-3.1")).variant == "3.1"
    plain = LlamaConfig(**tiny_config()).to_dict()
    assert plugin.match_model(facts_from_config(plain, "t5-3")).variant == "3"


def test_extended_vocabulary_and_extended_context(tiny_config: Any) -> None:
    extended = plugin.match_model(facts_from_config(tiny_config(vocab_size=140000), "zh-extended"))
    assert extended is not None and extended.score == 60 and extended.variant == "3"
    assert plugin.match_model(facts_from_config(tiny_config(vocab_size=140000, bos_token_id=1), "x")) is None
    linear = tiny_config(max_position_embeddings=32768, rope_scaling={"type": "linear", "factor": 4.0})
    result = plugin.match_model(facts_from_config(linear, "long"))
    assert result.variant == "3" and "linear" in result.reasons[-1]


def test_entry_point_wiring_selects_llama3(facts_for: Any) -> None:
    host = make_plugin_host()
    info = host.infos["llama3"]
    assert info.status == "loaded" and info.distribution == "framework-llama3" and not info.builtin
    for name, variant in LLAMA3.items():
        selection = host.select(facts_for(name))
        assert selection.name == "llama3" and selection.match.variant == variant
        assert host.family(selection, facts_for(name)).facts.variant == variant
    assert "llama3" not in dict(host.matches(facts_from_config(LLAMA2_7B, "llama2")))
    published = dict(host.call_all("known_model_configs"))["llama3"]
    assert "meta-llama/Meta-Llama-3-8B" in published
