"""Padding-free packing is exact for every Gemma architecture (load settings say it is supported).

transformers 5 builds the block-diagonal mask from restarted ``position_ids`` when the attention
mask is None and no KV cache is in use, for the sliding-window layers as well. The tiny models use
a sliding window of 4 tokens, shorter than both samples, so the windowed layers are exercised.
Each model runs with the attention implementation the plugin's load settings pick on CPU. Gemma 4 (SDPA:
its global layers' head_dim 512 rules out flash-attention) is checked on the text, wrapper, MoE and
unified shapes.
"""

from __future__ import annotations

from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hardware import choose_attention
from framework.hookdata import HardwareFacts
from framework_gemma import plugin

CPU = HardwareFacts(device="cpu", bf16_supported=False)


@pytest.mark.parametrize("model_type", ["gemma", "gemma2", "gemma3_text", "gemma3"])
def test_packed_row_equals_separate_samples(model_type: str, tiny_config: Any, tiny_model: Any) -> None:
    import torch

    facts = facts_from_config(tiny_config(model_type), "tiny")
    facts = facts.model_copy(update={"variant": plugin.match_model(facts).variant})
    settings = plugin.model_load_settings(facts, CPU)
    assert settings.supports_packing
    attn = choose_attention(settings, CPU)[0]
    assert attn == ("eager" if model_type == "gemma2" else "sdpa")
    model = tiny_model(model_type)
    model.set_attn_implementation(attn)
    generator = torch.Generator().manual_seed(1)
    first = torch.randint(4, 500, (1, 7), generator=generator)
    second = torch.randint(4, 500, (1, 11), generator=generator)
    packed = torch.cat([first, second], dim=1)
    positions = torch.cat([torch.arange(7), torch.arange(11)]).unsqueeze(0)
    with torch.no_grad():
        together = model(packed, position_ids=positions, attention_mask=None, use_cache=False).logits
        apart = torch.cat([model(first).logits, model(second).logits], dim=1)
        leaked = model(packed, use_cache=False).logits  # one long sequence: the second sample sees the first
    assert torch.allclose(together, apart, atol=1e-4)
    assert not torch.allclose(leaked[:, 7:], apart[:, 7:], atol=1e-4)


def test_gemma2_eager_soft_caps(tiny_model: Any) -> None:
    """The eager kernel the plugin picks for Gemma 2 applies the soft-cap (|attention logits| < 50)."""
    import torch

    model = tiny_model("gemma2", final_logit_softcapping=0.5)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        logits = model(torch.arange(4, 12).unsqueeze(0)).logits
    assert logits.abs().max() < 0.5


@pytest.mark.parametrize("kind", ["text", "wrapper", "moe", "unified"])
def test_gemma4_packed_rows_equal_separate_samples(kind: str, tiny_gemma4: Any, tiny_gemma4_config: Any,
                                                   claimed: Any) -> None:
    import torch

    facts = claimed(tiny_gemma4_config(kind), "tiny")
    settings = plugin.model_load_settings(facts, CPU)
    assert settings.supports_packing
    attention = choose_attention(settings, CPU)[0]
    assert attention == "sdpa"
    model = tiny_gemma4(kind)
    model.set_attn_implementation(attention)
    generator = torch.Generator().manual_seed(2)
    first, second = torch.randint(5, 1000, (1, 9), generator=generator), torch.randint(5, 1000, (1, 7),
                                                                                       generator=generator)
    positions = torch.cat([torch.arange(9), torch.arange(7)]).unsqueeze(0)
    with torch.no_grad():
        together = model(torch.cat([first, second], 1), position_ids=positions, use_cache=False).logits
        apart = torch.cat([model(first, use_cache=False).logits, model(second, use_cache=False).logits], 1)
        leaked = model(torch.cat([first, second], 1), use_cache=False).logits
    assert torch.allclose(together, apart, atol=1e-4)
    assert not torch.allclose(leaked[:, 9:], apart[:, 9:], atol=1e-4)  # without boundaries it would leak
