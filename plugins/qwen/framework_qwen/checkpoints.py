"""config.json facts of Qwen's published checkpoints, for ``framework plan`` without a download.

``known_model_configs()`` answers the ``known_model_configs`` hook: Hub id -> the config.json keys the
planner and ``detect.match`` read, each entry with ``_source``. Where an official config.json copy
exists (``shared/reference/official/configs``, the copies under ``tests/oracles``) the values are
its own and ``plugins/qwen/tests/test_checkpoints.py`` compares them; else AI-Hypercomputer/maxtext's
hand-written copies of the Hub configs, THUDM/slime's Megatron arguments (Qwen3.5-27B, 397B-A17B,
Qwen3-30B-A3B) or secondary copies, each named in its ``_source`` with what was not verified.
"""

from __future__ import annotations

from typing import Any

_OFFICIAL = "shared/reference/official/configs/"
_MAXT = ("AI-Hypercomputer/maxtext src/maxtext/checkpoint_conversion/utils/hf_model_configs.py "
         "(hand-written copy of the Hub config.json)")
_SECONDARY = "config.json values as copied in independent secondary sources (file index); not fetched verbatim"
_BASE_NOTE = ("; base checkpoint: Instruct shapes with eos 151643 (<|endoftext|>, families.md §2.A), "
              "max_position_embeddings of the base checkpoint not verified")

# hidden, intermediate, layers, heads, kv heads, vocab, tied, sliding_window, max_window_layers (None:
# not in the source), source
_QWEN25: dict[str, tuple[int, int, int, int, int, int, bool, int | None, int | None, str]] = {
    "0.5B": (896, 4864, 24, 14, 2, 151936, True, 32768, 24, _OFFICIAL + "Qwen2.5-0.5B.config.json"),
    "1.5B": (1536, 8960, 28, 12, 2, 151936, True, None, None, _MAXT + " qwen25_1_5b_config"),
    "3B": (2048, 11008, 36, 16, 2, 151936, True, 32768, 70, _OFFICIAL + "Qwen2.5-3B-Instruct.config.json"),
    "7B": (3584, 18944, 28, 28, 4, 152064, False, 131072, 28, _OFFICIAL + "Qwen2.5-7B-Instruct.config.json"),
    "14B": (5120, 13824, 48, 40, 8, 152064, False, None, None, _MAXT + " qwen25_14b_config"),
    "32B": (5120, 27648, 64, 40, 8, 152064, False, None, None, _SECONDARY),
    "72B": (8192, 29568, 80, 64, 8, 152064, False, None, None, _SECONDARY),
}

# hidden, intermediate, layers, heads, kv heads, tied, source (head_dim 128, vocab 151936 for all)
_QWEN3: dict[str, tuple[int, int, int, int, int, bool, str]] = {
    "0.6B": (1024, 3072, 28, 16, 8, True, _OFFICIAL + "Qwen3-0.6B.config.json"),
    "1.7B": (2048, 6144, 28, 16, 8, True, _OFFICIAL + "Qwen3-1.7B.config.json"),
    "4B": (2560, 9728, 36, 32, 8, True, _MAXT + " qwen3_4b_config"),
    "8B": (4096, 12288, 36, 32, 8, False, _MAXT + " qwen3_8b_config"),
    "14B": (5120, 17408, 40, 40, 8, False, _MAXT + " qwen3_14b_config"),
    "32B": (5120, 25600, 64, 64, 8, False, _MAXT + " qwen3_32b_config"),
}

# Qwen-7B-Chat, Aug-2023 revision (remote-code keys), verbatim in the official configs folder.
_QWEN_V1_7B: dict[str, Any] = {
    "architectures": ["QWenLMHeadModel"], "model_type": "qwen",
    "auto_map": {"AutoConfig": "configuration_qwen.QWenConfig",
                 "AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel"},
    "n_embd": 4096, "ffn_hidden_size": 22016, "n_layer": 32, "n_head": 32, "kv_channels": 128,
    "padded_vocab_size": 151936, "vocab_size": 151936, "seq_length": 2048, "n_positions": 6144,
    "rotary_emb_base": 10000, "rotary_pct": 1.0, "use_dynamic_ntk": True, "use_logn_attn": True,
    "no_bias": True, "layer_norm_epsilon": 1e-06, "bos_token_id": 151643, "eos_token_id": 151643,
    "tie_word_embeddings": False, "params_dtype": "torch.bfloat16",
}


