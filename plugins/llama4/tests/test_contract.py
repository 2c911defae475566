"""The core's plugin contract (framework.testing.PluginContract) run against this plugin."""

from __future__ import annotations

from typing import Any

import pytest

from framework.hookdata import ChatOptions
from framework.testing import PluginContract
from framework_llama4 import checkpoints, plugin

TABLE = checkpoints.known_model_configs()
SCOUT = TABLE["meta-llama/Llama-4-Scout-17B-16E-Instruct"]
MAVERICK = TABLE["meta-llama/Llama-4-Maverick-17B-128E-Instruct"]


class TestLlama4Contract(PluginContract):
    plugin_module = plugin
    entry_point_name = "llama4"
    configs = [(SCOUT, "scout"), (MAVERICK, "maverick"), ({**SCOUT["text_config"]}, "scout"),
               ({**MAVERICK["text_config"]}, "maverick")]
    foreign_configs = [
        {"model_type": "llama", "vocab_size": 128256, "rope_theta": 500000.0, "bos_token_id": 128000},
        {"model_type": "llama", "vocab_size": 202048, "hidden_size": 5120},  # a Llama 4 draft head, not Llama 4
        {"model_type": "mixtral", "vocab_size": 32000, "num_local_experts": 8},
        {"model_type": "qwen3_moe", "vocab_size": 151936, "num_experts": 128},
    ]

    @pytest.fixture(scope="class")
    @classmethod
    def tokenizer(cls, tok4: Any) -> Any:
        return tok4

    @pytest.fixture(scope="class")
    @classmethod
    def official_chat_template(cls, template4: str) -> Any:
        return template4

    @pytest.fixture(scope="class")
    @classmethod
    def tiny_model(cls, tiny_text_config: Any) -> Any:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        config = tiny_text_config(vocab_size=202048)
        torch.manual_seed(0)
        return AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config))

    def renderer(self, facts: Any, tokenizer: Any) -> Any:
        """The plugin's render_chat with ``tools=None``: the contract's conversations declare no tools."""

        def render(messages: list[dict[str, str]], options: ChatOptions) -> Any:
            return plugin.render_chat(facts, messages, options, tokenizer, None)

        return render

    def test_demo_model_is_well_formed(self, tmp_path_factory: Any) -> None:
        """No demo model: the core's offline demo comes from another plugin (the name sorting first)."""
        assert not self.under_test().implements("provide_demo_model")
