"""RoPE decisions: native within each release's context, refused beyond, with the chunked-attention and
temperature-tuning warnings a long sample needs."""

from __future__ import annotations

from typing import Any

from framework.facts import facts_from_config
from framework_llama4 import checkpoints, plugin

TABLE = checkpoints.known_model_configs()
SCOUT = facts_from_config(TABLE["meta-llama/Llama-4-Scout-17B-16E-Instruct"], "scout")
MAVERICK = facts_from_config(TABLE["meta-llama/Llama-4-Maverick-17B-128E-Instruct"], "maverick")


def test_rope_native_refuse_and_warnings() -> None:
    short = plugin.rope_scaling(SCOUT, 4096)
    assert short.action == "native" and not short.warnings
    long = plugin.rope_scaling(SCOUT, 32768)
    assert long.action == "native" and len(long.warnings) == 2
    assert any("attention_chunk_size=8192" in w for w in long.warnings)
    assert any("data.packing=false" in w for w in long.warnings)
    assert plugin.rope_scaling(MAVERICK, 2_000_000).action == "refuse"
    assert plugin.rope_scaling(SCOUT, 2_000_000).action == "native"



def test_the_tiny_text_configs_own_context_and_chunk_decide(tiny_text_config: Any) -> None:
    """A text-only config: its max_position_embeddings bounds, its chunk size and temperature switch warn."""
    facts = facts_from_config(tiny_text_config(attn_temperature_tuning=False), "tiny")
    assert plugin.rope_scaling(facts, 8).warnings == ()
    edge = plugin.rope_scaling(facts, 4096)
    assert edge.action == "native" and len(edge.warnings) == 1 and "attention_chunk_size=8" in edge.warnings[0]
    beyond = plugin.rope_scaling(facts, 4097)
    assert beyond.action == "refuse" and "4096 positions" in beyond.reason
    tuned = plugin.rope_scaling(facts_from_config(tiny_text_config(floor_scale=16), "tiny"), 16)
    assert tuned.action == "native" and any("floor_scale=16" in w for w in tuned.warnings) and len(tuned.warnings) == 2
