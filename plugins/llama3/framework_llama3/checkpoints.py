"""Meta's published Llama 3 checkpoints as data, and the family's own tiny offline checkpoint.

``known_model_configs()`` gives the config.json facts of every Llama 3 / 3.1 / 3.2 / 3.3 release
(``framework plan --model <hub id>`` sizes memory and picks defaults from them with no download,
the files being gated); each entry names its source: an official copy of the file where one is
public, else Meta's SKU list with the transformers converter's rules.

The offline demo model: a tiny randomly initialised Llama 3 with the real Llama 3 vocabulary.
``framework run`` with no arguments trains it, so it must build in seconds with no download
and carry the special-token setup of Meta's Llama-3-8B-Instruct repository as published
today: same vocabulary and control tokens, tokenizer eos ``<|eot_id|>``, a generation config
that stops on ``<|end_of_text|>`` and ``<|eot_id|>``, no chat template, BOS added on encode. It
also pads with ``<|reserved_special_token_0|>``, the pad the plugin itself would choose, so the
newcomer's first run shows findings about their data, not warnings about the demo's own files
(the plugin's pad and end-of-turn checks are tested on real base tokenizers elsewhere).
It is built once per cache directory, in a temporary directory renamed into place, so an
interrupted build never leaves a half-written model behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from framework.hookdata import DemoModel
from framework_llama3.tokenizer import build_llama3_tokenizer
from framework_llama3.vocab import BOS_ID, END_OF_TEXT_ID, EOM_ID, EOT_ID, NATIVE_CONTEXT, VOCAB_SIZE

# ── published checkpoints ─────────────────────────────────────────────────────────────────
TF_CONVERTER = "https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/convert_llama_weights_to_hf.py"
META_SKUS = "https://github.com/meta-llama/llama-models/blob/main/models/sku_list.py"
NOUS_COPY = "https://huggingface.co/NousResearch/Meta-Llama-3-8B/blob/main/config.json (ungated copy of Meta's file)"
THUNDER = "https://github.com/kevinstephano/thunder_model_blocks llama/llama_3_8B_Instruct_config.py (config dump)"
MLC = "https://github.com/mlc-ai/mlc-llm/blob/main/python/mlc_llm/model/model_preset.py"
DERIVED = f"{META_SKUS} (dims) + {TF_CONVERTER} (eos, rope scaling, tying)"

#: hub id -> (generation, instruct, hidden, intermediate, layers, heads, kv heads, explicit head_dim, source)
CHECKPOINTS: dict[str, tuple[str, bool, int, int, int, int, int, int | None, str]] = {
    "meta-llama/Meta-Llama-3-8B": ("3", False, 4096, 14336, 32, 32, 8, None, NOUS_COPY),
    "meta-llama/Meta-Llama-3-8B-Instruct": ("3", True, 4096, 14336, 32, 32, 8, None, THUNDER),
    "meta-llama/Meta-Llama-3-70B": ("3", False, 8192, 28672, 80, 64, 8, None, DERIVED),
    "meta-llama/Meta-Llama-3-70B-Instruct": ("3", True, 8192, 28672, 80, 64, 8, None,
                                             f"{DERIVED}; eos 128009 as in the 8B-Instruct config"),
    "meta-llama/Llama-3.1-8B": ("3.1", False, 4096, 14336, 32, 32, 8, None, DERIVED),
    "meta-llama/Llama-3.1-8B-Instruct": ("3.1", True, 4096, 14336, 32, 32, 8, None, f"{MLC} (llama3_1_8b)"),
    "meta-llama/Llama-3.1-70B": ("3.1", False, 8192, 28672, 80, 64, 8, None, DERIVED),
    "meta-llama/Llama-3.1-70B-Instruct": ("3.1", True, 8192, 28672, 80, 64, 8, None, DERIVED),
    "meta-llama/Llama-3.3-70B-Instruct": ("3.1", True, 8192, 28672, 80, 64, 8, None,
                                          f"{DERIVED}; 3.3 70B has the 3.1 70B architecture"),
    "meta-llama/Llama-3.2-1B": ("3.2", False, 2048, 8192, 16, 32, 8, 64, DERIVED),
    "meta-llama/Llama-3.2-1B-Instruct": ("3.2", True, 2048, 8192, 16, 32, 8, 64, f"{MLC} (llama3_2_1b)"),
    "meta-llama/Llama-3.2-3B": ("3.2", False, 3072, 8192, 28, 24, 8, 128, DERIVED),
    "meta-llama/Llama-3.2-3B-Instruct": ("3.2", True, 3072, 8192, 28, 24, 8, 128, f"{MLC} (llama3_2_3b)"),
}


def _eos(version: str, instruct: bool) -> int | list[int]:
    if not instruct:
        return END_OF_TEXT_ID
    return EOT_ID if version == "3" else [END_OF_TEXT_ID, EOM_ID, EOT_ID]


def _rope_scaling(version: str) -> dict[str, Any] | None:
    if version == "3":
        return None
    return {"factor": 32.0 if version == "3.2" else 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": NATIVE_CONTEXT["3"], "rope_type": "llama3"}


def known_model_configs() -> dict[str, dict[str, Any]]:
    """config.json of each published checkpoint; intermediate sizes follow the converter's
    ``multiple_of * ceil(ffn_dim_multiplier * int(8 * dim / 3) / multiple_of)`` with Meta's SKU values."""
    out: dict[str, dict[str, Any]] = {}
    for hub_id, (version, instruct, hidden, inter, layers, heads, kv, head_dim, source) in CHECKPOINTS.items():
        config: dict[str, Any] = {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
            "attention_dropout": 0.0, "hidden_act": "silu", "initializer_range": 0.02, "mlp_bias": False,
            "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "torch_dtype": "bfloat16",
            "use_cache": True, "vocab_size": VOCAB_SIZE, "bos_token_id": BOS_ID,
            "eos_token_id": _eos(version, instruct),
            "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kv,
            "max_position_embeddings": NATIVE_CONTEXT[version], "rope_scaling": _rope_scaling(version),
            "tie_word_embeddings": version == "3.2", "_source": source,
        }
        if head_dim is not None:
            config["head_dim"] = head_dim
        out[hub_id] = config
    return out


