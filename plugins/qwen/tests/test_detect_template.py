"""The shipped chat template decides the variant; a Qwen architecture with another chat format is
claimed with chat_format="shipped" (rendered by the core with that template), never refused."""

from __future__ import annotations

from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ModelFacts
from framework.plugins import make_plugin_host
from framework_qwen import detect, plugin

QWEN25_7B = "Qwen2.5-7B-Instruct.config.json"
QWEN3 = "Qwen3-0.6B.config.json"
QWEN35 = "2026/configs/Qwen-Qwen3.5-0.8B.json"

# (config file, template file, directory name, expected variant, evidence in the reasons)
CASES = [
    (QWEN25_7B, "qwen2.5-7b-instruct.jinja", "./my-sft", "2.5", "Qwen2.5 default system prompt"),
    (QWEN25_7B, "qwen2-7b-instruct.jinja", "./Qwen2.5-renamed", "2", "Qwen1.5/Qwen2 default system prompt"),
    ("Qwen1.5-1.8B-Chat.config.json", "qwen2-7b-instruct.jinja", "./chat", "1.5", "Qwen1.5/Qwen2 default system"),
    (QWEN3, "qwen3-1.7b.rev-openvino.jinja", "./ckpt", "3", "Qwen3 hybrid-thinking template"),
    (QWEN3, "2026/templates/Qwen-Qwen3-4B-Instruct-2507.jinja", "./ckpt", "2507", "Qwen3-Instruct-2507 template"),
    (QWEN35, "2026/templates/Qwen-Qwen3.5-9B.jinja", "./ckpt", "3.5", "Qwen3.5 template"),
    (QWEN35, "2026/templates/Qwen-Qwen3.5-0.8B.jinja", "./Qwen3.6-named-wrongly", "3.5", "Qwen3.5 template"),
    (QWEN35, "2026/templates/Qwen-Qwen3.6-27B.jinja", "./ckpt", "3.6", "Qwen3.6 template"),
    (QWEN35, "2026/templates/Qwen-Qwen3.8-27B.jinja", "./ckpt", "3.8", "Qwen3.8 template"),
]


@pytest.mark.parametrize(("config_file", "template_file", "where", "variant", "evidence"), CASES)
def test_shipped_template_decides_the_variant(config: Any, template: Any, config_file: str, template_file: str,
                                              where: str, variant: str, evidence: str) -> None:
    facts = facts_from_config(config(config_file), where, chat_template=template(template_file))
    match = plugin.match_model(facts=facts)
    assert match is not None and match.score == 100
    assert (match.variant, match.chat_format) == (variant, "plugin")
    assert any(r.startswith("chat template of the model directory: ") and evidence in r for r in match.reasons)


def test_without_a_template_the_config_decides_as_before(config: Any) -> None:
    match = plugin.match_model(facts=facts_from_config(config(QWEN25_7B), "./my-sft"))
    assert match is not None and match.variant == "2" and match.chat_format == "plugin"


def test_thinking_default_follows_the_shipped_template(config: Any, template: Any) -> None:
    def default(name: str, template_file: str | None) -> bool:
        shipped = template(template_file) if template_file else None
        return detect.thinking_default(facts_from_config(config(QWEN35), name, chat_template=shipped))

    assert default("./ckpt", "2026/templates/Qwen-Qwen3.5-0.8B.jinja") is False
    assert default("./ckpt", "2026/templates/Qwen-Qwen3.5-9B.jinja") is True
    assert default("./Qwen3.5-0.8B", "2026/templates/Qwen-Qwen3.8-27B.jinja") is True  # the template decides
    assert default("Qwen/Qwen3.5-2B", None) is False and default("Qwen/Qwen3.5-9B", None) is True


