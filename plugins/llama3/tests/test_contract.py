"""The core's plugin contract (framework.testing.PluginContract) run against this plugin.

Configs and templates are the official copies in tests/oracles/ (origin and sha256 in
SOURCES.md there). Llama 3.2's template prints today's date (``strftime_now``) and so does the
plugin, so the comparison holds on any day.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.hookdata import ChatOptions
from framework.testing import PluginContract
from framework_llama3 import plugin

ORACLES = Path(__file__).resolve().parent / "oracles"
TEMPLATES = {"3": "meta-llama-3-8b-instruct.jinja", "3.1": "llama-3.1-8b-instruct.jinja",
             "3.2": "llama-3.2-3b-instruct.jinja"}


def _config(name: str) -> dict[str, Any]:
    return json.loads((ORACLES / "configs" / f"{name}.config.json").read_text(encoding="utf-8"))


#: meta-llama/Llama-2-7b-hf: the same model_type and architecture, another vocabulary and format.
LLAMA2 = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 32000, "hidden_size": 4096,
          "num_attention_heads": 32, "max_position_embeddings": 4096, "bos_token_id": 1, "eos_token_id": 2}


class TestLlama3Contract(PluginContract):
    plugin_module = plugin
    entry_point_name = "llama3"
    configs = [(_config("Meta-Llama-3-8B"), "3"), (_config("Meta-Llama-3-8B-Instruct"), "3"),
               (_config("Llama-3.1-8B-Instruct"), "3.1"), (_config("Llama-3.2-3B-Instruct"), "3.2"),
               (_config("Llama-3.2-1B-Instruct.mlc"), "3.2")]
    foreign_configs = [LLAMA2, *(_config(n) for n in ("Mistral-7B-v0.1", "Mixtral-8x7B-v0.1", "Qwen2.5-7B-Instruct",
                                                        "Qwen3-0.6B", "gemma-2-9b-it"))]

    @pytest.fixture(scope="class")
    @classmethod
    def tokenizer(cls, tok3: Any, tok31: Any) -> Any:
        return {"3": tok3, "3.1": tok31, "3.2": tok31}

    @pytest.fixture(scope="class")
    @classmethod
    def official_chat_template(cls) -> Any:
        return {v: (ORACLES / "templates" / name).read_text(encoding="utf-8") for v, name in TEMPLATES.items()}

    @pytest.fixture(scope="class")
    @classmethod
    def tiny_model(cls, tiny_config: Any) -> Any:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(0)
        return LlamaForCausalLM(LlamaConfig(**tiny_config()))

    def renderer(self, facts: Any, tokenizer: Any) -> Any:
        """The plugin's render_chat with ``tools=None``: the contract's conversations declare no tools."""

        def render(messages: list[dict[str, str]], options: ChatOptions) -> Any:
            return plugin.render_chat(facts, messages, options, tokenizer, None)

        return render

    def test_declared_reasoning_and_tools_are_marked(self, claimed: Any, tokenizer: Any) -> None:
        """3.1/3.2 run the contract's check; Llama 3.0 declares nothing, and its renderer refuses tool data."""
        if claimed[1] != "3":
            super().test_declared_reasoning_and_tools_are_marked(claimed, tokenizer)
            return
        from framework.errors import DataError

        facts, tok = self.facts(claimed), self.for_variant(tokenizer, claimed[1])
        features = plugin.chat_features(facts, tok)
        assert not features.tools and not features.reasoning
        calls = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [
            {"id": None, "type": "function", "function": {"name": "f", "arguments": {}}}]}]
        with pytest.raises(DataError, match="Llama 3.0"):
            plugin.render_chat(facts, calls, ChatOptions(), tok, None)
