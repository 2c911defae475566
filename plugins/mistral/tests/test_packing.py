"""Padding-free packing: two samples in one row give the logits they give alone.

Checked with restarted position_ids, no attention mask and no KV cache, on a sliding-window
model whose window (8) is shorter than the samples, under SDPA and eager, and on Mixtral.
"""

from __future__ import annotations

import pytest

from framework.facts import facts_from_config
from framework.hookdata import HardwareFacts
from framework_mistral import plugin

CPU = HardwareFacts(device="cpu", bf16_supported=True)


def packed_vs_separate(model, first, second):
    import torch

    with torch.no_grad():
        alone = torch.cat([model(input_ids=first[None]).logits[0], model(input_ids=second[None]).logits[0]])
        positions = torch.cat([torch.arange(len(first)), torch.arange(len(second))])[None]
        packed = model(input_ids=torch.cat([first, second])[None], position_ids=positions, use_cache=False).logits[0]
    return (alone - packed).abs().max().item()


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("window", [None, 8])
def test_packed_equals_separate_for_mistral(tiny, attn, window):
    import torch
    from transformers import MistralForCausalLM

    torch.manual_seed(0)
    config = tiny.mistral(sliding_window=window, attn_implementation=attn)
    assert plugin.model_load_settings(facts_from_config(config.to_dict(), "tiny"), CPU).supports_packing
    model = MistralForCausalLM(config).eval()
    assert packed_vs_separate(model, torch.randint(0, 64, (20,)), torch.randint(0, 64, (13,))) < 1e-4


def test_packed_equals_separate_for_mixtral(tiny):
    import torch
    from transformers import MixtralForCausalLM

    torch.manual_seed(0)
    model = MixtralForCausalLM(tiny.mixtral(attn_implementation="sdpa")).eval()
    assert packed_vs_separate(model, torch.randint(0, 64, (20,)), torch.randint(0, 64, (13,))) < 1e-4


def test_a_kv_cache_in_the_forward_breaks_packing(tiny):
    """The condition in the load-settings note: transformers skips packed masking when a cache exists."""
    import torch
    from transformers import MistralForCausalLM

    torch.manual_seed(0)
    model = MistralForCausalLM(tiny.mistral(attn_implementation="sdpa")).eval()
    first, second = torch.randint(0, 64, (20,)), torch.randint(0, 64, (13,))
    with torch.no_grad():
        positions = torch.cat([torch.arange(20), torch.arange(13)])[None]
        cached = model(input_ids=torch.cat([first, second])[None], position_ids=positions, use_cache=True).logits[0]
        alone = model(input_ids=second[None]).logits[0]
    assert (cached[20:] - alone).abs().max().item() > 1e-3
