"""The 2026 architecture (Qwen3.5, and Qwen3.6/3.8 on the same one): facts, load settings, LoRA names.

Qwen3.5 mixes Gated DeltaNet (linear attention) layers with gated full-attention layers 3:1
(``layer_types``; ``full_attention_interval`` 4), ships as a vision-language wrapper
(``Qwen3_5ForConditionalGeneration``, ``model_type`` ``qwen3_5`` / ``qwen3_5_moe`` with a
``text_config``) and has a 248,320-token vocabulary. transformers' ``AutoModelForCausalLM``
builds ``Qwen3_5ForCausalLM`` from the wrapper's config and loads only the language-model weights
(tests/test_qwen35.py shows the logits equal the wrapper's), so the vision tower is never loaded,
trained or saved, and the multi-token-prediction (MTP) weights are not part of that class either.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from framework.hookdata import Finding, HardwareFacts, LoadSettings, ModelFacts

#: model_type values of the architecture (wrappers and their text models).
TYPES = frozenset({"qwen3_5", "qwen3_5_moe", "qwen3_5_text", "qwen3_5_moe_text"})
WRAPPER_TYPES = frozenset({"qwen3_5", "qwen3_5_moe"})

#: Linear-attention projections LoRA wraps: the fused q/k/v input, the output gate input and the output.
#: ``in_proj_a`` / ``in_proj_b`` produce one decay and one write strength per value head (a few
#: dozen outputs); an adapter there steers the recurrence itself, so they are left out by default.
LINEAR_ATTENTION_TARGETS = ("in_proj_qkv", "in_proj_z", "out_proj")
LINEAR_ATTENTION_EXCLUDED = ("in_proj_a", "in_proj_b")

SLOW_KERNELS = ("without flash-linear-attention and causal-conv1d the Gated DeltaNet layers run transformers' "
                "fp32 PyTorch fallback, reported ~1.7x slower per step (1.22 vs 0.70 s/step, "
                "huggingface/transformers#48718): pip install flash-linear-attention causal-conv1d")
NO_PACKING = ("packing is off: the Gated DeltaNet layers carry their recurrent and convolution state across "
              "the whole row, and transformers' PyTorch path ignores sample boundaries (cu_seqlens/seq_idx), "
              "so packed samples would read each other (lmms-engine#167, transformers#46093; "
              "plugins/qwen/tests/test_qwen35.py measures the leak)")


def is_qwen35(facts: ModelFacts) -> bool:
    return facts.model_type in TYPES


def is_wrapper(facts: ModelFacts) -> bool:
    return facts.model_type in WRAPPER_TYPES


def _text(facts: ModelFacts) -> dict[str, Any]:
    return facts.text_config or facts.raw


def approx_parameters(facts: ModelFacts) -> int | None:
    """Language-model parameters from the config: gated attention, Gated DeltaNet, MLP or experts, embeddings."""
    text = _text(facts)
    h, layers, heads = facts.hidden_size, facts.num_hidden_layers, facts.num_attention_heads
    if not (h and layers and heads):
        return None
    head_dim = facts.effective_head_dim or h // heads
    kv = facts.num_key_value_heads or heads
    gate = 2 if text.get("attn_output_gate", True) else 1
    attention = h * heads * head_dim * gate + 2 * h * kv * head_dim + heads * head_dim * h
    k_heads, v_heads = int(text.get("linear_num_key_heads") or 16), int(text.get("linear_num_value_heads") or 32)
    k_dim, v_dim = int(text.get("linear_key_head_dim") or 128), int(text.get("linear_value_head_dim") or 128)
    key, value = k_heads * k_dim, v_heads * v_dim
    linear = h * (2 * key + value) + h * value + 2 * h * v_heads + value * h
    interval = int(text.get("full_attention_interval") or 4)
    types = text.get("layer_types") or ["full_attention" if (i + 1) % interval == 0 else "linear_attention"
                                        for i in range(layers)]
    full = sum(1 for t in types if t == "full_attention")
    if facts.num_experts:
        expert = int(text.get("moe_intermediate_size") or 0)
        shared = int(text.get("shared_expert_intermediate_size") or 0)
        mlp = 3 * h * (expert * facts.num_experts + shared) + h * facts.num_experts
    else:
        mlp = 3 * h * (facts.intermediate_size or 0)
    embeddings = (facts.vocab_size or 0) * h * (1 if facts.tie_word_embeddings else 2)
    return full * attention + (layers - full) * linear + layers * mlp + embeddings


def have_fast_kernels() -> bool:
    """flash-linear-attention (``fla``) and causal-conv1d importable: transformers then uses them."""
    return bool(importlib.util.find_spec("fla") and importlib.util.find_spec("causal_conv1d"))


def kernel_findings(device: str, have_kernels: bool) -> list[Finding]:
    """On CUDA without the linear-attention kernels, a warning with the slowdown and the install line."""
    if device != "cuda" or have_kernels:
        return []
    return [Finding(code="linear-attention-slow-path", severity="warning", message=SLOW_KERNELS,
                    source="https://github.com/huggingface/transformers/issues/48718")]


def load_settings(facts: ModelFacts, hardware: HardwareFacts) -> LoadSettings:
    """SDPA for the attention layers, no packing, language model only for the wrappers."""
    notes = [NO_PACKING, "bf16 preferred: the official checkpoints are stored in bfloat16"]
    if is_wrapper(facts):
        notes.append("vision-language wrapper: the language model (Qwen3_5ForCausalLM) is loaded and trained "
                     "alone; the vision tower is not loaded, so it stays as published and is not in the adapter")
    notes.append("multi-token-prediction (MTP) weights are not part of the causal-LM class: neither trained "
                 "nor saved")
    if hardware.device == "cuda" and not have_fast_kernels():
        notes.append(SLOW_KERNELS)
    return LoadSettings(supports_packing=False, train_language_model_only=is_wrapper(facts), notes=tuple(notes))
