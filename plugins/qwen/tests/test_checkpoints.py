"""``framework_qwen.checkpoints``: the published configs plan offline, are claimed with the right variant,
and agree with the official config.json copies key for key."""

from __future__ import annotations

from typing import Any

from framework.facts import facts_from_config
from framework_qwen import checkpoints, plugin


def test_published_configs_plan_offline() -> None:
    table = checkpoints.known_model_configs()
    assert {"Qwen/Qwen2.5-72B-Instruct", "Qwen/Qwen2.5-0.5B", "Qwen/Qwen3-32B", "Qwen/Qwen-7B-Chat"} <= set(table)
    sizes = ["0.5B", "1.5B", "3B", "7B", "14B", "32B", "72B"]
    assert all(f"Qwen/Qwen2.5-{s}{t}" in table for s in sizes for t in ("", "-Instruct"))
    assert all(f"Qwen/Qwen3-{s}" in table for s in ["0.6B", "1.7B", "4B", "8B", "14B", "32B"])
    for hub_id, raw in table.items():
        assert raw["_source"]
        facts = facts_from_config(raw, hub_id)
        match = plugin.match_model(facts=facts)
        expected = ("1" if "Qwen-7B" in hub_id else "2507" if "2507" in hub_id else "3.5" if "Qwen3.5" in hub_id
                    else "3.6" if "Qwen3.6" in hub_id else "3" if "Qwen3" in hub_id else "2.5")
        assert match is not None and match.score == 100 and match.variant == expected, hub_id
        assert facts.hidden_size and facts.num_hidden_layers and facts.vocab_size and facts.intermediate_size


def test_published_configs_agree_with_official_files(config: Any) -> None:
    table = checkpoints.known_model_configs()
    keys = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "vocab_size", "tie_word_embeddings", "max_position_embeddings", "eos_token_id"]
    for file, hub_id in [("Qwen2.5-7B-Instruct.config.json", "Qwen/Qwen2.5-7B-Instruct"),
                         ("Qwen2.5-3B-Instruct.config.json", "Qwen/Qwen2.5-3B-Instruct"),
                         ("Qwen2.5-0.5B.config.json", "Qwen/Qwen2.5-0.5B"),
                         ("Qwen3-0.6B.config.json", "Qwen/Qwen3-0.6B"), ("Qwen3-1.7B.config.json", "Qwen/Qwen3-1.7B")]:
        official = config(file)
        assert {k: table[hub_id][k] for k in keys} == {k: official[k] for k in keys}, hub_id
    v1 = facts_from_config(table["Qwen/Qwen-7B-Chat"], "Qwen/Qwen-7B-Chat")
    assert v1 == facts_from_config(config("Qwen-7B-Chat.config.json"), "Qwen/Qwen-7B-Chat").model_copy(
        update={"raw": v1.raw})


def test_published_small_config_agrees_with_the_official_file(config: Any) -> None:
    official = config("2026/configs/Qwen-Qwen3.5-0.8B.json")
    ours = checkpoints.known_model_configs()["Qwen/Qwen3.5-0.8B"]
    keys = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "head_dim", "vocab_size", "tie_word_embeddings", "layer_types", "linear_num_key_heads",
            "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim", "max_position_embeddings",
            "eos_token_id", "mtp_num_hidden_layers"]
    assert {k: ours["text_config"][k] for k in keys} == {k: official["text_config"][k] for k in keys}
    assert ours["text_config"]["rope_parameters"] == official["text_config"]["rope_parameters"]
    assert (ours["model_type"], ours["architectures"]) == (official["model_type"], official["architectures"])


def test_the_hook_returns_the_table() -> None:
    assert plugin.known_model_configs() == checkpoints.known_model_configs()
