"""The offline demo model: a tiny randomly initialised Llama 3 with the real Llama 3 vocabulary.

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

from framework.hookdata import DemoModel
from framework_llama3.tokenizer import build_llama3_tokenizer
from framework_llama3.vocab import BOS_ID, END_OF_TEXT_ID, EOT_ID, NATIVE_CONTEXT, VOCAB_SIZE

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


def provide(cache_dir: Path) -> DemoModel:
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
