"""config.json facts of Google's published Gemma checkpoints, for planning without a download.

Each entry names where its numbers come from. Base (``-pt`` / no suffix) and instruct (``-it``)
checkpoints share the architecture; they differ in ``eos_token_id``: instruct configs list
``<end_of_turn>`` beside ``<eos>`` where Google's files do (gemma-2-2b-it [1, 107]; every Gemma 3
-it [1, 106], written by transformers' Gemma 3 converter for instruction-tuned models).
"""

from __future__ import annotations

from typing import Any

from framework_gemma.vocab import BOS_ID, END_OF_TURN_ID, EOS_ID, GEMMA4_IDS, PAD_ID, VOCAB_GEMMA_1_2, VOCAB_GEMMA_4

G4_TURN_CLOSE_ID = GEMMA4_IDS["<turn|>"]

MLC = "https://github.com/mlc-ai/mlc-llm/blob/main/python/mlc_llm/model/model_preset.py"
THU = "https://github.com/kevinstephano/thunder_model_blocks/blob/main/thunder_model_blocks/gemma2/gemma2_config.py"
TF_GEMMA_CONVERTER = ("https://github.com/huggingface/transformers/blob/main/src/transformers/models/gemma/"
                      "convert_gemma_weights_to_hf.py")
TF_GEMMA_CONFIG = ("https://github.com/huggingface/transformers/blob/main/src/transformers/models/gemma/"
                   "configuration_gemma.py (defaults: the gemma-7b configuration)")
TF_GEMMA3_CONVERTER = ("https://github.com/huggingface/transformers/blob/main/src/transformers/models/gemma3/"
                       "convert_gemma3_weights_orbax_to_hf.py (_VARIANTS, _VISION_CONFIG)")
TF_GEMMA3_CONFIG = ("https://github.com/huggingface/transformers/blob/main/src/transformers/models/gemma3/"
                    "configuration_gemma3.py (max_position_embeddings 131072 default)")

#: hub id stem -> (hidden, intermediate, layers, heads, kv heads, head_dim, hidden_act, source)
GEMMA_1: dict[str, tuple[int, int, int, int, int, int, str, str]] = {
    "gemma-2b": (2048, 16384, 18, 8, 1, 256, "gelu", f"{MLC} (gemma_2b); ollama convert/testdata/gemma-2b-it.json"),
    "gemma-7b": (3072, 24576, 28, 16, 16, 256, "gelu_pytorch_tanh",
                 f"{TF_GEMMA_CONFIG}; {TF_GEMMA_CONVERTER} (gemma_7b_config)"),
}
#: hub id stem -> (hidden, intermediate, layers, heads, kv heads, head_dim, query_pre_attn_scalar, source)
GEMMA_2: dict[str, tuple[int, int, int, int, int, int, int, str]] = {
    "gemma-2-2b": (2304, 9216, 26, 8, 4, 256, 256, f"{MLC} (gemma2_2b, the gemma-2-2b-it config.json)"),
    "gemma-2-9b": (3584, 14336, 42, 16, 8, 256, 256, f"{THU} (google/gemma-2-9b-it config.json); {MLC} (gemma2_9b)"),
    "gemma-2-27b": (4608, 36864, 46, 32, 16, 128, 144, f"{MLC} (gemma2_27b)"),
}
#: hub id stem -> (hidden, intermediate, layers, heads, kv heads, head_dim, query_pre_attn_scalar, source)
GEMMA_3: dict[str, tuple[int, int, int, int, int, int, int, str]] = {
    "gemma-3-1b": (1152, 6912, 26, 4, 1, 256, 256, f"{MLC} (gemma3_1b_it); {TF_GEMMA3_CONVERTER}"),
    "gemma-3-4b": (2560, 10240, 34, 8, 4, 256, 256, f"{TF_GEMMA3_CONVERTER}; {TF_GEMMA3_CONFIG}"),
    "gemma-3-12b": (3840, 15360, 48, 16, 8, 256, 256, f"{TF_GEMMA3_CONVERTER}; {TF_GEMMA3_CONFIG}"),
    "gemma-3-27b": (5376, 21504, 62, 32, 16, 128, 168, f"{TF_GEMMA3_CONVERTER}; {TF_GEMMA3_CONFIG}"),
}
#: SigLIP so400m vision tower of the multimodal Gemma 3 checkpoints (TF_GEMMA3_CONVERTER _VISION_CONFIG).
VISION_CONFIG: dict[str, Any] = {
    "model_type": "siglip_vision_model", "hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27,
    "num_attention_heads": 16, "num_channels": 3, "image_size": 896, "patch_size": 14,
    "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-06, "attention_dropout": 0.0, "vision_use_head": False,
}


