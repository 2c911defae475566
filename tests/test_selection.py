"""Selection through the real entry points of the four installed plugin distributions."""

from __future__ import annotations

import pytest

from framework.facts import facts_from_config
from framework.plugins import make_plugin_host

TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)

CASES = [
    ("llama3", {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 128256,
                "max_position_embeddings": 8192, "rope_theta": 500000.0, "bos_token_id": 128000,
                "eos_token_id": 128001, **TINY}),
    ("generic", {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 32000,
                 "max_position_embeddings": 4096, "bos_token_id": 1, "eos_token_id": 2, **TINY}),
    ("qwen", {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "vocab_size": 151936,
              "max_position_embeddings": 32768, "rope_theta": 1000000.0, "eos_token_id": 151645, **TINY}),
    ("mistral", {"model_type": "mistral", "architectures": ["MistralForCausalLM"], "vocab_size": 32000,
                 "sliding_window": 4096, "max_position_embeddings": 32768, "bos_token_id": 1, "eos_token_id": 2,
                 **TINY}),
    ("gemma", {"model_type": "gemma", "architectures": ["GemmaForCausalLM"], "vocab_size": 256000, "head_dim": 16,
               "max_position_embeddings": 8192, "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, **TINY}),
    ("gemma", {"model_type": "gemma2", "architectures": ["Gemma2ForCausalLM"], "vocab_size": 256000, "head_dim": 16,
               "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "sliding_window": 4096,
               "max_position_embeddings": 8192, "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, **TINY}),
    ("generic", {"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"], "vocab_size": 50432, **TINY}),
]


@pytest.fixture(scope="module")
def host():  # type: ignore[no-untyped-def]
    return make_plugin_host(strict=True)


def test_the_four_distributions_are_discovered_through_entry_points(host) -> None:  # type: ignore[no-untyped-def]
    for name in ("llama3", "qwen", "mistral", "gemma"):
        info = host.infos[name]
        assert info.status == "loaded" and info.distribution == f"framework-{name}" and not info.builtin
        assert "match_model" in info.hooks and "render_chat" in info.hooks


@pytest.mark.parametrize(("expected", "config"), CASES, ids=[f"{c[0]}-{c[1]['model_type']}-{c[1]['vocab_size']}" for c in CASES])
def test_the_right_plugin_is_selected(host, expected: str, config: dict) -> None:  # type: ignore[no-untyped-def]
    selection = host.select(facts_from_config(config, "tiny"))
    assert selection.name == expected
    if expected != "generic":
        assert selection.match is not None and selection.match.reasons


def test_after_selection_only_the_selected_plugin_answers(host) -> None:  # type: ignore[no-untyped-def]
    facts = facts_from_config(CASES[0][1], "tiny")
    family = host.family(host.select(facts), facts)
    targets = family.lora_targets("lora", False)
    assert "q_proj" in targets.target_modules
    assert family.default_hyperparameters("lora", "sft")[0] == "llama3"
