"""What bottleneck adapters (``--method adapter``, framework.bottleneck) add to a step's memory.

Each adapter is ``down: d -> r`` and ``up: r -> d`` with biases, in fp32 (framework.bottleneck
keeps them fp32 whatever the compute dtype). In the forward pass it saves, per token, the fp32
copy of its input that ``down`` reads (``4*d``), the bottleneck output that the nonlinearity
reads and the activated output that ``up`` reads (``4*r`` each), and a dropout mask byte per
bottleneck element. The base weights are frozen, so the rest of the block is LoRA's regime
with no adapted linear.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any


def adapter_tensors(hidden: int, dim: int, layers: int, per_layer: int) -> tuple[tuple[int, int], ...]:
    """(numel, how many) of every trained tensor: two weights and two biases per adapter."""
    count = layers * per_layer
    return ((hidden * dim, 2 * count), (dim, count), (hidden, count))


def bytes_per_token(hidden: int, dim: int) -> int:
    """Saved activations of one adapter per token (fp32 input copy, two bottleneck tensors, mask)."""
    return 4 * hidden + 2 * 4 * dim + dim


def bottleneck_activations(acts: Any, shape: Any, *, tokens: int, dim: int, per_layer: int,
                           grad_checkpointing: bool) -> Any:
    """``acts`` (ActivationBytes) with the adapters' saved tensors added: every block's when all
    activations are kept, one recomputed block's under gradient checkpointing."""
    one_block = tokens * per_layer * bytes_per_token(shape.hidden, dim)
    if grad_checkpointing:
        return replace(acts, working=acts.working + one_block)
    return replace(acts, kept=acts.kept + shape.layers * one_block)
