"""The shipped chat template as evidence: it confirms a Mistral format or takes the chat over.

A Mistral architecture fine-tuned into another chat format (a ChatML merge, a Llama 3-style
template) stays claimed for its architecture knowledge but renders with its own template
(``chat_format="shipped"``), and the tokenizer checks stop demanding Mistral control tokens.
"""

from __future__ import annotations

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ChatOptions
from framework_mistral import plugin

FOREIGN = {"qwen2-7b-instruct.jinja": "ChatML", "meta-llama-3-8b-instruct.jinja": "Llama 3 headers"}
MISTRAL = ["mistral-7b-instruct-v0.1.jinja", "mistral-7b-instruct-v0.3.jinja", "mistral-nemo-instruct-2407.jinja"]


def facts_with(official, config: str, template: str | None):
    return facts_from_config(official.config(config), config, chat_template=template)


@pytest.mark.parametrize("template", sorted(FOREIGN))
def test_a_foreign_template_on_a_mistral_architecture_is_claimed_as_shipped(official, template):
    facts = facts_with(official, "Mistral-7B-v0.3.config.json", official.template(template))
    match = plugin.match_model(facts)
    assert (match.score, match.variant, match.chat_format) == (100, "v0.3", "shipped")
    assert any(FOREIGN[template] in r and r.startswith("chat template of the model directory") for r in match.reasons)
    # nothing chat-related is answered by the plugin any more: the core renders with the shipped template
    shipped = facts.model_copy(update={"variant": match.variant, "chat_format": "shipped"})
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert plugin.render_chat(shipped, messages, ChatOptions(), None, None) is None
    assert plugin.chat_features(shipped, None) is None


@pytest.mark.parametrize("template", MISTRAL)
def test_a_mistral_template_confirms_the_format(official, template):
    facts = facts_with(official, "Mistral-7B-v0.3.config.json", official.template(template))
    match = plugin.match_model(facts)
    assert match.chat_format == "plugin" and match.variant == "v0.3"
    assert any("Mistral [INST] control tokens" in r for r in match.reasons)


def test_no_template_keeps_config_only_detection(official):
    match = plugin.match_model(facts_with(official, "Mistral-7B-v0.3.config.json", None))
    assert match.chat_format == "plugin" and not any("chat template" in r for r in match.reasons)


def test_mixtral_with_chatml_is_shipped_too(official):
    match = plugin.match_model(facts_with(official, "Mixtral-8x7B-v0.1.config.json",
                                          official.template("qwen2-7b-instruct.jinja")))
    assert (match.variant, match.chat_format) == ("mixtral", "shipped")


def test_checks_do_not_demand_mistral_control_tokens_for_a_shipped_template(official, tok_v1):
    """tok_v1 has no [INST] control token: an error for a v0.3 format, nothing for a ChatML fine-tune."""
    def codes(template):
        facts = facts_with(official, "Mistral-7B-v0.3.config.json", template)
        match = plugin.match_model(facts)
        facts = facts.model_copy(update={"variant": match.variant, "chat_format": match.chat_format})
        return {f.code for f in plugin.check_tokenizer(facts, tok_v1)}

    assert "control-token-split" in codes(official.template("mistral-7b-instruct-v0.3.jinja"))
    shipped = codes(official.template("qwen2-7b-instruct.jinja"))
    assert not shipped & {"control-token-split", "bos-not-single", "dummy-prefix-per-chunk"}


def test_the_core_routes_chat_to_the_shipped_template(official):
    from framework.plugins import make_plugin_host

    host = make_plugin_host()
    facts = facts_with(official, "Mistral-7B-v0.3.config.json", official.template("qwen2-7b-instruct.jinja"))
    selection = host.select(facts)
    assert selection.name == "mistral" and selection.match.chat_format == "shipped"
    family = host.family(selection, facts)
    assert family.facts.chat_format == "shipped"
    assert family.lora_targets("lora", False).target_modules  # architecture knowledge kept
