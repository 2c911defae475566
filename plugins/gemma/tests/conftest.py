"""Fixtures: the synthetic Gemma tokenizers, the official oracles, facts and tiny configs.

The tokenizers are built by ``framework_gemma.tokenizer`` (a synthetic vocabulary carrying Gemma's
special tokens at Gemma's ids, because Google's files are gated on the Hub; see its docstring).

Helpers are handed out as fixtures because, with ``--import-mode=importlib``, test modules of
the four plugins cannot import a module named ``conftest``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ModelFacts
from framework_gemma.tokenizer import build_gemma4_tokenizer, build_gemma_tokenizer


#: Copies of the official configs and templates, with their origin and sha256 (oracles/SOURCES.md).
OFFICIAL = Path(__file__).resolve().parent / "oracles"

#: Official template per generation (gemma-7b-it and gemma-2-9b-it are the same 591 bytes).
TEMPLATES = {"1": "gemma-7b-it.jinja", "2": "gemma-2-9b-it.jinja", "3": "gemma-3-1b-it.jinja"}


def official_config(name: str) -> dict[str, Any]:
    return json.loads((OFFICIAL / "configs" / f"{name}.config.json").read_text(encoding="utf-8"))


def official_template(generation: str) -> str:
    return (OFFICIAL / "templates" / TEMPLATES[generation]).read_text(encoding="utf-8")


def facts_for(name: str, variant: str | None = None) -> ModelFacts:
    facts = facts_from_config(official_config(name), name)
    return facts.model_copy(update={"variant": variant}) if variant else facts


def claimed(config: dict[str, Any], name: str = "x", template: str | None = None) -> ModelFacts:
    """Facts of ``config`` as the core hands them to later hooks: with the plugin's variant and chat format."""
    from framework_gemma import plugin

    facts = facts_from_config(config, name, chat_template=template)
    match = plugin.match_model(facts)
    return facts.model_copy(update={"variant": match.variant, "chat_format": match.chat_format})


def tiny_config(model_type: str, **overrides: Any) -> dict[str, Any]:
    """A config of the given Gemma model_type small enough to instantiate in milliseconds."""
    text: dict[str, Any] = {
        "vocab_size": 512, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 8192,
        "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
    }
    if model_type == "gemma":
        config = {"model_type": "gemma", "architectures": ["GemmaForCausalLM"], **text}
    elif model_type == "gemma2":
        config = {"model_type": "gemma2", "architectures": ["Gemma2ForCausalLM"], **text, "sliding_window": 4,
                  "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "query_pre_attn_scalar": 16}
    elif model_type == "gemma3_text":
        config = {"model_type": "gemma3_text", "architectures": ["Gemma3ForCausalLM"], **text,
                  "max_position_embeddings": 32768, "sliding_window": 4, "sliding_window_pattern": 2,
                  "query_pre_attn_scalar": 16, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0}
    elif model_type == "gemma3":
        inner = {**tiny_config("gemma3_text"), "max_position_embeddings": 131072,
                 "rope_scaling": {"rope_type": "linear", "factor": 8.0}}
        inner.pop("architectures")
        config = {
            "model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"], "text_config": inner,
            "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 16, "intermediate_size": 32,
                              "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 28, "patch_size": 14,
                              "vision_use_head": False},
            "mm_tokens_per_image": 4, "boi_token_index": 509, "eoi_token_index": 510, "image_token_index": 511,
        }
    else:
        raise ValueError(model_type)
    config.update(overrides)
    return config


