"""LoRA dropout on the CPU: forward + backward of one training step's dropouts, three ways.

The shapes are one step of bench/e2e_cpu.py's workload (tiny Llama, hidden 128, intermediate 384,
4 layers, LoRA on the 7 projections, ~560 tokens per micro-batch): each layer's q/k/v/o/gate/up
LoRA dropouts see a [560, 128] input, its down projection's a [560, 384] one, 28 calls in all.
Each way runs the 28 calls as forward + backward (the input requires a gradient, an upstream
gradient comes back); the ways alternate within every repetition (rotated order) so all share
the machine's load, and the table shows medians over the repetitions:

* torch: ``torch.nn.functional.dropout`` (what ``lora.fast_dropout: off`` keeps);
* previous: ``BitsDropout`` as it was before the gap way (``Previous16Bit`` below, copied from
  framework/dropout.py at 69f42e3): the 16-bit mask applied through a Python autograd function;
* 16-bit: ``BitsDropout(p, gaps=False)``: the same mask applied as torch's own ``x * mask`` (the
  way above ``GAPS_MAX_P``);
* gaps: ``BitsDropout(p, gaps=True)``: the dropped positions from geometric gaps;
* the default (``BitsDropout(p)``) is whichever of the two ``p`` selects.

    python bench/dropout_cpu.py                       # p 0.05 and 0.3, 60 repetitions
    python bench/dropout_cpu.py --p 0.1 0.15 --reps 50 --threads 1
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from framework.dropout import GAPS_MAX_P, BitsDropout

TOKENS, HIDDEN, INTERMEDIATE = 560, 128, 384
#: One step's LoRA dropout inputs: 6 per layer of [tokens, hidden], 1 of [tokens, intermediate].
STEP_SHAPES = [(TOKENS, HIDDEN)] * 24 + [(TOKENS, INTERMEDIATE)] * 4


class _MaskedScale(torch.autograd.Function):
    """The previous way's product: ``x * mask``, the mask saved for a Python backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (mask,) = ctx.saved_tensors
        return grad * mask, None


class Previous16Bit(BitsDropout):
    """The 16-bit mask through ``_MaskedScale``, as ``BitsDropout`` was at 69f42e3."""

    def __init__(self, p: float) -> None:
        super().__init__(p, gaps=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.keep_mask(x.shape, x.device).to(x.dtype).mul_(self.scale)
        return _MaskedScale.apply(x, mask)


def ways(p: float) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The dropouts compared, each a callable on the input."""
    return {
        "torch": lambda x: torch.nn.functional.dropout(x, p, training=True),
        "previous": Previous16Bit(p),
        "16-bit": BitsDropout(p, gaps=False),
        "gaps": BitsDropout(p, gaps=True),
    }


def measure(p: float, reps: int) -> dict[str, dict[str, float]]:
    """Median seconds per way: the 28-call step and one call of each shape."""
    torch.manual_seed(0)
    inputs = [torch.randn(shape, requires_grad=True) for shape in STEP_SHAPES]
    upstream = [torch.randn(shape) for shape in STEP_SHAPES]
    compared = ways(p)
    names = list(compared)
    steps: dict[str, list[float]] = {name: [] for name in names}
    calls: dict[tuple[str, tuple[int, int]], list[float]] = {}
    for rep in range(reps + 2):  # the first two warm up
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            dropout, total = compared[name], 0.0
            for x, grad in zip(inputs, upstream):
                start = time.perf_counter()
                dropout(x).backward(grad)
                took = time.perf_counter() - start
                x.grad = None
                total += took
                if rep >= 2:
                    calls.setdefault((name, tuple(x.shape)), []).append(took)
            if rep >= 2:
                steps[name].append(total)
    return {name: {"step": statistics.median(steps[name]),
                   **{f"{shape[0]}x{shape[1]}": statistics.median(calls[(name, shape)])
                      for shape in sorted(set(STEP_SHAPES))}}
            for name in names}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p", type=float, nargs="+", default=[0.05, 0.3], help="dropout probabilities")
    parser.add_argument("--reps", type=int, default=60, help="repetitions of the step per way")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's count)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"`python {shlex.join(['bench/dropout_cpu.py', *sys.argv[1:]])}` — torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {args.reps} repetitions; default way: gaps for "
          f"p <= {GAPS_MAX_P}, else 16-bit\n")
    print("| p | way | step, 28 calls (ms) | [560, 128] (µs) | [560, 384] (µs) | vs torch | vs previous |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for p in args.p:
        result = measure(p, args.reps)
        for name, row in result.items():
            default = " (default)" if name == ("gaps" if p <= GAPS_MAX_P else "16-bit") else ""
            print(f"| {p} | {name}{default} | {row['step'] * 1e3:.2f} | {row['560x128'] * 1e6:.0f} | "
                  f"{row['560x384'] * 1e6:.0f} | {result['torch']['step'] / row['step']:.2f}x | "
                  f"{result['previous']['step'] / row['step']:.2f}x |")


if __name__ == "__main__":
    main()
