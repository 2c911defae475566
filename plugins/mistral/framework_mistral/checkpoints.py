"""config.json facts of Mistral's published checkpoints, for planning without a download.

``framework plan --model mistralai/...`` works offline for a hub id that is neither a local
directory nor cached: the core asks every plugin's ``known_model_configs`` hook. Each entry is
a config.json dict with a ``_source`` key naming where its numbers come from: verbatim copies
(7B v0.1, NeMo), presets of projects that ship the configs (mlc-llm, maxtext, NVIDIA NeMo) and,
for the 2025-26 checkpoints whose config.json was not reachable offline, the model cards'
architecture laid out like transformers' own config classes (marked unverified). Every entry
must be claimed by ``detect.match`` with the variant its name says (tested).
"""

from __future__ import annotations

from typing import Any

SRC_7B_V01 = ("https://huggingface.co/mistralai/Mistral-7B-v0.1/blob/main/config.json (copy: shared/reference/"
              "official/configs/Mistral-7B-v0.1.config.json; families.md 3.A: identical in Mistral-7B-Instruct-v0.1)")
SRC_7B_V02 = ("https://huggingface.co/mistralai/Mistral-7B-Instruct-v0.2 (model card: 32k context, rope_theta 1e6, "
              "no sliding window); dims from ollama convert/testdata/Mistral-7B-Instruct-v0.2.json (families.md 3.A)")
SRC_7B_V03 = ("mlc-ai/mlc-llm python/mlc_llm/model/model_preset.py mistral_7b_v03 (shared/reference/official/"
              "configs/Mistral-7B-v0.3.config.json); Instruct-v0.3 shares the architecture (model card: v0.3 = "
              "v0.2 + 32768 vocab)")
SRC_NEMO = ("kevinstephano/thunder_model_blocks mistral/mistral_config.py (_name_or_path "
            "mistralai/Mistral-Nemo-Base-2407; shared/reference/official/configs/Mistral-Nemo-Base-2407.config.json)")
SRC_NEMO_INSTRUCT = (SRC_NEMO + "; Instruct-2407 max_position_embeddings 1024000 per NVIDIA NeMo "
                     "nemo/collections/llm/gpt/model/mistral.py (MistralNeMoConfig12B comment)")
SRC_MIXTRAL = ("mlc-ai/mlc-llm model_preset.py Mixtral-8x7B-v0.1 (shared/reference/official/configs/"
               "Mixtral-8x7B-v0.1.config.json); Instruct: AI-Hypercomputer/maxtext hf_model_configs.py "
               "(families.md 3.A)")

_7B = {
    "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_act": "silu",
    "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "max_position_embeddings": 32768, "rms_norm_eps": 1e-05, "initializer_range": 0.02,
    "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
}
_V01 = {**_7B, "vocab_size": 32000, "rope_theta": 10000.0, "sliding_window": 4096}
_V02 = {**_7B, "vocab_size": 32000, "rope_theta": 1000000.0, "sliding_window": None}
_V03 = {**_7B, "vocab_size": 32768, "rope_theta": 1000000.0, "sliding_window": None, "attention_dropout": 0.0}
_NEMO = {**_7B, "hidden_size": 5120, "num_hidden_layers": 40, "head_dim": 128, "vocab_size": 131072,
         "max_position_embeddings": 128000, "rope_theta": 1000000.0, "sliding_window": None, "attention_dropout": 0.0}
_MIXTRAL = {**_7B, "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "vocab_size": 32000,
            "rope_theta": 1000000.0, "sliding_window": None, "attention_dropout": 0.0, "num_local_experts": 8,
            "num_experts_per_tok": 2, "output_router_logits": False, "router_aux_loss_coef": 0.02}

KNOWN_MODEL_CONFIGS: dict[str, dict[str, Any]] = {
    "mistralai/Mistral-7B-v0.1": {**_V01, "_source": SRC_7B_V01},
    "mistralai/Mistral-7B-Instruct-v0.1": {**_V01, "_source": SRC_7B_V01},
    "mistralai/Mistral-7B-Instruct-v0.2": {**_V02, "_source": SRC_7B_V02},
    "mistralai/Mistral-7B-v0.3": {**_V03, "_source": SRC_7B_V03},
    "mistralai/Mistral-7B-Instruct-v0.3": {**_V03, "_source": SRC_7B_V03},
    "mistralai/Mistral-Nemo-Base-2407": {**_NEMO, "_source": SRC_NEMO},
    "mistralai/Mistral-Nemo-Instruct-2407": {**_NEMO, "max_position_embeddings": 1024000, "_source": SRC_NEMO_INSTRUCT},
    "mistralai/Mixtral-8x7B-v0.1": {**_MIXTRAL, "_source": SRC_MIXTRAL},
    "mistralai/Mixtral-8x7B-Instruct-v0.1": {**_MIXTRAL, "_source": SRC_MIXTRAL},
}


# The 2025-26 checkpoints. No verbatim config.json of these was reachable offline (shared reference
# SOURCES.md, section 2): the numbers are the published architecture (model cards) laid out like
# transformers' own config classes, whose defaults are modelled on these checkpoints.
TF_DEFAULTS = ("transformers 5.23 {cls} defaults "
               "(shared/reference/official/2026/configs/transformers-5.23.0-defaults/{f})")
