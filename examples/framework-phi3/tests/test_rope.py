"""RoPE policy: 4k checkpoints stay within 4,096 positions, 128k ones reach 131,072 through LongRoPE."""

from __future__ import annotations

from framework.facts import facts_from_config
from framework_phi3 import rope
from framework_phi3.checkpoints import tiny_config


def test_4k_refuses_beyond_its_context_and_warns_about_the_window() -> None:
    four_k = facts_from_config(tiny_config(), "tiny")
    assert rope.decide(four_k, 1024).action == "native" and not rope.decide(four_k, 1024).warnings
    within = rope.decide(four_k, 4096)
    assert within.action == "native" and "sliding window of 2047" in within.warnings[0]
    beyond = rope.decide(four_k, 8192)
    assert beyond.action == "refuse" and "128k checkpoint" in beyond.reason


def test_128k_is_native_with_a_warning_past_the_short_factors() -> None:
    long = facts_from_config(tiny_config(long_context=True), "tiny-128k")
    assert rope.decide(long, 4096).action == "native" and not rope.decide(long, 4096).warnings
    decision = rope.decide(long, 32768)
    assert decision.action == "native" and "long factors" in decision.warnings[0]
    refused = rope.decide(long, 200_000)
    assert refused.action == "refuse" and "128k checkpoint" not in refused.reason  # it already is one


def test_original_context_is_read_from_the_scaling_or_the_config() -> None:
    scaled = facts_from_config(tiny_config(long_context=True, original_max_position_embeddings=8192), "tiny")
    assert rope.original_context(scaled) == 8192
    scaling = {"type": "longrope", "short_factor": [1.0] * 4, "long_factor": [2.0] * 4,
               "original_max_position_embeddings": 2048}
    assert rope.original_context(facts_from_config(tiny_config(rope_scaling=scaling), "tiny")) == 2048