@pytest.mark.parametrize(("config_file", "template_file", "name"), [
    (QWEN25_7B, "deepseek-r1-distill-qwen-7b.jinja", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"),
    (QWEN25_7B, "deepseek-r1-distill-qwen-7b.jinja", "./r1-distill-sft"),
    (QWEN3, "qwen2.5-7b-instruct.jinja", "./qwen3-with-qwen25-template"),   # another generation's format
    (QWEN25_7B, "meta-llama-3-8b-instruct.jinja", "./qwen-in-llama-format"),
])
def test_other_chat_formats_are_claimed_as_shipped(config: Any, template: Any, config_file: str,
                                                    template_file: str, name: str) -> None:
    facts = facts_from_config(config(config_file), name, chat_template=template(template_file))
    match = plugin.match_model(facts=facts)
    assert match is not None and match.score == 100 and match.chat_format == "shipped"
    assert any("chat template of the model directory" in r and "rendered with that template" in r
               for r in match.reasons)
    host = make_plugin_host()
    selection = host.select(facts)
    assert selection.name == "qwen"
    family = host.family(selection, facts)
    assert family.chat_format == "shipped" and family.facts.chat_format == "shipped"


def test_shipped_format_checks_demand_no_chatml_tokens(config: Any, template: Any) -> None:
    """A DeepSeek-R1-Distill tokenizer has no <|im_start|>: the plugin's ChatML checks stand aside."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"a": 0, "<unk>": 1}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    r1 = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    r1.add_special_tokens({"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
                           "additional_special_tokens": ["<｜User｜>", "<｜Assistant｜>"]})
    facts = facts_from_config(config(QWEN25_7B), "./r1", chat_template=template("deepseek-r1-distill-qwen-7b.jinja"))
    match = plugin.match_model(facts=facts)
    shipped = facts.model_copy(update={"variant": match.variant, "chat_format": match.chat_format})
    assert plugin.check_tokenizer(facts=shipped, tokenizer=r1) == []
    assert plugin.check_data(facts=shipped, tokenizer=None, texts=["<think>\nx\n</think>\n\ny"]) == []
    as_plugin = shipped.model_copy(update={"chat_format": "plugin"})
    assert [f.code for f in plugin.check_tokenizer(facts=as_plugin, tokenizer=r1)] == ["missing-chat-tokens"]


def test_core_renders_the_distill_with_its_own_template(config: Any, template: Any) -> None:
    """Through the core's routing, the qwen-claimed distill renders with its shipped template."""
    from framework.hookdata import ChatOptions
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"a": 0, "<unk>": 1}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    shipped_template = template("deepseek-r1-distill-qwen-7b.jinja")
    r1 = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", chat_template=shipped_template)
    r1.add_special_tokens({"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
                           "additional_special_tokens": ["<｜User｜>", "<｜Assistant｜>"]})
    facts: ModelFacts = facts_from_config(config(QWEN25_7B), "./r1", chat_template=shipped_template)
    host = make_plugin_host()
    family = host.family(host.select(facts), facts)
    messages = [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]
    rendered = family.chat_renderer(r1)(messages, ChatOptions())
    # The trained text is the template's inference prompt (ending in "<think>\n") and the reply after it.
    prompt = r1.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<｜Assistant｜><think>\n") and "<|im_start|>" not in prompt
    assert rendered.text.startswith(prompt) and rendered.text.endswith("2<｜end▁of▁sentence｜>")
    trained = "".join(s.text for s in rendered.segments if s.trainable)
    assert trained.endswith("2<｜end▁of▁sentence｜>") and "<｜User｜>" not in trained


@pytest.mark.parametrize(("name", "variant"), [
    ("Qwen/Qwen3-4B-Instruct-2507", "2507"), ("Qwen/Qwen3-30B-A3B-Thinking-2507", "2507-thinking"),
    ("Qwen/Qwen3-8B", "3"), ("./ckpt", "3")])
def test_2507_releases_by_name_without_a_template(config: Any, name: str, variant: str) -> None:
    match = plugin.match_model(facts=facts_from_config(config(QWEN3), name))
    assert match is not None and match.variant == variant and match.chat_format == "plugin"


@pytest.mark.parametrize(("config_file", "template_file"), [
    (QWEN25_7B, "qwen2.5-7b-instruct.jinja"), (QWEN25_7B, "qwen2-7b-instruct.jinja"),
    (QWEN3, "qwen3-0.6b.rev-llamacpp.jinja"), (QWEN3, "qwen3-1.7b.rev-openvino.jinja"),
    (QWEN3, "2026/templates/Qwen-Qwen3-4B-Instruct-2507.jinja"),
    (QWEN35, "2026/templates/Qwen-Qwen3.5-9B.jinja"), (QWEN35, "2026/templates/Qwen-Qwen3.5-0.8B.jinja"),
    (QWEN35, "2026/templates/Qwen-Qwen3.6-27B.jinja"), (QWEN35, "2026/templates/Qwen-Qwen3.8-27B.jinja"),
])
def test_core_drift_check_finds_no_drift_for_the_variant_the_template_chose(
        config: Any, template: Any, tokenizer: Any, config_file: str, template_file: str) -> None:
    """The core's probe drift check (framework.drift) renders through this plugin and through the shipped
    template: for every official template the variant it chose renders the same, prompts and samples."""
    from framework.drift import template_drift

    facts = facts_from_config(config(config_file), "./model", chat_template=template(template_file))
    host = make_plugin_host()
    family = host.family(host.select(facts), facts)
    assert family.chat_format == "plugin"
    assert template_drift(family, tokenizer) == []


def test_drift_fires_on_an_edited_template_and_names_the_token(config: Any, template: Any, tokenizer: Any) -> None:
    """A fine-tune that kept Qwen2.5's system line but put a space after each role: recognised as 2.5,
    and the drift check names the first differing token of both renderings."""
    from framework.drift import template_drift

    official = template("qwen2.5-7b-instruct.jinja")
    edited = official.replace("'<|im_start|>' + message.role + '\\n' + message.content",
                              "'<|im_start|>' + message.role + '\\n ' + message.content")
    assert edited != official
    facts = facts_from_config(config(QWEN25_7B), "./my-sft", chat_template=edited)
    host = make_plugin_host()
    family = host.family(host.select(facts), facts)
    assert family.facts.variant == "2.5" and family.chat_format == "plugin"
    findings = template_drift(family, tokenizer)
    assert findings and all(f.code == "template-drift" and f.severity == "warning" for f in findings)
    assert "renders 'Hello' where the model's shipped chat template renders ' Hello'" in findings[0].message