def _qwen25_config(shape: tuple[Any, ...], instruct: bool) -> dict[str, Any]:
    hidden, inter, layers, heads, kv, vocab, tied, window, window_layers, source = shape
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "vocab_size": vocab, "tie_word_embeddings": tied,
        "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06,
        "hidden_act": "silu", "use_sliding_window": False, "bos_token_id": 151643,
        "eos_token_id": 151645 if instruct else 151643, "torch_dtype": "bfloat16",
        "_source": source if instruct else source + _BASE_NOTE,
    }
    if window is not None:
        config.update(sliding_window=window, max_window_layers=window_layers)
    return config


def _qwen3_config(shape: tuple[Any, ...]) -> dict[str, Any]:
    hidden, inter, layers, heads, kv, tied, source = shape
    return {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": hidden,
        "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv, "head_dim": 128, "vocab_size": 151936, "tie_word_embeddings": tied,
        "max_position_embeddings": 40960, "rope_theta": 1000000, "rms_norm_eps": 1e-06,
        "hidden_act": "silu", "attention_bias": False, "sliding_window": None, "use_sliding_window": False,
        "bos_token_id": 151643, "eos_token_id": 151645, "torch_dtype": "bfloat16", "_source": source,
    }


def known_model_configs() -> dict[str, dict[str, Any]]:
    """Hub id -> config.json of Qwen2.5 (base and Instruct), Qwen3 (+2507, 30B-A3B), Qwen-7B(-Chat) and
    Qwen3.5/3.6, each with ``_source``."""
    table: dict[str, dict[str, Any]] = {}
    for size, shape in _QWEN25.items():
        table[f"Qwen/Qwen2.5-{size}"] = _qwen25_config(shape, instruct=False)
        table[f"Qwen/Qwen2.5-{size}-Instruct"] = _qwen25_config(shape, instruct=True)
    for size, shape3 in _QWEN3.items():
        table[f"Qwen/Qwen3-{size}"] = _qwen3_config(shape3)
    v1_source = _OFFICIAL + "Qwen-7B-Chat.config.json (undefdev/Qwen-7B-Chat mirror of the Aug-2023 revision)"
    table["Qwen/Qwen-7B-Chat"] = {**_QWEN_V1_7B, "_source": v1_source}
    table["Qwen/Qwen-7B"] = {**_QWEN_V1_7B, "_source": v1_source + "; the base checkpoint shares the architecture"}
    table["Qwen/Qwen3-4B-Instruct-2507"] = {
        **_qwen3_config(_QWEN3["4B"]), "max_position_embeddings": 262144, "rope_theta": 5000000,
        "_source": _MAXT + " qwen3_4b_config (the 2507 release keeps the Qwen3-4B shapes); max_position_embeddings "
        "262144 (256K native context, model card) and rope_theta 5e6 as remembered from the published config, "
        "not verified"}
    table["Qwen/Qwen3-30B-A3B"] = {
        **_qwen3_config((2048, 6144, 48, 32, 4, False, "")),
        "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "num_experts": 128,
        "num_experts_per_tok": 8, "moe_intermediate_size": 768, "decoder_sparse_step": 1, "mlp_only_layers": [],
        "norm_topk_prob": True, "router_aux_loss_coef": 0.001,
        "_source": "zyzshishui/slime scripts/models/qwen3-30B-A3B.sh (Megatron arguments converted from the "
        "published config.json: 48 layers, hidden 2048, 32 heads / 4 KV groups of 128, 128 experts of 768, top-8, "
        "vocab 151936, untied, rope base 1e6); context 40960 and router_aux_loss_coef 0.001 as in the Qwen3 "
        "family's configs, not verified for this checkpoint"}
    table.update(_qwen35_configs())
    return table


