"""Phi-3 checkpoints: the config.json facts of a published one, and a tiny one built offline.

``framework plan --model microsoft/Phi-3-mini-4k-instruct`` works without a download because
the planner reads the published numbers below (each entry names its ``_source``). The tiny
checkpoint is a real ``Phi3ForCausalLM`` with the family's vocabulary, fused projections,
sliding window and (``long_context``) LongRoPE layout, small enough to build in milliseconds:
the plugin's tests and the core's kit tests train and render with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from framework_phi3.vocab import NATIVE_CONTEXT, SLIDING_WINDOW_4K, VOCAB_SIZE

CONFIG_4K = "https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/config.json"

# ── published checkpoints ─────────────────────────────────────────────────────────────────
MINI_4K_INSTRUCT: dict[str, Any] = {
    "_source": CONFIG_4K,
    "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "vocab_size": VOCAB_SIZE,
    "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 32, "max_position_embeddings": 4096, "original_max_position_embeddings": 4096,
    "rope_theta": 10000.0, "rope_scaling": None, "sliding_window": SLIDING_WINDOW_4K, "hidden_act": "silu",
    "rms_norm_eps": 1e-05, "bos_token_id": 1, "eos_token_id": 32000, "pad_token_id": 32000,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}


def known_model_configs() -> dict[str, dict[str, Any]]:
    """Copies, so a caller cannot change the table (``_source`` stays: the contract asks for it)."""
    return {"microsoft/Phi-3-mini-4k-instruct": dict(MINI_4K_INSTRUCT)}


# ── the tiny offline checkpoint ───────────────────────────────────────────────────────────
def tiny_config(*, long_context: bool = False, **overrides: Any) -> dict[str, Any]:
    """A Phi-3 shaped config.json small enough to instantiate in milliseconds (real vocabulary size).

    ``long_context`` gives the 128k layout: LongRoPE with per-dimension factors (head_dim/2 of them).
    """
    config: dict[str, Any] = {
        "model_type": "phi3", "architectures": ["Phi3ForCausalLM"], "vocab_size": VOCAB_SIZE,
        "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 2, "max_position_embeddings": NATIVE_CONTEXT,
        "original_max_position_embeddings": NATIVE_CONTEXT, "sliding_window": SLIDING_WINDOW_4K,
        "rope_theta": 10000.0, "bos_token_id": 1, "eos_token_id": 32000, "pad_token_id": 32000,
        "tie_word_embeddings": False,
    }
    if long_context:
        half_head = config["hidden_size"] // config["num_attention_heads"] // 2
        config.update(max_position_embeddings=131072, sliding_window=262144, rope_scaling={
            "type": "longrope", "short_factor": [1.0] * half_head, "long_factor": [1.5] * half_head})
    config.update(overrides)
    return config


def build_tiny_model(*, long_context: bool = False, seed: int = 0) -> Any:
    """A randomly initialised tiny ``Phi3ForCausalLM`` (transformers' own class)."""
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    config = tiny_config(long_context=long_context)
    for key in ("model_type", "architectures"):
        config.pop(key)
    torch.manual_seed(seed)
    return Phi3ForCausalLM(Phi3Config(**config))


def save_tiny_model(directory: Path, *, long_context: bool = False) -> Path:
    """A model directory (config, safetensors weights, tokenizer without a chat template)."""
    from framework_phi3.tokenizer import build_tokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    build_tiny_model(long_context=long_context).save_pretrained(directory, safe_serialization=True)
    build_tokenizer().save_pretrained(directory)
    return directory