SRC_SMALL31 = ("mistralai/Mistral-Small-3.1-24B-Instruct-2503 model card (24B, 128k context, Pixtral vision); layout "
               "and numbers = " + TF_DEFAULTS.format(cls="Mistral3Config", f="mistral3.json"))
SRC_SMALL32 = ("mistralai/Mistral-Small-3.2-24B-Instruct-2506 model card: 'a minor update of Mistral-Small-3.1' "
               "(same architecture); " + SRC_SMALL31)
SRC_MAGISTRAL = ("mistralai/Magistral-Small-2507 model card: built on Mistral Small 3.1 (text only, "
                 "MistralForCausalLM), 128k context with 40k recommended; text numbers as " +
                 TF_DEFAULTS.format(cls="Mistral3Config.text_config", f="mistral3.json") + " (unverified copy)")
SRC_MINISTRAL3 = ("mistralai/Ministral-3-14B-Reasoning-2512 model card (14B, 256k context, vision); text config "
                  "ministral3 with YaRN rope_parameters as " + TF_DEFAULTS.format(cls="Ministral3Config",
                                                                                    f="ministral3.json") +
                  "; 14B width/depth from the model card's size (unverified)")
SRC_SMALL4 = ("Mistral Small 4 (119B total, 6.5B active; shared reference families-2026.md); layout = " +
              TF_DEFAULTS.format(cls="Mistral4Config", f="mistral4.json") + " (unverified)")

_SMALL_TEXT = {"model_type": "mistral", "hidden_size": 5120, "intermediate_size": 32768, "num_hidden_layers": 40,
               "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072,
               "rope_theta": 1000000000.0, "vocab_size": 131072, "rms_norm_eps": 1e-05, "sliding_window": None,
               "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False}
_PIXTRAL = {"model_type": "pixtral", "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
            "num_attention_heads": 16, "head_dim": 64, "image_size": 1540, "patch_size": 14, "num_channels": 3}
_SMALL3 = {"architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3", "text_config": _SMALL_TEXT,
           "vision_config": _PIXTRAL, "image_token_index": 10, "spatial_merge_size": 2,
           "multimodal_projector_bias": False, "projector_hidden_act": "gelu", "torch_dtype": "bfloat16"}
_MAGISTRAL = {**_SMALL_TEXT, "architectures": ["MistralForCausalLM"], "max_position_embeddings": 40960,
              "torch_dtype": "bfloat16"}
_MINISTRAL3_TEXT = {"model_type": "ministral3", "hidden_size": 5120, "intermediate_size": 16384,
                    "num_hidden_layers": 40,
                    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 131072,
                    "max_position_embeddings": 262144, "rms_norm_eps": 1e-05, "hidden_act": "silu",
                    "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 11, "tie_word_embeddings": False,
                    "rope_parameters": {"rope_type": "yarn", "rope_theta": 1000000000.0, "factor": 16.0,
                                        "original_max_position_embeddings": 16384, "beta_fast": 32.0,
                                        "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0,
                                        "llama_4_scaling_beta": 0.1}}
_MINISTRAL3 = {**_SMALL3, "text_config": _MINISTRAL3_TEXT}
_SMALL4 = {"architectures": ["Mistral4ForCausalLM"], "model_type": "mistral4", "hidden_size": 4096,
           "intermediate_size": 12288, "moe_intermediate_size": 2048, "num_hidden_layers": 36,
           "num_attention_heads": 32, "num_key_value_heads": 32, "n_routed_experts": 128, "n_shared_experts": 1,
           "num_experts_per_tok": 4, "first_k_dense_replace": 0, "kv_lora_rank": 256, "q_lora_rank": 1024,
           "qk_nope_head_dim": 64, "qk_rope_head_dim": 64, "v_head_dim": 128, "head_dim": 128, "vocab_size": 131072,
           "max_position_embeddings": 1048576, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 11,
           "tie_word_embeddings": False, "rope_parameters": {"rope_type": "yarn", "rope_theta": 10000.0,
                                                             "factor": 128.0, "original_max_position_embeddings": 8192,
                                                             "partial_rotary_factor": 0.5, "llama_4_scaling_beta": 0.1}}

KNOWN_MODEL_CONFIGS.update({
    "mistralai/Mistral-Small-3.1-24B-Instruct-2503": {**_SMALL3, "_source": SRC_SMALL31},
    "mistralai/Mistral-Small-3.2-24B-Instruct-2506": {**_SMALL3, "_source": SRC_SMALL32},
    "mistralai/Magistral-Small-2507": {**_MAGISTRAL, "_source": SRC_MAGISTRAL},
    "mistralai/Ministral-3-14B-Reasoning-2512": {**_MINISTRAL3, "_source": SRC_MINISTRAL3},
    "mistralai/Mistral-Small-4-119B-2603": {**_SMALL4, "_source": SRC_SMALL4},
})


def known_model_configs() -> dict[str, dict[str, Any]]:
    """A fresh copy: callers may add keys without touching the table."""
    return {hub_id: dict(cfg) for hub_id, cfg in KNOWN_MODEL_CONFIGS.items()}
