"""Per-accelerator memory when a run is spread over several accelerators.

Data parallelism splits the batch, never the activations of a micro batch, so activations and
logits stay per-accelerator. What the strategies change is where weights, gradients and
optimizer states live:

* ``ddp`` replicates everything and adds gradient buckets as large as the gradients
  (PyTorch DDP's default, ``gradient_as_bucket_view=False``);
* ``zero2`` shards gradients and optimizer states over the ``world_size`` accelerators;
* ``zero3`` and ``fsdp`` also shard the weights, and gather two blocks at a time (the one
  running and the one prefetched, or a block and the embedding when that is larger), plus one
  block's full gradients before they are scattered;
* ``zero3-offload`` keeps weights, gradients and optimizer states in CPU memory; the
  accelerator holds only the gathered blocks.

States keep the dtypes of the single-accelerator estimate: a DeepSpeed bf16 run that keeps an
extra fp32 master copy adds 4 bytes per parameter divided by ``world_size``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from framework.errors import ConfigError
from framework.hookdata import ModelFacts
from framework.planning.memory import MemoryEstimate, assemble, estimate
from framework.planning.shapes import shape_from_facts
from framework.planning.sizes import MIB
from framework.planning.trainables import DTYPE_BYTES

STRATEGIES = ("ddp", "zero2", "zero3", "zero3-offload", "fsdp")
#: NCCL communicator buffers and streams per accelerator (a few hundred MiB in practice).
COMMUNICATION_BYTES = 256 * MIB


def estimate_sharded(facts: ModelFacts, *, world_size: int, strategy: str, **estimate_args: Any) -> MemoryEstimate:
    """Peak memory per accelerator of ``estimate(facts, **estimate_args)`` run on ``world_size`` of them.

    Raises:
        ConfigError: unknown strategy or a world size below 1.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown sharding strategy {strategy!r}", hint=f"one of: {', '.join(STRATEGIES)}")
    if world_size < 1:
        raise ConfigError(f"world size must be at least 1, got {world_size}")
    single = estimate(facts, **estimate_args)
    if world_size == 1 and strategy in ("zero2", "zero3", "fsdp"):
        return single  # nothing to shard over
    parts = single.parts
    assert parts is not None  # every estimate() result carries its parts
    n = world_size
    shape = shape_from_facts(facts)
    full_like = single.method in ("full", "freeze", "hybrid")
    weight_bytes_per_param = parts.weights / max(shape.parameter_count(), 1)
    largest_matrix = max(shape.block_parameters(), shape.embedding_parameters(), shape.head_parameters())
    gathered = int((shape.block_parameters() + largest_matrix) * weight_bytes_per_param)
    block_grads = shape.block_parameters() * DTYPE_BYTES.get(estimate_args.get("compute_dtype", "bf16"), 2)
    communication = COMMUNICATION_BYTES if n > 1 else 0
    note = f"{strategy} over {n} accelerators"
    if strategy == "ddp":
        sharded = replace(parts, communication=parts.gradients + communication)
        note += ": everything replicated, plus gradient buckets as large as the gradients"
    elif strategy == "zero2":
        sharded = replace(parts, gradients=parts.gradients // n, optimizer=parts.optimizer // n,
                          optimizer_step=parts.optimizer_step // n, communication=communication)
        note += ": gradients and optimizer states sharded"
    elif strategy in ("zero3", "fsdp"):
        sharded = replace(parts, weights=parts.weights // n + gathered, adapter_weights=parts.adapter_weights // n,
                          gradients=parts.gradients // n, optimizer=parts.optimizer // n,
                          optimizer_step=parts.optimizer_step // n, communication=communication,
                          inflight=block_grads if full_like else parts.inflight)
        note += ": weights, gradients and optimizer states sharded; two blocks gathered at a time"
    else:
        sharded = replace(parts, weights=gathered, adapter_weights=0, gradients=0, optimizer=0, optimizer_step=0,
                          communication=communication, inflight=block_grads if full_like else parts.inflight)
        note += ": weights, gradients and optimizer states in CPU memory; two blocks gathered at a time"
    notes = (single.assumptions[0], *single.assumptions[2:], note)  # assemble() restates the phase
    return assemble(single.method, sharded, notes)
