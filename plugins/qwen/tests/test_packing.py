"""supports_packing=True is true: two samples packed in one row (restarted position_ids, no attention
mask, SDPA) give the logits each gives alone, for every native Qwen architecture.

transformers 5 recognises packed rows from position_ids only when no cache is built (masking_utils:
``position_ids is not None and attention_mask is None and cache is None``), so the forward pass
must run with ``use_cache=False``, as the core's training forward does; with a cache the samples
attend to each other (max |logit difference| 0.21 on the tiny Qwen2 below).
"""

from __future__ import annotations

from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hookdata import HardwareFacts
from framework_qwen import plugin

CPU = HardwareFacts(device="cpu", bf16_supported=False)


@pytest.mark.parametrize("kind", ["qwen2", "qwen3", "qwen2_moe", "qwen3_moe"])
def test_packed_equals_separate(tiny_dense: Any, tiny_moe: Any, kind: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    config = tiny_dense(kind) if kind in ("qwen2", "qwen3") else tiny_moe(kind)
    facts = facts_from_config(config.to_dict(), "tiny")
    match = plugin.match_model(facts=facts)
    assert match is not None
    settings = plugin.model_load_settings(facts=facts.model_copy(update={"variant": match.variant}), hardware=CPU)
    assert settings.supports_packing and "sdpa" in settings.attn_implementations
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    first, second = torch.randint(0, 256, (1, 7)), torch.randint(0, 256, (1, 5))
    with torch.no_grad():
        alone = [model(input_ids=s, position_ids=torch.arange(s.shape[1])[None]).logits for s in (first, second)]
        packed = model(input_ids=torch.cat([first, second], dim=1), attention_mask=None, use_cache=False,
                       position_ids=torch.cat([torch.arange(7), torch.arange(5)])[None]).logits
    torch.testing.assert_close(packed[:, :7], alone[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(packed[:, 7:], alone[1], atol=1e-4, rtol=1e-4)