def _shape(hidden: int, inter: int, layers: int, heads: int, kv: int, head_dim: int) -> dict[str, Any]:
    return {"hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": head_dim}


def _common() -> dict[str, Any]:
    return {"attention_bias": False, "attention_dropout": 0.0, "initializer_range": 0.02, "rms_norm_eps": 1e-06,
            "bos_token_id": BOS_ID, "pad_token_id": PAD_ID, "torch_dtype": "bfloat16", "use_cache": True}


def _gemma_1(stem: str) -> dict[str, Any]:
    """Gemma 1 base and -it configs are identical (eos 1 in both: ollama's gemma-2b-it dump)."""
    *shape, act, source = GEMMA_1[stem]
    return {"architectures": ["GemmaForCausalLM"], "model_type": "gemma", **_common(), **_shape(*shape),
            "eos_token_id": EOS_ID, "hidden_act": act, "max_position_embeddings": 8192, "rope_scaling": None,
            "rope_theta": 10000.0, "vocab_size": VOCAB_GEMMA_1_2, "_source": source}


def _gemma_2(stem: str, instruct: bool) -> dict[str, Any]:
    *shape, scalar, source = GEMMA_2[stem]
    # Only gemma-2-2b-it's config lists <end_of_turn>; the 9b/27b -it configs keep eos 1 (THU, MLC).
    eos: int | list[int] = [EOS_ID, END_OF_TURN_ID["2"]] if instruct and stem == "gemma-2-2b" else EOS_ID
    return {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", **_common(), **_shape(*shape),
            "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "cache_implementation": "hybrid",
            "eos_token_id": eos, "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh",
            "max_position_embeddings": 8192, "query_pre_attn_scalar": scalar, "rope_theta": 10000.0,
            "sliding_window": 4096, "vocab_size": VOCAB_GEMMA_1_2, "_source": source}


def _gemma_3_text(stem: str) -> dict[str, Any]:
    *shape, scalar, _ = GEMMA_3[stem]
    small = stem == "gemma-3-1b"
    return {"model_type": "gemma3_text", **_common(), **_shape(*shape), "attn_logit_softcapping": None,
            "final_logit_softcapping": None, "hidden_activation": "gelu_pytorch_tanh",
            "max_position_embeddings": 32768 if small else 131072, "query_pre_attn_scalar": scalar,
            "rope_local_base_freq": 10000.0, "rope_scaling": None if small else {"rope_type": "linear", "factor": 8.0},
            "rope_theta": 1000000.0, "sliding_window": 512 if small else 1024, "sliding_window_pattern": 6,
            "vocab_size": 262144 if small else 262208}


def _gemma_3(stem: str, instruct: bool) -> dict[str, Any]:
    eos: int | list[int] = [EOS_ID, END_OF_TURN_ID["3"]] if instruct else EOS_ID
    text = _gemma_3_text(stem)
    source = GEMMA_3[stem][-1]
    if stem == "gemma-3-1b":
        return {**text, "architectures": ["Gemma3ForCausalLM"], "cache_implementation": "hybrid",
                "eos_token_id": eos, "_source": source}
    return {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
            "text_config": {**text, "eos_token_id": eos}, "vision_config": dict(VISION_CONFIG),
            "mm_tokens_per_image": 256, "boi_token_index": 255999, "eoi_token_index": 256000,
            "image_token_index": 262144, "initializer_range": 0.02, "bos_token_id": BOS_ID, "pad_token_id": PAD_ID,
            "eos_token_id": eos, "torch_dtype": "bfloat16", "_source": source}


def known_model_configs() -> dict[str, dict[str, Any]]:
    """Hub id -> config.json for every published Gemma 1/2/3 size, base and instruct, and the Gemma 4 -it models."""
    out: dict[str, dict[str, Any]] = known_gemma_4_configs()
    for stem in GEMMA_1:
        out[f"google/{stem}"] = _gemma_1(stem)
        out[f"google/{stem}-it"] = _gemma_1(stem)
    for stem in GEMMA_2:
        out[f"google/{stem}"] = _gemma_2(stem, False)
        out[f"google/{stem}-it"] = _gemma_2(stem, True)
    for stem in GEMMA_3:
        out[f"google/{stem}-pt"] = _gemma_3(stem, False)
        out[f"google/{stem}-it"] = _gemma_3(stem, True)
    return out


# ── Gemma 4 ───────────────────────────────────────────────────────────────────────────────

