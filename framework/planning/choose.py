"""Pick the training method, micro batch and checkpointing that fit an accelerator.

The usual advice for a 7-8B model (80 GB: full fine-tuning; 24 GB: LoRA; 12-16 GB: QLoRA;
less: a smaller model or several accelerators) is a consequence of the memory estimate, so it
is computed rather than tabulated: the best method in quality order (full > LoRA > QLoRA by
default) whose estimated peak fits the accelerator with ``margin`` kept free wins. Within a
method, the setting with the best expected throughput wins: larger micro batches keep the
matrix units busy, and gradient checkpointing costs one more forward pass (a third more
compute for full training, half more for adapters, whose backward skips weight gradients).
When nothing fits, the choice says so and names what would: a smaller model, a shorter
sequence, or the smallest number of such accelerators that fits with ZeRO-3/FSDP sharding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from framework.errors import ConfigError
from framework.hookdata import ModelFacts
from framework.planning.memory import ADAPTER_METHODS, METHODS, MemoryEstimate, estimate
from framework.planning.sharding import estimate_sharded
from framework.planning.sizes import format_bytes

#: Methods from the one that changes the model most freely to the one that changes it least.
QUALITY_ORDER = ("full", "hybrid", "dora", "rslora", "lora", "adapter", "freeze", "qlora8", "qlora", "ptuning",
                 "prefix", "prompt")
#: Tokens per micro batch at which a step reaches half its best throughput (matrix units busy).
HALF_SPEED_TOKENS = 1024
WORLD_SIZES = (2, 4, 8, 16, 32, 64)
OPTIMIZER_NAMES = {"adamw": "adamw_torch", "adamw_fused": "adamw_torch_fused", "adamw_8bit": "adamw_bnb_8bit",
                   "paged_adamw_8bit": "paged_adamw_8bit", "paged_adamw_32bit": "paged_adamw_32bit"}


@dataclass(frozen=True)
class MethodChoice:
    """The chosen method and settings, why, and how the other allowed methods compared.

    ``alternatives`` holds (method, peak bytes, fits) for every allowed method, at its best
    fitting setting, or at its smallest one (micro batch 1, checkpointing) when none fits.
    """

    method: str
    estimate: MemoryEstimate
    micro_batch: int
    grad_accum: int
    grad_checkpointing: bool
    reason: str
    fits: bool
    alternatives: list[tuple[str, int, bool]]
    optimizer: str = "adamw_fused"


def choose_method(
    facts: ModelFacts,
    *,
    gpu_bytes: int,
    seq_len: int,
    global_batch: int = 16,
    margin: float = 0.1,
    allowed: Sequence[str] = ("full", "lora", "qlora"),
    optimizer: str = "adamw_fused",
    **estimate_args: Any,
) -> MethodChoice:
    """The best allowed method that fits ``gpu_bytes``, with micro batch, accumulation and checkpointing.

    Args:
        facts: the model's config facts.
        gpu_bytes: memory of one accelerator (``parse_size("24GB")``).
        seq_len: tokens per sample.
        global_batch: samples per optimizer step (micro batch x accumulation steps).
        margin: share of the accelerator kept free for what no estimate sees.
        allowed: methods to consider; they are tried in quality order, not in this order.
        optimizer: optimizer of the estimates; fused AdamW has no step scratch, so it is the
            default here (transformers ``optim: adamw_torch_fused``).
        **estimate_args: further ``estimate`` settings (compute_dtype, lora_r, ...).
    """
    methods = _ordered(allowed)
    if gpu_bytes <= 0 or not 0 <= margin < 1 or global_batch < 1 or seq_len < 1:
        raise ConfigError("choose_method needs positive memory, sequence length and batch, and a margin in [0, 1)")
    usable = int(gpu_bytes * (1 - margin))
    micro_batches = [m for m in range(global_batch, 0, -1) if global_batch % m == 0]
    alternatives: list[tuple[str, int, bool]] = []
    best: tuple[str, MemoryEstimate, int, bool] | None = None
    smallest: dict[str, MemoryEstimate] = {}
    for method in methods:
        found = _best_setting(facts, method, micro_batches, seq_len, usable, optimizer, estimate_args)
        if found is None:
            smallest[method] = estimate(facts, method=method, micro_batch=1, seq_len=seq_len, grad_checkpointing=True,
                                        optimizer=optimizer, **estimate_args)
            alternatives.append((method, smallest[method].total, False))
            continue
        alternatives.append((method, found[0].total, True))
        if best is None:
            best = (method, *found)
    if best is not None:
        method, est, micro_batch, ckpt = best
        skipped = [f"{m} needs {format_bytes(smallest[m].total)} even at micro batch 1 with checkpointing"
                   for m in methods[: methods.index(method)]]
        reason = (f"{method} fits: {format_bytes(est.total)} of {format_bytes(gpu_bytes)} ({margin:.0%} kept free) "
                  f"at micro batch {micro_batch} x {global_batch // micro_batch} accumulation steps, "
                  f"{'with' if ckpt else 'without'} gradient checkpointing, optimizer "
                  f"{OPTIMIZER_NAMES.get(optimizer, optimizer)}")
        if skipped:
            reason += "; " + "; ".join(skipped)
        return MethodChoice(method, est, micro_batch, global_batch // micro_batch, ckpt, reason, True, alternatives,
                            optimizer)
    cheapest = methods[-1]
    est = smallest[cheapest]
    reason = (f"nothing fits in {format_bytes(gpu_bytes)} ({margin:.0%} kept free): {cheapest} needs "
              f"{format_bytes(est.total)} at micro batch 1 with gradient checkpointing. "
              + _advice(facts, methods, seq_len, usable, optimizer, estimate_args))
    longest = _longest_fitting_sequence(facts, cheapest, seq_len, usable, optimizer, estimate_args)
    if longest:
        reason += f" {cheapest} fits with sequences up to {longest} tokens."
    return MethodChoice(cheapest, est, 1, global_batch, True, reason, False, alternatives, optimizer)


def _ordered(allowed: Sequence[str]) -> list[str]:
    unknown = [m for m in allowed if m not in METHODS]
    if unknown or not allowed:
        raise ConfigError(f"unknown or no methods to choose from: {unknown or list(allowed)}",
                          hint=f"allowed methods are {', '.join(METHODS)}")
    return [m for m in QUALITY_ORDER if m in allowed]


def _best_setting(facts: ModelFacts, method: str, micro_batches: list[int], seq_len: int, usable: int,
                  optimizer: str, estimate_args: dict[str, Any]) -> tuple[MemoryEstimate, int, bool] | None:
    """The fitting (micro batch, checkpointing) with the best expected throughput."""
    recompute = 1.5 if (method in ADAPTER_METHODS or method in ("prefix", "prompt", "ptuning", "adapter")) else 4 / 3
    best: tuple[float, MemoryEstimate, int, bool] | None = None
    for ckpt in (False, True):
        for micro_batch in micro_batches:  # largest first: the first that fits is the best of its kind
            est = estimate(facts, method=method, micro_batch=micro_batch, seq_len=seq_len, grad_checkpointing=ckpt,
                           optimizer=optimizer, **estimate_args)
            if est.total > usable:
                continue
            tokens = micro_batch * seq_len
            speed = tokens / (tokens + HALF_SPEED_TOKENS) / (recompute if ckpt else 1.0)
            if best is None or speed > best[0]:
                best = (speed, est, micro_batch, ckpt)
            break
    return None if best is None else best[1:]


def _longest_fitting_sequence(facts: ModelFacts, method: str, seq_len: int, usable: int, optimizer: str,
                              estimate_args: dict[str, Any]) -> int | None:
    """The longest sequence (a multiple of 128 below ``seq_len``) that fits at micro batch 1."""

    def fits(length: int) -> bool:
        return estimate(facts, method=method, micro_batch=1, seq_len=length, grad_checkpointing=True,
                        optimizer=optimizer, **estimate_args).total <= usable

    low, high = 0, (seq_len - 1) // 128  # in units of 128 tokens; the peak grows with length
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle * 128):
            low = middle
        else:
            high = middle - 1
    return low * 128 if low else None


def _advice(facts: ModelFacts, methods: list[str], seq_len: int, usable: int, optimizer: str,
            estimate_args: dict[str, Any]) -> str:
    """What would fit: several accelerators with ZeRO-3/FSDP, else a smaller model or sequence."""
    options: list[tuple[int, str, int]] = []
    for method in methods:
        for world_size in WORLD_SIZES:
            est = estimate_sharded(facts, world_size=world_size, strategy="zero3", method=method, micro_batch=1,
                                   seq_len=seq_len, grad_checkpointing=True, optimizer=optimizer, **estimate_args)
            if est.total <= usable:
                options.append((world_size, method, est.total))
                break
    if not options:
        return ("Use a smaller model or a shorter sequence: even ZeRO-3 over 64 such accelerators does not fit "
                "(activations are not sharded), or offload weights and states to CPU memory (zero3-offload).")
    within_eight = [o for o in options if o[0] <= 8]
    world_size, method, total = within_eight[0] if within_eight else min(options)
    return (f"Use a smaller model, a shorter sequence, or {world_size} such accelerators with ZeRO-3/FSDP: "
            f"{method} then needs {format_bytes(total)} per accelerator.")
