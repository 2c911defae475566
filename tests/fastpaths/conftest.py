"""Shared pieces of the fast-path tests (imported as ``from .conftest import ...``)."""

from __future__ import annotations

from typing import Any

from framework.training.trainer import FrameworkTrainer


class RecordingTrainer(FrameworkTrainer):
    """Keeps the loss of every training micro-batch, unrounded, so two loss paths can be compared step by step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.losses: list[float] = []

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if model.training:
            self.losses.append(float((loss[0] if return_outputs else loss).detach()))
        return loss


ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def tiny_lora_llama(vocab: int, hidden: int, *, r: int = 4, alpha: int = 8, gaussian: bool = True,
                    targets: tuple[str, ...] = ALL_PROJECTIONS) -> Any:
    """A seeded two-layer Llama with tied embeddings (so the head is frozen under LoRA), fp32, SDPA, no
    KV cache, wrapped in LoRA: the model every loss-path test trains."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model("llama", vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                  head_dim=hidden // 4, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").float()
    model.config.use_cache = False
    init = {"init_lora_weights": "gaussian"} if gaussian else {}
    return get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(targets),
                                            **init))
