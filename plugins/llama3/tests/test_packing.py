"""Padding-free packing is exact for the Llama architecture (load settings say it is supported).

transformers 5 builds the block-diagonal mask from restarted ``position_ids`` when the attention
mask is None and no KV cache is in use (``masking_utils._preprocess_mask_arguments``); the core's
training forward passes ``use_cache=False``.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_row_equals_separate_samples(attn: str, tiny_config: Any) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(**tiny_config(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=2))
    model = LlamaForCausalLM(config).eval()
    model.set_attn_implementation(attn)
    first, second = torch.randint(0, 512, (1, 7)), torch.randint(0, 512, (1, 11))
    packed = torch.cat([first, second], dim=1)
    positions = torch.cat([torch.arange(7), torch.arange(11)]).unsqueeze(0)
    with torch.no_grad():
        # transformers derives per-sample blocks from restarted position_ids only without a KV cache
        together = model(packed, position_ids=positions, attention_mask=None, use_cache=False).logits
        apart = torch.cat([model(first).logits, model(second).logits], dim=1)
        leaked = model(packed, use_cache=False).logits  # one long sequence: the second sample sees the first
    assert torch.allclose(together, apart, atol=1e-4)
    assert not torch.allclose(leaked[:, 7:], apart[:, 7:], atol=1e-4)
