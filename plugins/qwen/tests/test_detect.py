"""match_model on the official configs (with hub names and with neutral paths), tiny configs,
other families' configs and entry-point wiring."""

from __future__ import annotations

from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.plugins import make_plugin_host
from framework_qwen import plugin

# official config file -> (hub id, variant from the hub id, variant from the config alone)
OFFICIAL = {
    "Qwen-7B-Chat.config.json": ("Qwen/Qwen-7B-Chat", "1", "1"),
    "Qwen-1_8B-Chat.mlc.config.json": ("Qwen/Qwen-1_8B-Chat", "1", "1"),
    "Qwen1.5-1.8B-Chat.config.json": ("Qwen/Qwen1.5-1.8B-Chat", "1.5", "1.5"),
    "Qwen2-0.5B-Instruct.config.json": ("Qwen/Qwen2-0.5B-Instruct", "2", "2"),
    "Qwen2-7B-Instruct.config.json": ("Qwen/Qwen2-7B-Instruct", "2", "2"),
    "Qwen2.5-0.5B.config.json": ("Qwen/Qwen2.5-0.5B", "2.5", "2"),
    "Qwen2.5-3B-Instruct.config.json": ("Qwen/Qwen2.5-3B-Instruct", "2.5", "2"),
    "Qwen2.5-7B-Instruct.config.json": ("Qwen/Qwen2.5-7B-Instruct", "2.5", "2"),
    "Qwen3-0.6B.config.json": ("Qwen/Qwen3-0.6B", "3", "3"),
    "Qwen3-1.7B.config.json": ("Qwen/Qwen3-1.7B", "3", "3"),
}
OTHERS = [
    "Llama-3.1-8B-Instruct.config.json", "Meta-Llama-3-8B.config.json", "Mistral-7B-v0.1.config.json",
    "Mistral-Nemo-Base-2407.config.json", "Mixtral-8x7B-v0.1.config.json", "gemma-2-9b-it.config.json",
    "gemma-3-1b-it.config.json", "gemma-2b.config.json",
]


@pytest.mark.parametrize("file", sorted(OFFICIAL))
def test_official_configs(config: Any, file: str) -> None:
    hub_id, by_name, by_config = OFFICIAL[file]
    named = plugin.match_model(facts=facts_from_config(config(file), hub_id))
    assert named is not None and named.score == 100 and named.variant == by_name
    neutral = plugin.match_model(facts=facts_from_config(config(file), "/models/checkpoint"))
    assert neutral is not None and neutral.score == 100 and neutral.variant == by_config
    assert neutral.reasons


@pytest.mark.parametrize("file", OTHERS)
def test_other_families_not_claimed(config: Any, file: str) -> None:
    assert plugin.match_model(facts=facts_from_config(config(file), file)) is None


def test_qwen15_with_gqa_recognised_by_transformers_version() -> None:
    raw = {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "vocab_size": 152064,
           "num_attention_heads": 40, "num_key_value_heads": 8, "transformers_version": "4.37.0"}
    match = plugin.match_model(facts=facts_from_config(raw, "/models/x"))
    assert match is not None and match.variant == "1.5"


@pytest.mark.parametrize("kind", ["qwen2", "qwen3"])
def test_tiny_dense_configs(tiny_dense: Any, kind: str) -> None:
    small = plugin.match_model(facts=facts_from_config(tiny_dense(kind).to_dict(), "tiny"))
    assert small is not None and small.score == 50  # model_type alone: vocab 256 is no Qwen size
    real = plugin.match_model(facts=facts_from_config(tiny_dense(kind, vocab_size=151936).to_dict(), "tiny"))
    assert real is not None and real.score == 100
    assert real.variant == ("3" if kind == "qwen3" else "2")


@pytest.mark.parametrize("kind", ["qwen2_moe", "qwen3_moe"])
def test_tiny_moe_configs(tiny_moe: Any, kind: str) -> None:
    match = plugin.match_model(facts=facts_from_config(tiny_moe(kind, vocab_size=151936).to_dict(), "tiny"))
    assert match is not None and match.score == 100
    assert any("experts" in r for r in match.reasons)


def test_entry_point_wiring(config: Any) -> None:
    host = make_plugin_host()
    assert host.infos["qwen"].status == "loaded"
    assert host.infos["qwen"].distribution == "framework-qwen"
    for file, (hub_id, variant, _) in OFFICIAL.items():
        selection = host.select(facts_from_config(config(file), hub_id))
        assert selection.name == "qwen" and selection.match is not None and selection.match.variant == variant
    for file in OTHERS:
        assert host.select(facts_from_config(config(file), file)).name != "qwen"
    assert "Qwen/Qwen2.5-7B-Instruct" in host.known_model_configs()


def test_family_hooks_through_the_host(config: Any, tokenizer: Any) -> None:
    from framework.hookdata import ChatOptions

    host = make_plugin_host()
    facts = facts_from_config(config("Qwen2.5-7B-Instruct.config.json"), "Qwen/Qwen2.5-7B-Instruct")
    family = host.family(host.select(facts), facts)
    rendered = family.chat_renderer(tokenizer)([{"role": "user", "content": "Hi"}], ChatOptions(True))
    assert rendered.text.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    assert family.stop_tokens(tokenizer)[0] == "<|im_end|>"
    assert family.lora_targets("lora", False).target_modules[0] == "q_proj"
    assert family.rope_scaling(65536).action == "scale"
    assert [f.code for f in family.check_tokenizer(tokenizer) if f.severity != "info"] == []
