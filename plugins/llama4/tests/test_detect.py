"""Detection of Scout/Maverick (wrapper and text configs) and the template evidence."""

from __future__ import annotations

from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hookdata import HardwareFacts
from framework.plugins import make_plugin_host
from framework_llama4 import checkpoints, plugin

SCOUT = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
MAVERICK = "meta-llama/Llama-4-Maverick-17B-128E-Instruct"
LLAMA3_8B = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 128256,
             "hidden_size": 4096, "num_attention_heads": 32, "bos_token_id": 128000, "rope_theta": 500000.0}


def facts(hub_id: str, template: str | None = None, text_only: bool = False) -> Any:
    config = checkpoints.known_model_configs()[hub_id]
    if text_only:
        config = {**config["text_config"], "architectures": ["Llama4ForCausalLM"]}
    return facts_from_config(config, hub_id, chat_template=template)


@pytest.mark.parametrize(("hub_id", "variant"), [(SCOUT, "scout"), (MAVERICK, "maverick")])
@pytest.mark.parametrize("text_only", [False, True])
def test_scout_and_maverick_wrapper_and_text(hub_id: str, variant: str, text_only: bool) -> None:
    result = plugin.match_model(facts(hub_id, text_only=text_only))
    assert result.score == 100 and result.variant == variant and result.chat_format == "plugin"
    assert ("multimodal wrapper: only the language model is trained" in result.reasons) is not text_only
    settings = plugin.model_load_settings(facts(hub_id, text_only=text_only), HardwareFacts(device="cpu", bf16_supported=False))
    assert settings.train_language_model_only is not text_only and settings.supports_packing


def test_the_llama3_plugin_leaves_llama4_and_llama4_leaves_llama3() -> None:
    from framework_llama3 import plugin as llama3

    host = make_plugin_host()
    for hub_id in (SCOUT, MAVERICK):
        for text_only in (False, True):
            assert llama3.match_model(facts(hub_id, text_only=text_only)) is None
            selection = host.select(facts(hub_id, text_only=text_only))
            assert selection.name == "llama4" and len(selection.candidates) == 1
    assert plugin.match_model(facts_from_config(LLAMA3_8B, "llama3")) is None


def test_template_evidence(template4: str) -> None:
    result = plugin.match_model(facts(SCOUT, template4))
    assert result.chat_format == "plugin" and any("Llama 4 headers" in r for r in result.reasons)
    chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    other = plugin.match_model(facts(SCOUT, chatml))
    assert other.chat_format == "shipped" and other.variant == "scout"


def test_core_drift_check_finds_nothing_against_the_official_template(template4: str, tok4: Any) -> None:
    from framework.drift import template_drift

    host = make_plugin_host()
    for text, drifts in ((template4, False), (template4.replace("<|eot|>", "<|eot|>\n"), True)):
        family = host.family(host.select(facts(SCOUT, text)), facts(SCOUT, text))
        findings = template_drift(family, tok4)
        assert bool(findings) is drifts and all(f.code == "template-drift" for f in findings)
