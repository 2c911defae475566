"""Detection on the official configs, tiny and transformers-5 configs, other families; entry-point wiring.

The shipped chat template is evidence too: it confirms the format, or hands the chat to itself when it is
another format (a ChatML fine-tune of Gemma keeps the architecture's claim).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ChatOptions
from framework.plugins import make_plugin_host
from framework_gemma import checkpoints, plugin

ORACLES = Path(__file__).resolve().parent / "oracles"
CHATML = (ORACLES / "templates" / "qwen2-7b-instruct.jinja").read_text(encoding="utf-8")
GEMMA3 = (ORACLES / "templates" / "gemma-3-1b-it.jinja").read_text(encoding="utf-8")
GEMMA2 = (ORACLES / "templates" / "gemma-2-9b-it.jinja").read_text(encoding="utf-8")
SMALL_TEMPLATE = (ORACLES / "2026" / "templates" / "google-gemma-4-E2B-it.jinja").read_text(encoding="utf-8")
LARGE_TEMPLATE = (ORACLES / "2026" / "templates" / "google-gemma-4-31B-it.jinja").read_text(encoding="utf-8")
CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]

GEMMA = {
    "gemma-2b": "1",
    "gemma-2-2b-it": "2",
    "gemma-2-9b-it": "2",
    "gemma-2-9b-it.mlc": "2",
    "gemma-2-27b-it.mlc": "2",
    "gemma-3-1b-it": "3",
}
OTHERS = [
    "Llama-3.1-8B-Instruct", "Llama-3.2-1B-Instruct.mlc", "Llama-3.2-1B-Instruct.thunder", "Llama-3.2-3B-Instruct",
    "Meta-Llama-3-8B-Instruct", "Meta-Llama-3-8B", "Mistral-7B-v0.1", "Mistral-7B-v0.1.mlc", "Mistral-7B-v0.3",
    "Mistral-Nemo-Base-2407", "Mixtral-8x7B-v0.1", "Qwen-1_8B-Chat.mlc", "Qwen-7B-Chat", "Qwen1.5-1.8B-Chat",
    "Qwen2-0.5B-Instruct", "Qwen2-7B-Instruct", "Qwen2.5-0.5B", "Qwen2.5-3B-Instruct", "Qwen2.5-7B-Instruct",
    "Qwen3-0.6B", "Qwen3-1.7B",
]
#: google/gemma-3-4b-it config.json as published: the text facts are mostly left to class defaults.
GEMMA3_4B_IT_SPARSE = {
    "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "boi_token_index": 255999,
    "eoi_token_index": 256000, "eos_token_id": [1, 106], "image_token_index": 262144, "mm_tokens_per_image": 256,
    "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                    "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                    "sliding_window": 1024},
    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "image_size": 896},
}


@pytest.mark.parametrize(("name", "variant"), GEMMA.items())
def test_official_gemma_configs(name: str, variant: str, facts_for: Any) -> None:
    result = plugin.match_model(facts_for(name))
    assert result is not None and result.score == 100 and result.variant == variant
    assert result.reasons[0].startswith("model_type=")


@pytest.mark.parametrize("name", OTHERS)
def test_other_families_are_not_claimed(name: str, facts_for: Any) -> None:
    assert plugin.match_model(facts_for(name)) is None


def test_multimodal_wrapper_is_gemma3_multimodal() -> None:
    result = plugin.match_model(facts_from_config(GEMMA3_4B_IT_SPARSE, "google/gemma-3-4b-it"))
    assert result.score == 100 and result.variant == "3-multimodal"
    assert "Gemma3ForConditionalGeneration" in result.reasons[1]
    no_arch = {k: v for k, v in GEMMA3_4B_IT_SPARSE.items() if k != "architectures"}
    assert plugin.match_model(facts_from_config(no_arch, "x")).score == 100


def test_explicit_head_dim_is_reported(facts_for: Any) -> None:
    reasons = plugin.match_model(facts_for("gemma-2-9b-it")).reasons
    assert any("head_dim=256 != hidden/heads=224" in r for r in reasons)


@pytest.mark.parametrize(("model_type", "variant"), [("gemma", "1"), ("gemma2", "2"), ("gemma3_text", "3"),
                                                     ("gemma3", "3-multimodal")])
def test_tiny_and_transformers5_configs(model_type: str, variant: str, tiny_config: Any) -> None:
    """Tiny configs (vocab 512) and configs re-saved by transformers 5 are claimed with the right variant."""
    from transformers import AutoConfig

    tiny = dict(tiny_config(model_type))
    result = plugin.match_model(facts_from_config(tiny, "tiny"))
    assert result.variant == variant
    assert result.score == (50 if model_type in ("gemma", "gemma3_text") else 100)  # softcaps / architecture decide
    saved = AutoConfig.for_model(tiny.pop("model_type"), **tiny).to_dict()
    assert plugin.match_model(facts_from_config(saved, "saved")).variant == variant


def test_extended_vocabulary(tiny_config: Any) -> None:
    extended = plugin.match_model(facts_from_config(tiny_config("gemma", vocab_size=256128), "zh-extended"))
    assert extended.score == 60 and extended.variant == "1"
    other_bos = plugin.match_model(facts_from_config(tiny_config("gemma", vocab_size=256128, bos_token_id=1), "x"))
    assert other_bos.score == 50


@pytest.mark.parametrize("model_type", ["gemma3n", "paligemma", "recurrent_gemma", "t5gemma"])
def test_other_gemma_named_architectures_are_not_claimed(model_type: str) -> None:
    assert plugin.match_model(facts_from_config({"model_type": model_type, "vocab_size": 262144}, "x")) is None


def test_entry_point_wiring_selects_gemma(facts_for: Any) -> None:
    host = make_plugin_host()
    info = host.infos["gemma"]
    assert info.status == "loaded" and info.distribution == "framework-gemma" and not info.builtin
    for name, variant in GEMMA.items():
        selection = host.select(facts_for(name))
        assert selection.name == "gemma" and selection.match.variant == variant
        assert host.family(selection, facts_for(name)).facts.variant == variant
    wrapper = facts_from_config(GEMMA3_4B_IT_SPARSE, "google/gemma-3-4b-it")
    assert host.select(wrapper).name == "gemma"
    for name in OTHERS:
        assert "gemma" not in dict(host.matches(facts_for(name)))
    published = dict(host.call_all("known_model_configs"))["gemma"]
    assert "google/gemma-2-9b-it" in published and "google/gemma-3-27b-it" in published


# ── the shipped chat template as evidence ─────────────────────────────────────────────────


def _config(name: str) -> dict[str, Any]:
    return json.loads((ORACLES / "configs" / f"{name}.config.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "template"), [("gemma-3-1b-it", GEMMA3), ("gemma-2-9b-it", GEMMA2)])
def test_gemma_template_confirms_the_format_and_is_named(name: str, template: str) -> None:
    result = plugin.match_model(facts_from_config(_config(name), f"./{name}", chat_template=template))
    assert result.chat_format == "plugin" and result.score == 100
    assert "chat template of the model directory: Gemma turn markers <start_of_turn>/<end_of_turn>" in result.reasons


def test_without_a_template_the_config_alone_decides() -> None:
    result = plugin.match_model(facts_from_config(_config("gemma-3-1b-it"), "google/gemma-3-1b-it"))
    assert result.chat_format == "plugin" and not any("chat template" in r for r in result.reasons)


def test_chatml_fine_tune_of_gemma_is_claimed_with_the_shipped_format() -> None:
    facts = facts_from_config(_config("gemma-2-9b-it"), "./my-chatml-gemma", chat_template=CHATML)
    result = plugin.match_model(facts)
    assert result.variant == "2" and result.score == 100 and result.chat_format == "shipped"
    assert any("another format (ChatML (<|im_start|>))" in r for r in result.reasons)
    host = make_plugin_host()
    selection = host.select(facts)
    assert selection.name == "gemma"
    family = host.family(selection, facts)
    assert family.facts.chat_format == "shipped"
    # The plugin steps aside for chat; its architecture knowledge stays.
    shipped_facts = family.facts
    assert plugin.render_chat(facts=shipped_facts, messages=CHAT, options=ChatOptions(), tokenizer=None,
                              tools=None) is None
    assert plugin.chat_features(facts=shipped_facts, tokenizer=None) is None
    assert plugin.stop_tokens(facts=shipped_facts, tokenizer=None) is None
    assert plugin.lora_target_modules(facts=shipped_facts, method="lora", train_embeddings=False).target_modules


# ── Gemma 4 ───────────────────────────────────────────────────────────────────────────────

HUB = {"google/gemma-4-E2B-it": "4-E2B", "google/gemma-4-E4B-it": "4-E4B", "google/gemma-4-26B-A4B-it": "4-26B-A4B",
       "google/gemma-4-31B-it": "4-31B"}


@pytest.mark.parametrize(("hub_id", "variant"), HUB.items())
def test_published_checkpoints_are_detected_with_their_evidence(hub_id: str, variant: str) -> None:
    config = checkpoints.known_model_configs()[hub_id]
    assert config["_source"]
    result = plugin.match_model(facts_from_config(config, hub_id))
    assert result.score == 100 and result.variant == variant
    assert result.reasons[0] == "model_type=gemma4 (Gemma 4, multimodal wrapper)"
    assert "vocab_size=262144 (Gemma 4's vocabulary)" in result.reasons
    assert f"({variant[2:]})" in result.reasons[1]


@pytest.mark.parametrize(("kind", "variant", "reason"), [
    ("text", "4-E4B", "per-layer input embeddings (hidden_size_per_layer_input=16)"),
    ("wrapper", "4-E4B", "per-layer input embeddings"),
    ("moe", "4-26B-A4B", "mixture of experts: enable_moe_block=True, num_experts=4"),
    ("unified", "4-12B", "model_type gemma4_unified (the 12B unified model)"),
])
def test_tiny_configs(kind: str, variant: str, reason: str, tiny_gemma4_config: Any) -> None:
    result = plugin.match_model(facts_from_config(tiny_gemma4_config(kind), "tiny"))
    assert result.variant == variant and result.score == 50 and reason in result.reasons[1]


def test_dense_and_unified_configs() -> None:
    dense = {"model_type": "gemma4_text", "vocab_size": 262144, "hidden_size": 5376, "hidden_size_per_layer_input": 0}
    assert plugin.match_model(facts_from_config(dense, "x")).variant == "4-31B"
    unified = {"model_type": "gemma4_unified",
               "text_config": {"model_type": "gemma4_unified_text", "vocab_size": 262144}}
    result = plugin.match_model(facts_from_config(unified, "google/gemma-4-12B-it"))
    assert result.variant == "4-12B" and "gemma4_unified" in result.reasons[1]


def test_the_shipped_template_decides_the_pre_fill_and_is_named(claimed: Any) -> None:
    e2b = checkpoints.known_model_configs()["google/gemma-4-E2B-it"]
    small = plugin.match_model(facts_from_config(e2b, "./my-e2b", chat_template=SMALL_TEMPLATE))
    assert small.chat_format == "plugin"
    assert ("chat template of the model directory: Gemma 4 turn markers <|turn>/<turn|>, no pre-filled thought "
            "block (E2B/E4B template)") in small.reasons
    messages = [{"role": "user", "content": "Hi"}]

    def prompt(template: str) -> str:
        facts = claimed(e2b, "./my-e2b", template)
        return plugin.render_chat(facts=facts, messages=messages, options=ChatOptions(add_generation_prompt=True),
                                  tokenizer=None, tools=None).text

    assert prompt(SMALL_TEMPLATE).endswith("<|turn>model\n")
    assert prompt(LARGE_TEMPLATE).endswith("<|turn>model\n<|channel>thought\n<channel|>")  # the template decides


def test_chatml_fine_tune_of_gemma4_keeps_the_architecture_and_uses_its_template() -> None:
    config = checkpoints.known_model_configs()["google/gemma-4-31B-it"]
    facts = facts_from_config(config, "./chatml-gemma4", chat_template=CHATML)
    result = plugin.match_model(facts)
    assert result.variant == "4-31B" and result.chat_format == "shipped"
    host = make_plugin_host()
    family = host.family(host.select(facts), facts)
    assert family.facts.chat_format == "shipped" and family.lora_targets("lora", False).target_modules
