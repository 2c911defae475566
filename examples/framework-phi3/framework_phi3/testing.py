"""A stand-in Phi-3 tokenizer and tiny Phi-3 models, for tests (this plugin's and the core's).

No Phi-3 tokenizer file can be fetched offline. Phi-3 reuses Llama 2's SentencePiece layout
(32,000 pieces; <unk>, <s>, </s> at 0, 1, 2) and adds eleven chat tokens at 32000-32010. The
stand-in takes the 32,000-piece SentencePiece file that mistral-common ships (Mistral 7B
v0.1's, the same layout with other pieces) and adds Phi-3's tokens at their real ids, so
control-token ids, the tokenizer length (32,011) and the pad/eos setup are Phi-3's; the ids of
ordinary text differ from the real tokenizer's.

Needs the ``test`` extra (mistral-common, transformers, torch); the plugin never imports it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from framework_phi3.vocab import ADDED_TOKENS, BASE_VOCAB, NATIVE_CONTEXT, SLIDING_WINDOW_4K, VOCAB_SIZE


@functools.lru_cache(maxsize=1)
def build_tokenizer() -> Any:
    """A fast tokenizer with Phi-3's special tokens, ids and pad/eos setup (see the module doc)."""
    import mistral_common
    from tokenizers import AddedToken, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import SpmConverter, import_protobuf

    proto = import_protobuf().ModelProto()
    proto.ParseFromString((Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1").read_bytes())
    vocab = {piece.piece: i for i, piece in enumerate(proto.pieces)}
    assert len(vocab) == BASE_VOCAB, "expected a 32,000-piece SentencePiece model"
    backend = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=False)
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>")])
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                for t, _ in sorted(ADDED_TOKENS.items(), key=lambda item: item[1])])
    assert all(backend.token_to_id(t) == i for t, i in ADDED_TOKENS.items())
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="<|endoftext|>",
                                   unk_token="<unk>", pad_token="<|endoftext|>")


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
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    build_tiny_model(long_context=long_context).save_pretrained(directory, safe_serialization=True)
    build_tokenizer().save_pretrained(directory)
    return directory
