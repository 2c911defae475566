"""The chunked loss finds the decoder stack even where ``get_decoder()`` returns the causal LM itself."""

from __future__ import annotations

import torch
from transformers import Llama4ForCausalLM, Llama4TextConfig, LlamaConfig, LlamaForCausalLM

from framework.loss import chunked_causal_lm_loss, decoder_of, supports_chunked_loss


def _llama4_text() -> Llama4ForCausalLM:
    torch.manual_seed(0)
    config = Llama4TextConfig(vocab_size=96, hidden_size=32, intermediate_size=64, intermediate_size_mlp=64,
                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                              num_local_experts=2, num_experts_per_tok=1, interleave_moe_layer_step=1,
                              attention_chunk_size=16, max_position_embeddings=64, pad_token_id=0)
    return Llama4ForCausalLM(config).eval()


def test_a_class_whose_get_decoder_returns_itself_gets_its_model_stack() -> None:
    lm = _llama4_text()
    assert lm.get_decoder() is lm  # the library's fallback this guards against
    assert decoder_of(lm) is lm.model
    assert supports_chunked_loss(lm)


def test_the_chunked_loss_equals_the_models_own_loss_there() -> None:
    lm = _llama4_text()
    ids = torch.randint(1, 96, (2, 12))
    labels = ids.clone()
    labels[:, :4] = -100
    with torch.no_grad():
        own = lm(input_ids=ids, labels=labels).loss
        ours = chunked_causal_lm_loss(lm, {"input_ids": ids, "labels": labels}, chunk_size=8)
    assert torch.allclose(own, ours, atol=1e-5), (own, ours)


def test_an_ordinary_causal_lm_keeps_its_decoder() -> None:
    lm = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=4, num_key_value_heads=2))
    assert decoder_of(lm) is lm.model
