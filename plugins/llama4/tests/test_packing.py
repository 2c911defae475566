"""Padding-free packing on Llama 4's chunked-attention and NoPE layers: packed logits equal separate runs.

transformers 5 applies the attention chunks to each packed sample's own positions
(``remap_positions_for_packed_sequence`` in ``create_chunked_causal_mask``), so a sample that
starts mid-chunk in the packed row still gets chunks counted from its own start. The NoPE
layers' temperature tuning is computed from the row position: exact while the row is shorter
than ``floor_scale`` (8192 in every release), shown here to break when it is not.
"""

from __future__ import annotations

from typing import Any

import pytest


def _model(tiny_text_config: Any, **overrides: Any) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = tiny_text_config(vocab_size=512, bos_token_id=1, eos_token_id=2, pad_token_id=0, **overrides)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(config.pop("model_type"), **config)).eval()
    assert model.config.layer_types == ["chunked_attention", "full_attention"]  # RoPE+chunks, then NoPE
    return model


def _runs(model: Any, attn: str) -> tuple[Any, Any, Any]:
    import torch

    model.set_attn_implementation(attn)
    first, second = torch.randint(0, 512, (1, 11)), torch.randint(0, 512, (1, 13))  # 11: the second starts mid-chunk
    packed = torch.cat([first, second], dim=1)
    positions = torch.cat([torch.arange(11), torch.arange(13)]).unsqueeze(0)
    with torch.no_grad():
        together = model(packed, position_ids=positions, attention_mask=None, use_cache=False).logits
        apart = torch.cat([model(first, use_cache=False).logits, model(second, use_cache=False).logits], dim=1)
        leaked = model(packed, use_cache=False).logits
    return together, apart, leaked


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_rows_equal_separate_samples(attn: str, tiny_text_config: Any) -> None:
    import torch

    together, apart, leaked = _runs(_model(tiny_text_config), attn)
    assert torch.allclose(together, apart, atol=1e-5)
    assert not torch.allclose(leaked[:, 11:], apart[:, 11:], atol=1e-4)  # one long sequence would leak


def test_temperature_tuning_past_floor_scale_is_positional(tiny_text_config: Any) -> None:
    """Why the plugin warns for rows of floor_scale tokens or more: with floor_scale 4 the packed run differs."""
    import torch

    together, apart, _ = _runs(_model(tiny_text_config, floor_scale=4, attn_scale=0.5), "sdpa")
    assert torch.allclose(together[:, :11], apart[:, :11], atol=1e-5)
    assert not torch.allclose(together[:, 11:], apart[:, 11:], atol=1e-4)
