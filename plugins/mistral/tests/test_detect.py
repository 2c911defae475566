"""Detection on the official configs, tiny transformers configs and other families' configs."""

from __future__ import annotations

import pytest

from framework.facts import facts_from_config
from framework_mistral import plugin

MISTRAL_CONFIGS = {
    "Mistral-7B-v0.1.config.json": "v0.1",
    "Mistral-7B-v0.1.mlc.config.json": "v0.1",  # MLC copy without the sliding_window key
    "Mistral-7B-v0.3.config.json": "v0.3",
    "Mistral-Nemo-Base-2407.config.json": "nemo",
    "Mixtral-8x7B-v0.1.config.json": "mixtral",
}


@pytest.mark.parametrize("name,variant", sorted(MISTRAL_CONFIGS.items()))
def test_official_configs_are_claimed_with_their_variant(official, name, variant):
    match = plugin.match_model(official.facts(name))
    assert match is not None and match.score == 100 and match.variant == variant
    assert any(r.startswith("vocab_size=") for r in match.reasons)


def test_other_families_are_not_claimed(official):
    others = [p.name for p in (official.root / "configs").glob("*.json")
              if not p.name.startswith(("Mistral", "Mixtral")) and "generation" not in p.name
              and "tokenizer" not in p.name]
    assert len(others) >= 15
    for name in others:
        assert plugin.match_model(official.facts(name)) is None, name


def test_llama2_style_config_with_32000_vocab_is_not_claimed():
    llama2 = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 32000,
              "hidden_size": 4096, "num_attention_heads": 32, "max_position_embeddings": 4096}
    assert plugin.match_model(facts_from_config(llama2, "llama2")) is None


def test_v02_is_v1_vocab_without_window():
    config = {"model_type": "mistral", "vocab_size": 32000, "sliding_window": None, "rope_theta": 1e6,
              "max_position_embeddings": 32768}
    match = plugin.match_model(facts_from_config(config, "v0.2"))
    assert (match.score, match.variant) == (100, "v0.2")


def test_nemo_reasons_name_the_explicit_head_dim(official):
    match = plugin.match_model(official.facts("Mistral-Nemo-Base-2407.config.json"))
    assert "head_dim=128 (explicit)" in match.reasons


def test_later_tekken_text_models_are_told_apart_by_name_without_a_template():
    small = {"model_type": "mistral", "vocab_size": 131072, "rope_theta": 1e8, "head_dim": 128}
    match = plugin.match_model(facts_from_config(small, "mistral-small"))
    assert (match.score, match.variant) == (100, "small")
    assert plugin.match_model(facts_from_config(small, "mistralai/Magistral-Small-2507")).variant == "magistral"
    assert plugin.match_model(facts_from_config(small, "x/Devstral-Small-2507")).variant == "small-v11"


def test_tiny_transformers_configs(tiny):
    dense = tiny.mistral(vocab_size=32768, sliding_window=None).to_dict()
    assert plugin.match_model(facts_from_config(dense, "tiny")).variant == "v0.3"
    windowed = tiny.mistral(vocab_size=32000, sliding_window=8).to_dict()
    assert plugin.match_model(facts_from_config(windowed, "tiny")).variant == "v0.1"
    moe = tiny.mixtral(vocab_size=32000).to_dict()
    assert plugin.match_model(facts_from_config(moe, "tiny")).variant == "mixtral"
    extended = tiny.mixtral(vocab_size=32002).to_dict()
    match = plugin.match_model(facts_from_config(extended, "tiny"))
    assert (match.score, match.variant) == (50, "mixtral-custom")


def test_wiring_fresh_host_discovers_and_selects_the_plugin(official):
    from framework.plugins import make_plugin_host

    host = make_plugin_host()
    assert host.infos["mistral"].status == "loaded"
    assert host.infos["mistral"].distribution == "framework-mistral"
    for name, variant in MISTRAL_CONFIGS.items():
        facts = official.facts(name)
        selection = host.select(facts)
        assert selection.name == "mistral" and selection.match.variant == variant
        assert host.family(selection, facts).facts.variant == variant
    known = host.known_model_configs()
    assert known["mistralai/Mistral-7B-v0.1"][0] == "mistral"


def _defaults(model_type: str) -> dict:
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type).to_dict()


def test_2025_configs_from_transformers_classes():
    small3 = plugin.match_model(facts_from_config(_defaults("mistral3"), "local/dir"))
    assert (small3.score, small3.variant, small3.chat_format) == (100, "small3", "plugin")
    assert "text_config.model_type=mistral" in small3.reasons
    ministral = plugin.match_model(facts_from_config(_defaults("ministral3"), "local/dir"))
    assert ministral.variant == "ministral3" and any("YaRN factor 16.0" in r for r in ministral.reasons)
    small4 = plugin.match_model(facts_from_config(_defaults("mistral4"), "local/dir"))
    assert (small4.variant, small4.chat_format) == ("small4", "shipped")
    assert any("128 routed experts" in r for r in small4.reasons)


def test_the_shipped_template_tells_identical_configs_apart(official):
    """Same config, renamed directory: the template decides Small 3.2 (v11), Magistral (v13 think), Ministral R."""
    small = _defaults("mistral3")
    cases = {"mistralai-Mistral-Small-3.2-24B-Instruct-2506.jinja": "small3-v11",
             "mistralai-Mistral-Small-3.1-24B-Instruct-2503.jinja": "small3",
             "mistral-common-generated/v13_think.jinja": "magistral"}
    for template, variant in cases.items():
        match = plugin.match_model(facts_from_config(small, "./my-sft", chat_template=official.template(template)))
        assert match.variant == variant, template
        assert any(r.startswith("chat template of the model directory") for r in match.reasons), template
    wrapped = {**small, "text_config": _defaults("ministral3")}
    reasoning = official.template("mistralai-Ministral-3-14B-Reasoning-2512.jinja")
    assert plugin.match_model(facts_from_config(wrapped, "./my-sft", chat_template=reasoning)).variant == \
        "ministral3-reasoning"
    assert plugin.match_model(facts_from_config(wrapped, "./my-sft")).variant == "ministral3"


@pytest.mark.parametrize("template,markers", [
    ("mistral-common-generated/v7.jinja", (True, False, False)),
    ("mistral-common-generated/v11.jinja", (True, False, True)),
    ("mistral-common-generated/v13_think.jinja", (True, True, True)),
    ("mistral-7b-instruct-v0.3.jinja", (False, False, False)),
])
def test_template_evidence_reads_the_generation_markers(official, template, markers):
    """[SYSTEM_PROMPT] from v7, [ARGS] from v11, [THINK] from v13: the markers that split identical configs."""
    from framework_mistral.detect import template_evidence

    found = template_evidence(official.template(template))
    assert found.mistral and (found.system_prompt_tokens, found.think_tokens, found.args_tokens) == markers


def test_template_evidence_names_the_foreign_format(official):
    from framework_mistral.detect import template_evidence

    assert template_evidence(None) is None and template_evidence("") is None
    found = template_evidence(official.template("qwen2-7b-instruct.jinja"))
    assert not found.mistral and "ChatML (<|im_start|>)" in found.reason
    assert "a format without [INST]" in template_evidence("{{ messages[0].content }}").reason