# Qwen3.5 / 3.6 (vision-language wrappers around a Gated DeltaNet + gated-attention language model)

_OFFICIAL_08B = "shared/reference/official/2026/configs/Qwen-Qwen3.5-0.8B.json (Hub config.json, third-party capture)"
_SLIME = "THUDM/slime scripts/models/{} (Megatron arguments of the checkpoint: layers, widths, heads, experts)"
_DEFAULT_LINEAR = "; linear-attention heads not in the source: transformers' qwen3_5 class defaults (16 key, 32 value)"


def _layer_types(layers: int) -> list[str]:
    return ["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(layers)]


def _text_config(model_type: str, hidden: int, layers: int, heads: int, kv: int, inter: int, tied: bool,
                 **extra: Any) -> dict[str, Any]:
    return {
        "model_type": f"{model_type}_text", "hidden_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": 256, "intermediate_size": inter,
        "vocab_size": 248320, "tie_word_embeddings": tied, "layer_types": _layer_types(layers),
        "full_attention_interval": 4, "attn_output_gate": True, "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_num_key_heads": 16,
        "linear_num_value_heads": 32, "max_position_embeddings": 262144, "rms_norm_eps": 1e-06,
        "eos_token_id": 248044, "mtp_num_hidden_layers": 1,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000000, "partial_rotary_factor": 0.25,
                            "mrope_interleaved": True, "mrope_section": [11, 11, 10]},
        **extra,
    }


def _wrapper(model_type: str, text: dict[str, Any], source: str) -> dict[str, Any]:
    cls = "Qwen3_5MoeForConditionalGeneration" if model_type == "qwen3_5_moe" else "Qwen3_5ForConditionalGeneration"
    return {"architectures": [cls], "model_type": model_type, "text_config": text,
            "tie_word_embeddings": text["tie_word_embeddings"], "image_token_id": 248056,
            "video_token_id": 248057, "vision_start_token_id": 248053, "vision_end_token_id": 248054,
            "_source": source}


def _qwen35_configs() -> dict[str, dict[str, Any]]:
    """Hub id -> config.json of the named Qwen3.5 / 3.6 checkpoints (language-model facts)."""
    small = _text_config("qwen3_5", 1024, 24, 8, 2, 3584, True, linear_num_key_heads=16, linear_num_value_heads=16)
    nine = _text_config("qwen3_5", 4096, 32, 16, 4, 12288, False)
    big = _text_config("qwen3_5", 5120, 64, 24, 4, 17408, False)
    moe = _text_config("qwen3_5_moe", 4096, 60, 32, 2, 1024, False, num_experts=512, num_experts_per_tok=10,
                       moe_intermediate_size=1024, shared_expert_intermediate_size=1024)
    return {
        "Qwen/Qwen3.5-0.8B": _wrapper("qwen3_5", small, _OFFICIAL_08B),
        "Qwen/Qwen3.5-9B": _wrapper("qwen3_5", nine, "shared/reference/official/2026/SOURCES.md key facts (hidden "
                                    "4096, 32 layers, 16/4 heads, head_dim 256, linear heads 16 key / 32 value, "
                                    "intermediate 12288, vocab 248320, rope_theta 1e7, partial rotary 0.25; several "
                                    "third-party snippets agree); untied embeddings assumed (the 27B and 397B are untied), not verified"),
        "Qwen/Qwen3.5-27B": _wrapper("qwen3_5", big, _SLIME.format("qwen3.5-27B.sh") + _DEFAULT_LINEAR),
        "Qwen/Qwen3.6-27B": _wrapper("qwen3_5", big, _SLIME.format("qwen3.5-27B.sh") + _DEFAULT_LINEAR
                                     + "; Qwen3.6 keeps the Qwen3.5 architecture (newer template, families-2026.md)"),
        "Qwen/Qwen3.5-397B-A17B": _wrapper("qwen3_5_moe", moe, _SLIME.format("qwen3.5-397B-A17B.sh")
                                           + _DEFAULT_LINEAR),
    }