#: Where the Gemma 4 numbers come from: no verbatim config.json of a Gemma 4 checkpoint was found
#: (oracles/2026/SOURCES), so each entry names the independent third-party copies that agree on it.
G4_SOURCES = {
    "E2B": ("oracles/2026/SOURCES key facts of gemma-4-E2B (several snippets); rasbt/LLMs-from-scratch "
            "ch05/17_gemma4 get_gemma4_dense_config('E2B') (loads google/gemma-4-E2B-it weights)"),
    "E4B": ("rasbt/LLMs-from-scratch ch05/17_gemma4 get_gemma4_dense_config('E4B'); Go and Swift loader tests "
            "quoting the google/gemma-4-E4B-it text_config (hidden 2560, 42 layers, 18 KV-shared layers)"),
    "26B-A4B": ("Rust and Go loader tests quoting the google/gemma-4-26B-A4B-it text_config; "
                "https://github.com/anthony-chaudhary/fak/issues/5494 (its config.json: 128 experts, top 8, "
                "moe_intermediate_size 704); https://github.com/NVIDIA-NeMo/Automodel/pull/3079 (2816 hidden, "
                "30 layers, intermediate 2112); transformers configuration_gemma4.py (num_global_key_value_heads=2)"),
    "31B": ("oracles/2026/SOURCES key facts of gemma-4-31B (hidden 5376, 60 layers, 32/16 heads, 4 global KV "
            "heads, intermediate 21504, sliding 1024, attention_k_eq_v, max_pos 262144); loader tests quoting the "
            "google/gemma-4-31B-it text_config"),
}
#: size -> (hidden, intermediate, layers, heads, kv heads, global kv heads, sliding window, layers per full layer,
#:          per-layer input width, kv-shared layers, double-wide MLP, k_eq_v, max positions)
G4_SHAPES: dict[str, tuple[int, int, int, int, int, int | None, int, int, int, int, bool, bool, int]] = {
    "E2B": (1536, 6144, 35, 8, 1, None, 512, 5, 256, 20, True, False, 131072),
    "E4B": (2560, 10240, 42, 8, 2, None, 512, 6, 256, 18, False, False, 131072),
    "26B-A4B": (2816, 2112, 30, 16, 8, 2, 1024, 6, 0, 0, False, True, 262144),
    "31B": (5376, 21504, 60, 32, 16, 4, 1024, 6, 0, 0, False, True, 262144),
}
#: 26B-A4B experts: (num_experts, top_k_experts, moe_intermediate_size).
G4_MOE = (128, 8, 704)


def _gemma_4_text(size: str) -> dict[str, Any]:
    (hidden, inter, layers, heads, kv, global_kv, window, period, ple, shared, wide, k_eq_v,
     positions) = G4_SHAPES[size]
    layer_types = [("full_attention" if (i + 1) % period == 0 else "sliding_attention") for i in range(layers)]
    text: dict[str, Any] = {
        "model_type": "gemma4_text", "vocab_size": VOCAB_GEMMA_4, "hidden_size": hidden, "intermediate_size": inter,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": 256,
        "global_head_dim": 512, "sliding_window": window, "layer_types": layer_types,
        "max_position_embeddings": positions, "hidden_size_per_layer_input": ple,
        "vocab_size_per_layer_input": VOCAB_GEMMA_4, "num_kv_shared_layers": shared, "use_double_wide_mlp": wide,
        "attention_k_eq_v": k_eq_v, "final_logit_softcapping": 30.0, "hidden_activation": "gelu_pytorch_tanh",
        "rms_norm_eps": 1e-06, "tie_word_embeddings": True, "bos_token_id": BOS_ID, "eos_token_id": EOS_ID,
        "pad_token_id": PAD_ID,
        "rope_parameters": {
            "full_attention": {"partial_rotary_factor": 0.25, "rope_theta": 1000000.0, "rope_type": "proportional"},
            "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"},
        },
    }
    if global_kv is not None:
        text["num_global_key_value_heads"] = global_kv
    if size == "26B-A4B":
        experts, top_k, moe_inter = G4_MOE
        text.update({"enable_moe_block": True, "num_experts": experts, "top_k_experts": top_k,
                     "moe_intermediate_size": moe_inter})
    return text


def _gemma_4(size: str) -> dict[str, Any]:
    """The multimodal wrapper of a published Gemma 4 -it checkpoint; vision/audio towers left out (not trained).

    ``eos_token_id`` [1, 106] (<eos>, <turn|>) as third parties report generation_config.json
    (oracles/2026/special_tokens.json).
    """
    return {"architectures": ["Gemma4ForConditionalGeneration"], "model_type": "gemma4",
            "text_config": _gemma_4_text(size), "vision_config": None, "audio_config": None,
            "eos_token_id": [EOS_ID, G4_TURN_CLOSE_ID], "tie_word_embeddings": True, "torch_dtype": "bfloat16",
            "_source": G4_SOURCES[size]}


def known_gemma_4_configs() -> dict[str, dict[str, Any]]:
    return {f"google/gemma-4-{size}-it": _gemma_4(size) for size in G4_SHAPES}
