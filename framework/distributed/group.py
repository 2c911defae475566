"""The process group: joined early, barriers, one-process-first blocks, agreement across ranks."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Iterator, Sequence

from framework.distributed.launch import local_rank, rank, world_size
from framework.errors import SelectionError

#: Collective timeout: long enough for the first process to fill the data cache alone.
TIMEOUT = timedelta(hours=1)


def init_process_group() -> bool:
    """Join the launcher's process group early, before the plan (idempotent).

    transformers would join it when ``TrainingArguments`` is built, which is too late for the
    plugin agreement and the one-process-first stages. accelerate, DeepSpeed and the Trainer
    all reuse an existing group. CUDA gets NCCL for tensors and gloo for CPU objects; the GPU
    is bound first so that NCCL never puts two processes on GPU 0.
    """
    if world_size() <= 1:
        return False
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return True
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank())
        backend = "cuda:nccl,cpu:gloo"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, timeout=TIMEOUT)
    return True


def _group_ready() -> bool:
    if world_size() <= 1:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    """Wait for every process; nothing to wait for without a process group."""
    if _group_ready():
        import torch.distributed as dist

        dist.barrier()


@contextmanager
def main_process_first() -> Iterator[None]:
    """Run the block in process 0 first, then in each machine's first process, then in the rest.

    Caches (the demo model, preprocessed data) are filled once and read by the others, whether
    the cache directory is shared between machines or local to each. Every process passes the
    same two barriers, at different places.
    """
    if not init_process_group():
        yield
        return
    if rank() == 0:
        yield
        barrier()
        barrier()
    elif local_rank() == 0:
        barrier()
        yield
        barrier()
    else:
        barrier()
        barrier()
        yield


def check_agreement(record: Sequence[Any]) -> None:
    """Stop unless every process holds the same ``record`` (plugin, version, variant, strategy).

    Raises:
        SelectionError: on every process, naming what each rank selected.
    """
    if not init_process_group():
        return
    import torch.distributed as dist

    records: list[Any] = [None] * world_size()
    dist.all_gather_object(records, list(record))
    if all(r == records[0] for r in records):
        return
    seen = "; ".join(f"rank {i}: {' '.join(str(x) for x in r)}" for i, r in enumerate(records))
    raise SelectionError(f"the processes disagree on plugin, version, variant or strategy ({seen})",
                         hint="install the same framework and plugin versions on every machine")
