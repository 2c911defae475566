"""The published checkpoints' config facts: each is claimed with its variant and agrees with the
official copies under ``oracles/``."""

from __future__ import annotations

from framework.facts import facts_from_config
from framework_mistral import checkpoints, plugin


def test_known_configs_are_selected_with_the_right_variant():
    expected = {"mistralai/Mistral-7B-v0.1": "v0.1", "mistralai/Mistral-7B-Instruct-v0.1": "v0.1",
                "mistralai/Mistral-7B-Instruct-v0.2": "v0.2", "mistralai/Mistral-7B-v0.3": "v0.3",
                "mistralai/Mistral-7B-Instruct-v0.3": "v0.3", "mistralai/Mistral-Nemo-Base-2407": "nemo",
                "mistralai/Mistral-Nemo-Instruct-2407": "nemo", "mistralai/Mixtral-8x7B-v0.1": "mixtral",
                "mistralai/Mixtral-8x7B-Instruct-v0.1": "mixtral",
                "mistralai/Mistral-Small-3.1-24B-Instruct-2503": "small3",
                "mistralai/Mistral-Small-3.2-24B-Instruct-2506": "small3-v11",
                "mistralai/Magistral-Small-2507": "magistral",
                "mistralai/Ministral-3-14B-Reasoning-2512": "ministral3-reasoning",
                "mistralai/Mistral-Small-4-119B-2603": "small4"}
    known = plugin.known_model_configs()
    assert set(known) == set(expected)
    for hub_id, config in known.items():
        assert config["_source"]
        assert plugin.match_model(facts_from_config(config, hub_id)).variant == expected[hub_id], hub_id


def test_known_configs_agree_with_the_official_copies(official):
    known = plugin.known_model_configs()
    for hub_id, name in (("mistralai/Mistral-7B-v0.1", "Mistral-7B-v0.1.config.json"),
                         ("mistralai/Mistral-7B-v0.3", "Mistral-7B-v0.3.config.json"),
                         ("mistralai/Mistral-Nemo-Base-2407", "Mistral-Nemo-Base-2407.config.json"),
                         ("mistralai/Mixtral-8x7B-v0.1", "Mixtral-8x7B-v0.1.config.json")):
        reference = official.config(name)
        ours = known[hub_id]
        for key, value in ours.items():
            if key != "_source" and key in reference:
                assert reference[key] == value, (hub_id, key)


def test_the_hook_hands_out_copies():
    """A caller may edit what it gets (a planner adding keys) without changing the published table."""
    first = plugin.known_model_configs()
    first["mistralai/Mistral-7B-v0.1"]["vocab_size"] = 1
    first.pop("mistralai/Mistral-7B-v0.3")
    assert checkpoints.KNOWN_MODEL_CONFIGS["mistralai/Mistral-7B-v0.1"]["vocab_size"] == 32000
    assert plugin.known_model_configs()["mistralai/Mistral-7B-v0.3"]["vocab_size"] == 32768
