"""config.json facts of Meta's published Llama 4 checkpoints, for planning without a download.

Scout (16 routed experts in every layer, ``llama3`` RoPE scaling to 10,485,760 positions) and
Maverick (128 experts in every second layer, plain RoPE to 1,048,576 positions) ship as
multimodal ``Llama4ForConditionalGeneration`` wrappers whose ``text_config`` is the language
model the plugin trains; Instruct and base repositories carry the same config.json. The Hub
files are gated, so ``framework plan --model meta-llama/Llama-4-...`` sizes memory and picks
defaults from these copies, each naming where its numbers come from.
"""

from __future__ import annotations

from typing import Any

# ── sources ───────────────────────────────────────────────────────────────────────────────
TRTLLM_MAVERICK = ("https://github.com/NVIDIA/TensorRT-LLM/blob/main/tests/unittest/_torch/modeling/"
                   "test_modeling_llama_min_latency.py (LLAMA_4_MAVERICK_TWO_LAYER_CONFIG: Maverick's config.json "
                   "with num_hidden_layers cut from 48 to 2; restored here)")
NEURON_SCOUT = ("https://github.com/aws-neuron/neuronx-distributed-inference test mock LLAMA4_SCOUT_MINIMAL_MOCK_CONFIG "
                "(Scout's text and vision facts) and third-party copies of Scout's rope_scaling (llama3, factor 16, "
                "low/high 1.0, original 8192); shared facts as in Maverick's file")

_TEXT = {
    "model_type": "llama4_text", "attention_bias": False, "attention_chunk_size": 8192, "attention_dropout": 0.0,
    "bos_token_id": 200000, "eos_token_id": [200001, 200007, 200008], "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 5120, "initializer_range": 0.02, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
    "num_attention_heads": 40, "num_experts_per_tok": 1, "num_hidden_layers": 48, "num_key_value_heads": 8,
    "output_router_logits": False, "pad_token_id": 200018, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "router_aux_loss_coef": 0.001, "router_jitter_noise": 0.0, "use_cache": True, "vocab_size": 202048,
}
_VISION = {
    "model_type": "llama4_vision_model", "attention_dropout": 0.0, "hidden_act": "gelu", "hidden_size": 1408,
    "image_size": 336, "initializer_range": 0.02, "intermediate_size": 5632, "multi_modal_projector_bias": False,
    "norm_eps": 1e-05, "num_attention_heads": 16, "num_channels": 3, "num_hidden_layers": 34, "patch_size": 14,
    "pixel_shuffle_ratio": 0.5, "projector_dropout": 0.0, "projector_input_dim": 4096, "projector_output_dim": 4096,
    "rope_theta": 10000, "vision_feature_layer": -1, "vision_feature_select_strategy": "default",
    "vision_output_dim": 4096,
}
SCOUT_TEXT = {**_TEXT, "interleave_moe_layer_step": 1, "max_position_embeddings": 10485760, "num_local_experts": 16,
              "rope_scaling": {"factor": 16.0, "high_freq_factor": 1.0, "low_freq_factor": 1.0,
                               "original_max_position_embeddings": 8192, "rope_type": "llama3"},
              "use_qk_norm": True}
MAVERICK_TEXT = {**_TEXT, "interleave_moe_layer_step": 2, "max_position_embeddings": 1048576,
                 "num_local_experts": 128, "rope_scaling": None, "use_qk_norm": False}


def _wrapper(text: dict[str, Any], source: str) -> dict[str, Any]:
    return {"architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4", "boi_token_index": 200080,
            "eoi_token_index": 200081, "image_token_index": 200092, "tie_word_embeddings": False,
            "torch_dtype": "bfloat16", "text_config": dict(text), "vision_config": dict(_VISION), "_source": source}


def known_model_configs() -> dict[str, dict[str, Any]]:
    """Scout and Maverick, Instruct and base (same config.json), for ``framework plan`` offline."""
    table = {}
    for size, text, source in (("Scout-17B-16E", SCOUT_TEXT, NEURON_SCOUT),
                               ("Maverick-17B-128E", MAVERICK_TEXT, TRTLLM_MAVERICK)):
        for suffix in ("-Instruct", ""):
            table[f"meta-llama/Llama-4-{size}{suffix}"] = _wrapper(text, source)
    return table
