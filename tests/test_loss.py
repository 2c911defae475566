"""The memory-lean loss equals the model's own loss and gradients."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from framework.loss import chunked_causal_lm_loss, supports_chunked_loss


def _model(model_type: str = "llama", **extra: object) -> torch.nn.Module:
    config = AutoConfig.for_model(model_type, vocab_size=301, hidden_size=32, intermediate_size=64,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                  head_dim=8, **extra)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, attn_implementation="eager").float()


def _batch() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    ids = torch.randint(0, 301, (2, 40))
    labels = ids.clone()
    labels[:, :15] = -100
    labels[1, 30:] = -100
    return {"input_ids": ids, "labels": labels, "attention_mask": torch.ones_like(ids)}


@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_chunked_loss_matches_plain_loss_and_gradients(chunk: int) -> None:
    model = _model()
    batch = _batch()
    plain = model(**batch).loss
    plain.backward()
    plain_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    ours = chunked_causal_lm_loss(model, batch, chunk_size=chunk)
    ours.backward()
    assert torch.allclose(plain, ours, atol=1e-5)
    for a, p in zip(plain_grads, model.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-5)


def test_softcapped_logits_match() -> None:
    model = _model("gemma2", final_logit_softcapping=3.0, attn_logit_softcapping=None, sliding_window=16)
    batch = _batch()
    assert torch.allclose(model(**batch).loss, chunked_causal_lm_loss(model, batch, chunk_size=5), atol=1e-5)


def test_normaliser_across_accumulated_batches() -> None:
    model = _model()
    batch = _batch()
    n = int((batch["labels"][:, 1:] != -100).sum())
    half = chunked_causal_lm_loss(model, batch, num_items_in_batch=2 * n)
    assert torch.allclose(half * 2, chunked_causal_lm_loss(model, batch), atol=1e-6)


def test_batch_without_labels_gives_zero_with_graph() -> None:
    model = _model()
    batch = _batch()
    batch["labels"][:] = -100
    loss = chunked_causal_lm_loss(model, batch)
    loss.backward()
    assert loss.item() == 0.0


def test_peft_wrapped_model_uses_chunked_path() -> None:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(_model(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    assert supports_chunked_loss(model)
    batch = _batch()
    assert torch.allclose(model(**batch).loss, chunked_causal_lm_loss(model, batch), atol=1e-5)


def test_prompt_learning_models_use_the_plain_loss() -> None:
    from peft import PromptTuningConfig, get_peft_model

    model = get_peft_model(_model(), PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    assert not supports_chunked_loss(model)