# ── the offline demo model ────────────────────────────────────────────────────────────────
DEMO_DIR = "demo-llama3-tiny-v2"  # v2: Instruct special tokens and the plugin's pad
#: Earlier builds, removed when the current one is in place (each is a 66 MB model).
OLD_DIRS = ("demo-llama3-tiny-v1",)
DEMO_NAME = "tiny Llama 3 (random weights, real Llama 3 vocabulary)"
REQUIRED_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                  "tokenizer_config.json")
SEED = 0
PAD = "<|reserved_special_token_0|>"
PAD_ID = 128_002

#: Llama 3 8B's shape scaled down: same vocabulary, RoPE base and GQA ratio, 4 tiny layers.
DEMO_CONFIG = {
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": NATIVE_CONTEXT["3"],
    "rope_theta": 500000.0,
    "tie_word_embeddings": True,
    "bos_token_id": BOS_ID,
    "eos_token_id": [END_OF_TEXT_ID, EOT_ID],  # as Meta-Llama-3-8B-Instruct's generation_config.json
    "pad_token_id": PAD_ID,
}


def _complete(path: Path) -> bool:
    return all((path / name).is_file() for name in REQUIRED_FILES)


def _build(target: Path) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging

    tokenizer = build_llama3_tokenizer("3", instruct=True)
    tokenizer.pad_token = PAD
    config = LlamaConfig(**DEMO_CONFIG)
    config.dtype = torch.float32
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config).to(torch.float32)
    bars = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # a one-shard write of 66 MB needs no progress bar in the user's output
    try:
        model.save_pretrained(target, safe_serialization=True)
    finally:
        if bars:
            logging.enable_progress_bar()
    tokenizer.save_pretrained(target)
    GenerationConfig(bos_token_id=BOS_ID, eos_token_id=[END_OF_TEXT_ID, EOT_ID], pad_token_id=PAD_ID).save_pretrained(target)


def provide_demo_model(cache_dir: Path) -> DemoModel:
    """Build the demo model under ``cache_dir`` unless a complete copy is already there."""
    final = Path(cache_dir) / DEMO_DIR
    if not _complete(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{DEMO_DIR}.", dir=final.parent))
        try:
            _build(staging)
            if final.exists() and not _complete(final):
                shutil.rmtree(final)  # an older, broken copy
            try:
                os.replace(staging, final)
            except OSError:
                if not _complete(final):  # another process won the race with a complete copy otherwise
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    for old in OLD_DIRS:
        shutil.rmtree(Path(cache_dir) / old, ignore_errors=True)
    return DemoModel(name=DEMO_NAME, path=str(final), identity_prompt=None)
