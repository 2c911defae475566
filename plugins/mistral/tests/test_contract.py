"""The core's plugin contract (framework.testing.PluginContract) run against this plugin."""

from __future__ import annotations

from typing import Any

import pytest

from framework.hookdata import ChatOptions
from framework.testing import PluginContract
from framework.testing import problems as P
from framework_mistral import plugin

V01 = {"model_type": "mistral", "architectures": ["MistralForCausalLM"], "vocab_size": 32000, "hidden_size": 4096,
       "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768,
       "sliding_window": 4096, "rope_theta": 10000.0, "bos_token_id": 1, "eos_token_id": 2}
V02 = {**V01, "sliding_window": None, "rope_theta": 1e6}
V03 = {**V02, "vocab_size": 32768}
NEMO = {**V03, "vocab_size": 131072, "hidden_size": 5120, "head_dim": 128, "max_position_embeddings": 128000}
MIXTRAL = {**V02, "model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "num_local_experts": 8,
           "num_experts_per_tok": 2}
TEMPLATES = {"v0.1": "mistral-7b-instruct-v0.1.jinja", "v0.2": "mistral-7b-instruct-v0.1.jinja",
             "mixtral": "mistral-7b-instruct-v0.1.jinja", "v0.3": "mistral-7b-instruct-v0.3.jinja",
             "nemo": "mistral-nemo-instruct-2407.jinja"}


class TestMistralContract(PluginContract):
    plugin_module = plugin
    entry_point_name = "mistral"
    configs = [(V01, "v0.1"), (V02, "v0.2"), (V03, "v0.3"), (NEMO, "nemo"), (MIXTRAL, "mixtral")]
    foreign_configs = [
        {"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "num_attention_heads": 32},
        {"model_type": "llama", "vocab_size": 128256, "rope_theta": 500000.0},
        {"model_type": "qwen2", "vocab_size": 151936, "sliding_window": 4096},
        {"model_type": "gemma", "vocab_size": 256000, "head_dim": 256},
    ]

    @pytest.fixture(scope="class")
    @classmethod
    def tokenizer(cls, tok_v1: Any, tok_v3: Any, tok_tekken: Any) -> Any:
        return {"v0.1": tok_v1, "v0.2": tok_v1, "mixtral": tok_v1, "v0.3": tok_v3, "nemo": tok_tekken}

    @pytest.fixture(scope="class")
    @classmethod
    def official_chat_template(cls, official: Any) -> Any:
        return {variant: official.template(name) for variant, name in TEMPLATES.items()}

    @pytest.fixture(scope="class")
    @classmethod
    def tiny_model(cls, tiny: Any) -> Any:
        from transformers import MistralForCausalLM

        return MistralForCausalLM(tiny.mistral(vocab_size=32768, hidden_size=16, intermediate_size=32,
                                               num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                               sliding_window=None))

    def test_render_matches_official_template(self, claimed: Any, tokenizer: Any, official_chat_template: Any,
                                              conversation: Any) -> None:
        """v0.3/NeMo are compared with ``system_placement="template"``, the Hub string.

        The default places the system prompt like mistral-common (last user message) because the
        Hub templates drop it from every sample that ends with a reply; test_chat.py shows that is
        the only difference.
        """
        if claimed[1] not in ("v0.3", "nemo"):
            super().test_render_matches_official_template(claimed, tokenizer, official_chat_template, conversation)
            return
        facts, tok = self.facts(claimed), self.for_variant(tokenizer, claimed[1])

        def hub(messages: list[dict[str, str]], options: ChatOptions) -> Any:
            extra = (*options.extra, ("system_placement", "template"))
            return plugin.render_chat(facts, messages, ChatOptions(options.add_generation_prompt, extra), tok, None)

        problems = P.official_template_problems(tok, self.for_variant(official_chat_template, claimed[1]), hub,
                                                list(conversation))
        assert not problems, problems

    def test_demo_model_is_well_formed(self, tmp_path_factory: Any) -> None:
        """No demo model: the core's offline demo comes from another plugin (the name sorting first)."""
        assert not self.under_test().implements("provide_demo_model")


def test_every_hook_takes_exactly_the_hookspecs_parameters():
    """Same names, same order, none left out: a diff against another family's plugin.py shows only
    which hooks are answered, and pluggy never silently passes fewer arguments than the spec has."""
    import inspect

    from framework import hookspecs

    implemented = [name for name, fn in vars(plugin).items()
                   if callable(fn) and hasattr(fn, "framework_impl")]
    assert len(implemented) >= 12, implemented
    for name in implemented:
        spec = inspect.signature(getattr(hookspecs, name)).parameters
        impl = inspect.signature(getattr(plugin, name)).parameters
        assert list(impl) == list(spec), name
        assert [p.default for p in impl.values()] == [p.default for p in spec.values()], name
