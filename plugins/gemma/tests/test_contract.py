"""The core's plugin contract, run against this plugin (detection, hooks, chat masking, LoRA targets).

Tokenizers are the synthetic Gemma vocabularies of framework_gemma.tokenizer. The official template compared
here is Gemma 3's for every variant: the contract's sample conversations carry system messages,
which the Gemma 1/2 templates refuse and this plugin folds the Gemma 3 way (see test_chat.py for
each generation's own template on conversations without a system message).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.hookdata import ChatOptions
from framework.testing import PluginContract
from framework_gemma import checkpoints, plugin


def _official() -> Path:
    """The copies of the official files beside the tests (oracles/SOURCES.md)."""
    return Path(__file__).resolve().parent / "oracles"


def _config(name: str) -> dict[str, Any]:
    return json.loads((_official() / "configs" / f"{name}.config.json").read_text(encoding="utf-8"))


#: google/gemma-3-4b-it as published (text facts left to class defaults).
GEMMA3_4B_IT = {
    "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "eos_token_id": [1, 106],
    "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                    "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                    "sliding_window": 1024},
    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "image_size": 896},
}
TINY_WRAPPER = {
    "model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"], "mm_tokens_per_image": 4,
    "boi_token_index": 509, "eoi_token_index": 510, "image_token_index": 511,
    "text_config": {"model_type": "gemma3_text", "vocab_size": 512, "hidden_size": 32, "intermediate_size": 64,
                    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                    "sliding_window": 4, "sliding_window_pattern": 2, "query_pre_attn_scalar": 16},
    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 16, "intermediate_size": 32,
                      "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 28, "patch_size": 14,
                      "vision_use_head": False},
}


class TestGemmaContract(PluginContract):
    plugin_module = plugin
    entry_point_name = "gemma"
    configs = [(_config("gemma-2b"), "1"), (_config("gemma-2-9b-it"), "2"), (_config("gemma-2-27b-it.mlc"), "2"),
               (_config("gemma-3-1b-it"), "3"), (GEMMA3_4B_IT, "3-multimodal")]
    foreign_configs = [_config(name) for name in ("Meta-Llama-3-8B", "Mistral-7B-v0.1", "Qwen2.5-7B-Instruct",
                                                  "Qwen3-0.6B", "Mixtral-8x7B-v0.1")]

    @pytest.fixture(scope="class")
    @classmethod
    def tokenizer(cls, tok12: Any, tok3: Any) -> Any:
        return {"1": tok12, "2": tok12, "3": tok3, "3-multimodal": tok3}

    @pytest.fixture(scope="class")
    @classmethod
    def official_chat_template(cls) -> Any:
        return (_official() / "templates" / "gemma-3-1b-it.jinja").read_text(encoding="utf-8")

    @pytest.fixture(scope="class")
    @classmethod
    def tiny_model(cls) -> Any:
        """The multimodal wrapper: its LoRA targets must resolve in the language model only."""
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        config = dict(TINY_WRAPPER)
        torch.manual_seed(0)
        return AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config))


def _gemma4(hub_id: str) -> dict[str, Any]:
    return {k: v for k, v in checkpoints.known_model_configs()[hub_id].items() if k != "_source"}


class TestGemma4Contract(PluginContract):
    """Gemma 4 E2B/E4B: the synthetic Gemma 4 vocabulary, their shipped template, the tiny wrapper for LoRA targets."""

    plugin_module = plugin
    entry_point_name = "gemma"
    configs = [(_gemma4("google/gemma-4-E2B-it"), "4-E2B"), (_gemma4("google/gemma-4-E4B-it"), "4-E4B")]
    foreign_configs = TestGemmaContract.foreign_configs
    template_file = "google-gemma-4-E2B-it.jinja"

    @pytest.fixture(scope="class")
    @classmethod
    def tokenizer(cls, tok4: Any) -> Any:
        return tok4

    @pytest.fixture(scope="class")
    @classmethod
    def official_chat_template(cls) -> Any:
        return (_official() / "2026" / "templates" / cls.template_file).read_text(encoding="utf-8")

    @pytest.fixture(scope="class")
    @classmethod
    def tiny_model(cls, tiny_gemma4: Any) -> Any:
        return tiny_gemma4("wrapper")


class TestGemma4LargeContract(TestGemma4Contract):
    """Gemma 4 26B-A4B/31B: their template pre-fills an empty thought block in the inference prompt, which the
    full rendering of a finished turn lacks; the final reply is rendered after that prompt (chat docstring), so the
    official comparison is against the inference prompt plus the official rendering of the reply."""

    configs = [(_gemma4("google/gemma-4-26B-A4B-it"), "4-26B-A4B"), (_gemma4("google/gemma-4-31B-it"), "4-31B")]
    template_file = "google-gemma-4-31B-it.jinja"

    @pytest.fixture(scope="class")
    @classmethod
    def tiny_model(cls, tiny_gemma4: Any) -> Any:
        return tiny_gemma4("moe")

    def test_render_matches_official_template(self, claimed: tuple[dict[str, Any], str], tokenizer: Any,
                                              official_chat_template: Any, conversation: Any,
                                              gemma4_expected: Any) -> None:
        render = self.renderer(self.facts(claimed), tokenizer)
        cases = [(list(conversation), False), (list(conversation)[:-1], True)]
        for convo, generation in cases:
            expected = gemma4_expected(tokenizer, official_chat_template, "large", convo, generation)
            assert render(convo, ChatOptions(add_generation_prompt=generation)).text == expected
            if generation:  # the inference prompt itself is the template's, pre-fill included
                assert expected.endswith("<|turn>model\n<|channel>thought\n<channel|>")
