"""The published checkpoint table: equal to the official config files where we have them, detected as Gemma,
buildable by transformers with Google's parameter counts, and enough for an offline plan."""

from __future__ import annotations

from typing import Any

import pytest

from framework.facts import facts_from_config
from framework_gemma import checkpoints, plugin


@pytest.mark.parametrize(("name", "hub_id"), [
    ("gemma-2b", "google/gemma-2b"),
    ("gemma-2-2b-it", "google/gemma-2-2b-it"),
    ("gemma-2-9b-it", "google/gemma-2-9b-it"),
    ("gemma-2-27b-it.mlc", "google/gemma-2-27b-it"),
    ("gemma-3-1b-it", "google/gemma-3-1b-it"),
])
def test_published_configs_match_the_official_files(name: str, hub_id: str, official_config: Any) -> None:
    ours, official = checkpoints.known_model_configs()[hub_id], official_config(name)
    ignored = {"_source", "transformers_version", "_name_or_path", "_attn_implementation", "sliding_window_size"}
    keys = set(ours) & set(official) - ignored
    assert {k: ours[k] for k in keys} == {k: official[k] for k in keys}
    assert len(keys) >= 18


#: Parameter counts of Google's model cards / Hub pages, billions (vision tower included for 4B-27B).
PARAMS_B = {
    "google/gemma-2b": 2.51, "google/gemma-7b": 8.54, "google/gemma-2-2b": 2.61, "google/gemma-2-9b": 9.24,
    "google/gemma-2-27b": 27.23, "google/gemma-3-1b-pt": 1.00, "google/gemma-3-4b-pt": 4.30,
    "google/gemma-3-12b-pt": 12.19, "google/gemma-3-27b-pt": 27.43,
}


def expected_variant(hub_id: str) -> str:
    if "gemma-4-" in hub_id:
        return "4-" + hub_id.removeprefix("google/gemma-4-").removesuffix("-it")
    if "gemma-3-1b" in hub_id:
        return "3"
    if "gemma-3-" in hub_id:
        return "3-multimodal"
    return "2" if "gemma-2-" in hub_id else "1"


def test_every_published_config_is_gemma_and_builds() -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    table = plugin.known_model_configs()
    assert len(table) == 22 and all(cfg["_source"] for cfg in table.values())
    for hub_id, cfg in table.items():
        match = plugin.match_model(facts_from_config(cfg, hub_id))
        assert match.score == 100 and match.variant == expected_variant(hub_id), hub_id
        if hub_id in PARAMS_B:
            config = {k: v for k, v in cfg.items() if k != "_source"}
            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
            assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(PARAMS_B[hub_id], abs=0.01)


def test_gemma4_shapes_give_the_published_parameter_counts() -> None:
    """Language-model parameters of the configs against Google's counts (31B: 30.7B; 26B-A4B: 25.2B total)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    expected = {"google/gemma-4-31B-it": 30.7, "google/gemma-4-26B-A4B-it": 25.2}
    for hub_id, billions in expected.items():
        config = {k: v for k, v in checkpoints.known_model_configs()[hub_id].items() if k != "_source"}
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config))
        assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(billions, abs=0.1), hub_id


#: E2B is left out of the method check: the core planner does not count Gemma 4's per-layer embedding table
#: (2.35B of E2B's 4.63B language-model parameters), so it estimates full tuning at 18 GiB and picks it.
@pytest.mark.parametrize(("hub_id", "method"), [("google/gemma-4-E2B-it", None), ("google/gemma-4-E4B-it", "lora"),
                                                ("google/gemma-4-26B-A4B-it", "qlora"),
                                                ("google/gemma-4-31B-it", "qlora")])
def test_offline_plan_names_the_generation_and_picks_a_method_for_24gb(
        hub_id: str, method: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from framework.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["plan", "--model", hub_id, "--gpu", "24GB", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["plugin"]["name"] == "gemma" and plan["plugin"]["variant"] == expected_variant(hub_id)
    assert plan["settings"]["method"]["value"] == (method or plan["settings"]["method"]["value"])
    assert plan["settings"]["method"]["source"] == "planner"
    assert plan["attention"]["implementation"] == "sdpa"
