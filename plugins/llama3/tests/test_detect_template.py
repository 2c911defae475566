"""The shipped chat template decides the chat format: 3.1 vs 3 by the knowledge-cutoff block, and a Llama 3
architecture in another format (ChatML, DeepSeek-R1-Distill-Llama) is claimed with chat_format="shipped"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from framework.plugins import make_plugin_host
from framework_llama3 import plugin

ORACLES = Path(__file__).resolve().parent / "oracles" / "templates"
R1_DISTILL = "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"
#: The ChatML template as ChatML fine-tunes of Llama 3 ship it (e.g. Hermes-style SFTs).
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' "
          "+ '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def template(name: str) -> str:
    return (ORACLES / name).read_text(encoding="utf-8")


def with_template(facts: Any, text: str | None) -> Any:
    return facts.model_copy(update={"chat_template": text})


@pytest.mark.parametrize(("config", "file", "variant", "evidence"), [
    ("Meta-Llama-3-8B-Instruct", "llama-3.1-8b-instruct.jinja", "3.1", "knowledge-cutoff block"),
    ("Llama-3.1-8B-Instruct", "meta-llama-3-8b-instruct.jinja", "3", "without the 3.1 knowledge-cutoff block"),
    ("Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct.jinja", "3.1", "Cutting Knowledge Date"),
    ("Llama-3.1-8B-Instruct", "llama-3.2-3b-instruct.jinja", "3.2", "strftime_now"),
    ("Llama-3.2-3B-Instruct", "llama-3.2-3b-instruct.jinja", "3.2", "strftime_now"),
])
def test_template_decides_the_variant(config: str, file: str, variant: str, evidence: str, facts_for: Any) -> None:
    """A fine-tune keeps its base's config.json: the template it ships says which format it speaks."""
    result = plugin.match_model(with_template(facts_for(config), template(file)))
    assert result.variant == variant and result.chat_format == "plugin"
    assert any(r.startswith("chat template of the model directory") and evidence in r for r in result.reasons)


def test_without_a_template_the_config_decides(facts_for: Any) -> None:
    for text in (None, "", "  "):
        result = plugin.match_model(with_template(facts_for("Llama-3.1-8B-Instruct"), text))
        assert result.variant == "3.1" and result.chat_format == "plugin"
        assert not any("chat template" in r for r in result.reasons)


@pytest.mark.parametrize(("text", "named"), [
    (template(R1_DISTILL), "DeepSeek-R1-Distill"), (CHATML, "ChatML"), ("{{ messages[0]['content'] }}", "other"),
])
def test_other_formats_are_claimed_for_the_shipped_template(text: str, named: str, facts_for: Any) -> None:
    facts = with_template(facts_for("Llama-3.1-8B-Instruct"), text)
    result = plugin.match_model(facts)
    assert result.score == 100 and result.chat_format == "shipped" and result.variant == "3.1"
    assert any(named in r and "shipped template" in r for r in result.reasons)
    host = make_plugin_host()
    selection = host.select(facts)
    assert selection.name == "llama3" and selection.match.chat_format == "shipped"
    assert host.family(selection, facts).facts.chat_format == "shipped"


@pytest.fixture(scope="module")
def r1_tokenizer() -> Any:
    """DeepSeek-R1-Distill-Llama-8B's vocabulary: Llama 3.1's, with DeepSeek names on some control slots."""
    from tokenizers import AddedToken, Tokenizer
    from transformers import PreTrainedTokenizerFast

    from framework_llama3.tokenizer import _base_tokenizer_json
    from framework_llama3.vocab import control_tokens

    names = control_tokens("3.1")
    names[0], names[1] = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
    names[11:15] = ["<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"]
    backend = Tokenizer.from_str(_base_tokenizer_json())
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in names])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=names[0], eos_token=names[1],
                                   chat_template=template(R1_DISTILL))


def test_shipped_format_checks_demand_no_llama_headers(r1_tokenizer: Any, facts_for: Any) -> None:
    facts = with_template(facts_for("Llama-3.1-8B-Instruct", "3.1"), template(R1_DISTILL))
    as_plugin = {f.code for f in plugin.check_tokenizer(facts.model_copy(update={"chat_format": "plugin"}),
                                                        r1_tokenizer)}
    assert "eos-not-end-of-turn" in as_plugin  # the Llama 3 format would demand <|eot_id|>
    shipped = facts.model_copy(update={"chat_format": "shipped"})
    findings = plugin.check_tokenizer(shipped, r1_tokenizer)
    assert [f.code for f in findings] == ["pad-token-missing"]
    assert findings[0].fix.special_tokens == {"pad_token": "<|finetune_right_pad_id|>"}
    assert plugin.stop_tokens(shipped, r1_tokenizer) == []
    assert plugin.check_model(shipped, None, r1_tokenizer) == []


def test_borrowed_architecture_renders_with_its_own_template(r1_tokenizer: Any, facts_for: Any) -> None:
    """Through the core: the llama3 claim with chat_format="shipped" renders DeepSeek's format, not Llama 3's."""
    from framework.chat import IGNORE_INDEX, tokenize_chat
    from framework.hookdata import ChatOptions

    facts = with_template(facts_for("Llama-3.1-8B-Instruct"), template(R1_DISTILL))
    host = make_plugin_host()
    family = host.family(host.select(facts), facts)
    messages = [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"},
                {"role": "user", "content": "再加 2？"}, {"role": "assistant", "content": "4"}]
    rendered = family.chat_renderer(r1_tokenizer)(messages, ChatOptions())
    # the last reply follows the template's own inference prompt (which pre-fills "<think>\n")
    prompt = r1_tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    assert rendered.text.startswith(prompt) and rendered.text.endswith("4<｜end▁of▁sentence｜>")
    assert "<|start_header_id|>" not in rendered.text
    trained = [i for i in tokenize_chat(r1_tokenizer, rendered).labels if i != IGNORE_INDEX]
    assert trained[-2:] == r1_tokenizer.convert_tokens_to_ids(["4", "<｜end▁of▁sentence｜>"])


@pytest.mark.parametrize(("file", "variant"), [("meta-llama-3-8b-instruct.jinja", "3"),
                                               ("llama-3.1-8b-instruct.jinja", "3.1"),
                                               ("llama-3.2-3b-instruct.jinja", "3.2")])
def test_core_drift_check_finds_nothing_against_the_official_templates(file: str, variant: str, tok31: Any,
                                                                       facts_for: Any) -> None:
    """The core's probe conversations (system or not, multi-turn, CJK, code, whitespace) render the same both ways;
    an edited template is caught, naming the token."""
    from framework.drift import template_drift

    host = make_plugin_host()
    for text, drifts in ((template(file), False), (template(file).replace("<|eot_id|>", "<|eot_id|>\n"), True)):
        facts = with_template(facts_for("Llama-3.1-8B-Instruct"), text)
        family = host.family(host.select(facts), facts)
        assert family.facts.variant == variant
        findings = template_drift(family, tok31)
        assert bool(findings) is drifts and all(f.code == "template-drift" for f in findings)
