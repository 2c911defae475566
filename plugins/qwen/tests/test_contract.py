"""The core's plugin contract (framework.testing.PluginContract) run against this plugin.

Every generation is claimed from its official config (by the hub name where only the name tells
Qwen2 and Qwen2.5 apart) and rendered against its official template from ``oracles/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from framework.hookdata import ChatOptions
from framework.testing import PluginContract
from framework_qwen import plugin

CONFIGS = {
    "1.5": ("Qwen1.5-1.8B-Chat.config.json", "Qwen/Qwen1.5-1.8B-Chat"),
    "2": ("Qwen2-7B-Instruct.config.json", "Qwen/Qwen2-7B-Instruct"),
    "2.5": ("Qwen2.5-7B-Instruct.config.json", "Qwen/Qwen2.5-7B-Instruct"),
    "3": ("Qwen3-0.6B.config.json", "Qwen/Qwen3-0.6B"),
}
TEMPLATES = {"1.5": "qwen2-7b-instruct.jinja", "2": "qwen2-7b-instruct.jinja",
             "2.5": "qwen2.5-7b-instruct.jinja", "3": "qwen3-1.7b.rev-openvino.jinja",
             "2507": "2026/templates/Qwen-Qwen3-4B-Instruct-2507.jinja",
             "3.5": "2026/templates/Qwen-Qwen3.5-9B.jinja", "3.6": "2026/templates/Qwen-Qwen3.6-27B.jinja"}


def _read(name: str) -> dict[str, Any]:
    import json
    from pathlib import Path

    return json.loads((Path(__file__).resolve().parent / "oracles" / "configs" / name).read_text(encoding="utf-8"))


def _named(variant: str) -> dict[str, Any]:
    file, hub_id = CONFIGS[variant]
    return {**_read(file), "_name_or_path": hub_id}


def _qwen35(hub_id: str) -> dict[str, Any]:
    """The official Qwen3.5-0.8B config (architecture facts) under a 4B+ name: thinking on by default."""
    return {**_read("../2026/configs/Qwen-Qwen3.5-0.8B.json"), "_name_or_path": hub_id}


class TestQwenContract(PluginContract):
    plugin_module = plugin
    entry_point_name = "qwen"
    configs = [(_named(v), v) for v in CONFIGS] + [(_read("Qwen-7B-Chat.config.json"), "1"),
                                                    ({**_read("Qwen3-1.7B.config.json"),
                                                      "_name_or_path": "Qwen/Qwen3-4B-Instruct-2507"}, "2507"),
                                                    (_qwen35("Qwen/Qwen3.5-9B"), "3.5"),
                                                    (_qwen35("Qwen/Qwen3.6-27B"), "3.6")]
    foreign_configs = [_read(name) for name in (
        "Llama-3.1-8B-Instruct.config.json", "Mistral-7B-v0.1.config.json", "Mixtral-8x7B-v0.1.config.json",
        "gemma-2-9b-it.config.json", "gemma-3-1b-it.config.json")]

    @pytest.fixture(scope="class")
    @classmethod
    def tokenizer(cls, tokenizer: Any, qwen35_tokenizer: Any) -> Any:
        return {v: tokenizer for v in ("1", "1.5", "2", "2.5", "3", "2507")} | {
            "3.5": qwen35_tokenizer, "3.6": qwen35_tokenizer}

    @pytest.fixture(scope="class")
    @classmethod
    def official_chat_template(cls, template: Any) -> Any:
        # Qwen v1 ships no jinja template (remote code): test_chat.py compares it with make_context.
        return {variant: template(name) for variant, name in TEMPLATES.items()}

    @pytest.fixture(scope="class")
    @classmethod
    def tiny_model(cls, tiny_moe: Any) -> Any:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_config(tiny_moe("qwen2_moe", vocab_size=151936, hidden_size=16,
                                                         num_attention_heads=2, num_key_value_heads=1))

    def test_render_matches_official_template(self, claimed: Any, tokenizer: Any, official_chat_template: Any,
                                              conversation: Any) -> None:
        """Qwen v1 ships no jinja template: its prompt is the string its remote code's make_context builds
        (ChatML with the default system turn, turns joined by a newline); test_chat.py checks more."""
        if claimed[1] != "1":
            super().test_render_matches_official_template(claimed, tokenizer, official_chat_template, conversation)
            return
        messages = list(conversation)
        prompt = messages[:-1]
        system = "You are a helpful assistant."
        if prompt[0]["role"] == "system":
            system, prompt = prompt[0]["content"], prompt[1:]
        expected = f"<|im_start|>system\n{system}<|im_end|>"
        for message in prompt:
            expected += f"\n<|im_start|>{message['role']}\n{message['content']}<|im_end|>"
        expected += "\n<|im_start|>assistant\n"
        rendered = self.renderer(self.facts(claimed), tokenizer)(messages[:-1], ChatOptions(add_generation_prompt=True))
        assert rendered.text == expected

    def test_demo_model_is_well_formed(self, tmp_path_factory: Any) -> None:
        """No demo model: the core's offline demo comes from another plugin (the name sorting first)."""
        assert not self.under_test().implements("provide_demo_model")

    def test_declared_reasoning_and_tools_are_marked(self, claimed: Any, tokenizer: Any) -> None:
        """Variants declaring neither (v1, 1.5, 2: their templates render neither) refuse such content in
        one line instead of dropping it; the others are checked by the contract."""
        from framework.errors import DataError

        facts = self.facts(claimed)
        features = plugin.chat_features(facts=facts, tokenizer=None)
        if features.reasoning or features.tools:
            super().test_declared_reasoning_and_tools_are_marked(claimed, tokenizer)
            return
        call = {"id": None, "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
        for reply in ({"role": "assistant", "content": "a", "reasoning_content": "r"},
                      {"role": "assistant", "content": "", "tool_calls": [call]}):
            with pytest.raises(DataError):
                plugin.render_chat(facts=facts, messages=[{"role": "user", "content": "q"}, reply],
                                   options=ChatOptions(), tokenizer=None, tools=None)
        with pytest.raises(DataError, match="tools"):
            plugin.render_chat(facts=facts, messages=[{"role": "user", "content": "q"}], options=ChatOptions(),
                               tokenizer=None, tools=[{"type": "function", "function": {"name": "f"}}])
