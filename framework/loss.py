"""Causal-LM loss computed only where labels exist, in chunks.

The plain way computes logits for every position ([tokens x vocab], fp32 for the loss) and
then ignores most of them (prompts, padding). With 128k-256k vocabularies that tensor is the
largest allocation of a LoRA step. Here the decoder's hidden states are gathered at labelled
positions only, and the output head runs over chunks of them under activation checkpointing,
so at most one chunk of logits exists at any time, forward or backward. The loss value is the
same as the model's own (sum of token losses over the number of labelled tokens).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from framework.chat import IGNORE_INDEX


def causal_lm(model: Any) -> Any:
    """The transformers causal-LM module under any peft wrapping."""
    inner = model
    if hasattr(inner, "get_base_model"):
        inner = inner.get_base_model()
    return inner


def supports_chunked_loss(model: Any) -> bool:
    """Whether this model's logits are exactly ``head(decoder(x))`` (softcapping handled here)."""
    lm = causal_lm(model)
    config = getattr(lm, "config", None)
    if getattr(config, "logit_scale", None) not in (None, 1, 1.0):
        return False
    if getattr(lm, "peft_config", None) and getattr(model, "active_peft_config", None) is not None:
        if getattr(model.active_peft_config, "is_prompt_learning", False):
            return False
    return hasattr(lm, "get_decoder") and lm.get_output_embeddings() is not None


#: fp32 logits elements per chunk (128 MiB): keeps one chunk small even for 256k vocabularies.
CHUNK_ELEMENTS = 2**25


def effective_chunk_size(requested: int, vocab_size: int) -> int:
    """Labelled positions per chunk: the requested size, capped so a chunk's logits stay ~128 MiB."""
    return max(64, min(requested, CHUNK_ELEMENTS // max(1, vocab_size)))


def _chunk_loss(hidden: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                softcap: float | None) -> torch.Tensor:
    logits = F.linear(hidden, weight, bias).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return F.cross_entropy(logits, targets, reduction="sum")


def chunked_causal_lm_loss(
    model: Any,
    inputs: dict[str, torch.Tensor],
    *,
    chunk_size: int = 1024,
    num_items_in_batch: torch.Tensor | int | None = None,
) -> torch.Tensor:
    """Mean next-token loss over labelled positions, without materialising full logits.

    Args:
        model: a causal LM, possibly wrapped by peft (LoRA, DoRA...).
        inputs: ``input_ids``, ``labels`` and optionally ``attention_mask``/``position_ids``.
        chunk_size: labelled positions per logits chunk.
        num_items_in_batch: labelled tokens across the whole accumulated batch (the
            Trainer's normaliser); the per-batch count when None.
    """
    lm = causal_lm(model)
    labels = inputs["labels"]
    forward_kwargs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
    hidden = lm.get_decoder()(**forward_kwargs, use_cache=False).last_hidden_state
    shift_hidden = hidden[:, :-1, :]
    shift_labels = labels[:, 1:]
    mask = shift_labels != IGNORE_INDEX
    picked = shift_hidden[mask]
    targets = shift_labels[mask]
    if picked.shape[0] == 0:  # nothing to learn in this batch: a zero that keeps the graph
        return hidden.sum() * 0.0
    head = lm.get_output_embeddings()
    chunk_size = effective_chunk_size(chunk_size, head.weight.shape[0])
    softcap = getattr(lm.config, "final_logit_softcapping", None)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, picked.shape[0], chunk_size):
        piece = picked[start : start + chunk_size]
        goal = targets[start : start + chunk_size]
        if torch.is_grad_enabled() and picked.shape[0] > chunk_size:  # one chunk: nothing to save by recomputing
            total = total + checkpoint(_chunk_loss, piece, goal, head.weight, head.bias, softcap, use_reentrant=False)
        else:
            total = total + _chunk_loss(piece, goal, head.weight, head.bias, softcap)
    denominator = num_items_in_batch if num_items_in_batch is not None else mask.sum()
    if isinstance(denominator, torch.Tensor):
        denominator = denominator.to(total.device)
    return total / denominator
