"""The core's plugin contract, run against this plugin (detection, hooks, chat masking, LoRA targets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from framework.testing import PluginContract
from framework_phi3 import plugin
from framework_phi3.checkpoints import build_tiny_model, tiny_config
from framework_phi3.tokenizer import build_tokenizer

#: Other families' configs, and the Phi-4 generations that reuse model_type "phi3".
LLAMA2_7B = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 32000, "hidden_size": 4096,
             "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
             "max_position_embeddings": 4096, "bos_token_id": 1, "eos_token_id": 2}
PHI4 = tiny_config(vocab_size=100352, max_position_embeddings=16384, bos_token_id=100257, eos_token_id=100265)
PHI4_MINI = tiny_config(vocab_size=200064, max_position_embeddings=131072, bos_token_id=199999, eos_token_id=199999)


class TestPhi3Contract(PluginContract):
    plugin_module = plugin
    entry_point_name = "phi3"
    configs = [(tiny_config(), "3-4k"), (tiny_config(long_context=True), "3-128k")]
    foreign_configs = [LLAMA2_7B, PHI4, PHI4_MINI]

    @pytest.fixture(scope="class")
    @classmethod
    def tokenizer(cls) -> Any:
        return build_tokenizer()

    @pytest.fixture(scope="class")
    @classmethod
    def official_chat_template(cls) -> str:
        """Phi-3-mini-4k-instruct's template, which the 128k checkpoints ship too (see templates/README.md)."""
        return (Path(__file__).parent / "templates" / "phi-3-mini-instruct.jinja").read_text(encoding="utf-8")

    @pytest.fixture(scope="class")
    @classmethod
    def tiny_model(cls) -> Any:
        return build_tiny_model()