def tiny_model(model_type: str, **overrides: Any) -> Any:
    """A randomly initialised tiny transformers model of the given Gemma model_type (seed 0)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = dict(tiny_config(model_type, **overrides))
    kind = config.pop("model_type")
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(AutoConfig.for_model(kind, **config)).eval()


@pytest.fixture(scope="session", name="official_config")
def _official_config_fixture() -> Any:
    return official_config


@pytest.fixture(scope="session", name="official_template")
def _official_template_fixture() -> Any:
    return official_template


@pytest.fixture(scope="session", name="facts_for")
def _facts_for_fixture() -> Any:
    return facts_for


@pytest.fixture(scope="session", name="claimed")
def _claimed_fixture() -> Any:
    return claimed


@pytest.fixture(scope="session", name="tiny_config")
def _tiny_config_fixture() -> Any:
    return tiny_config


@pytest.fixture(scope="session", name="tiny_model")
def _tiny_model_fixture() -> Any:
    return tiny_model


@pytest.fixture(scope="session", name="build_tokenizer")
def _build_tokenizer_fixture() -> Any:
    return build_gemma_tokenizer


@pytest.fixture(scope="session")
def tok12() -> Any:
    """Synthetic Gemma 1/2 tokenizer: <start_of_turn> 106, <end_of_turn> 107."""
    return build_gemma_tokenizer("2")


@pytest.fixture(scope="session")
def tok3() -> Any:
    """Synthetic Gemma 3 tokenizer: <start_of_turn> 105, <end_of_turn> 106."""
    return build_gemma_tokenizer("3")


@pytest.fixture(scope="session")
def tokenizers(tok12: Any, tok3: Any) -> dict[str, Any]:
    return {"1": tok12, "2": tok12, "3": tok3}


@pytest.fixture(scope="session")
def tok4() -> Any:
    """Synthetic Gemma 4 tokenizer with the real control-token ids."""
    return build_gemma4_tokenizer()


def gemma4_template(which: str) -> str:
    """The official Gemma 4 template: "small" (E2B/E4B) or "large" (12B/26B-A4B/31B)."""
    name = "google-gemma-4-E2B-it.jinja" if which == "small" else "google-gemma-4-31B-it.jinja"
    return (OFFICIAL / "2026" / "templates" / name).read_text(encoding="utf-8")


@pytest.fixture(scope="session", name="gemma4_template")
def _gemma4_template_fixture() -> Any:
    return gemma4_template


#: A tiny Gemma 4 language model with every Gemma 4 mechanism: sliding and global layers (global head_dim twice
#: the sliding one, like 512 vs 256), per-layer input embeddings, two KV-shared layers, final soft-capping.
TINY_GEMMA4_TEXT: dict[str, Any] = {
    "vocab_size": 1024, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
    "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "global_head_dim": 64, "sliding_window": 4,
    "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
    "hidden_size_per_layer_input": 16, "vocab_size_per_layer_input": 1024, "num_kv_shared_layers": 2,
    "final_logit_softcapping": 30.0, "max_position_embeddings": 131072, "bos_token_id": 2, "eos_token_id": [1, 106],
    "pad_token_id": 0,
}
#: The 26B-A4B shape in small: mixture of experts, no per-layer embeddings, keys equal values on global layers.
TINY_GEMMA4_MOE: dict[str, Any] = {
    **TINY_GEMMA4_TEXT, "hidden_size_per_layer_input": 0, "num_kv_shared_layers": 0, "enable_moe_block": True,
    "num_experts": 4, "top_k_experts": 2, "moe_intermediate_size": 32, "attention_k_eq_v": True,
    "num_global_key_value_heads": 1,
}


def tiny_gemma4_config(kind: str, **overrides: Any) -> dict[str, Any]:
    """config.json of a tiny Gemma 4: "text" (gemma4_text), "wrapper" (gemma4, text only), "vision" (gemma4 with a
    vision tower), "moe" (gemma4_text) or
    "unified" (gemma4_unified, the 12B's architecture: no per-layer embeddings, no KV sharing)."""
    if kind == "unified":
        text = {**TINY_GEMMA4_TEXT, "hidden_size_per_layer_input": 0, "num_kv_shared_layers": 0, **overrides,
                "model_type": "gemma4_unified_text"}
        return {"model_type": "gemma4_unified", "architectures": ["Gemma4UnifiedForConditionalGeneration"],
                "text_config": text, "vision_config": None, "audio_config": None, "eos_token_id": [1, 106]}
    if kind in ("wrapper", "vision"):
        text = {**TINY_GEMMA4_TEXT, **overrides, "model_type": "gemma4_text"}
        vision = None if kind == "wrapper" else {
            "model_type": "gemma4_vision", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 16, "position_embedding_size": 64,
            "patch_size": 4}
        return {"model_type": "gemma4", "architectures": ["Gemma4ForConditionalGeneration"], "text_config": text,
                "vision_config": vision, "audio_config": None, "eos_token_id": [1, 106]}
    base = TINY_GEMMA4_MOE if kind == "moe" else TINY_GEMMA4_TEXT
    return {"model_type": "gemma4_text", "architectures": ["Gemma4ForCausalLM"], **base, **overrides}


def tiny_gemma4(kind: str, **overrides: Any) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = {k: v for k, v in tiny_gemma4_config(kind, **overrides).items() if k != "architectures"}
    model_type = config.pop("model_type")
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **config)).eval()


@pytest.fixture(scope="session", name="tiny_gemma4_config")
def _tiny_gemma4_config_fixture() -> Any:
    return tiny_gemma4_config


@pytest.fixture(scope="session", name="tiny_gemma4")
def _tiny_gemma4_fixture() -> Any:
    return tiny_gemma4


def gemma4_expected(tok: Any, template: str, which: str, messages: list[dict[str, Any]], generation: bool,
                    tools: list[dict[str, Any]] | None = None, thinking: bool | None = None) -> str:
    """The oracle for a Gemma 4 render: the official text, except that for the "large" (12B/26B-A4B/31B) template
    a final model turn (after the last user message, no tool results yet) follows the official inference prompt
    (with its pre-filled empty thought block) instead of the bare turn header the full rendering has there."""
    if thinking is None:
        thinking = any(m.get("reasoning_content") for m in messages)

    def official(convo: list[dict[str, Any]], gen: bool) -> str:
        return tok.apply_chat_template(convo, tools=tools, chat_template=template, tokenize=False,
                                       add_generation_prompt=gen, enable_thinking=thinking)

    full = official(messages, generation)
    system = 1 if messages and messages[0]["role"] == "system" else 0
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    k = (users[-1] + 1) if users else system
    final_turn = (k < len(messages) and messages[k]["role"] == "assistant"
                  and not any(m["role"] == "tool" for m in messages[k:]))
    if which == "small" or thinking or not final_turn:
        return full
    head = official(messages[:k], False) + "<|turn>model\n"
    assert full.startswith(head)
    return official(messages[:k], True) + full[len(head):]


@pytest.fixture(scope="session", name="gemma4_expected")
def _gemma4_expected_fixture() -> Any:
    return gemma4_expected
