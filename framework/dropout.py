"""LoRA dropout on the CPU from a fraction of torch's random draws.

Why: torch draws one 32-bit number from its CPU generator per element for a dropout mask, one
element at a time, and peft gives each LoRA layer its own dropout on that layer's input. On a
small model that is a large share of a CPU step: 12% of ``framework run``'s training time on
bench/e2e_cpu.py's workload (1.3 of 10.9 s, 28 LoRA layers), more than all linear layers
together. ``BitsDropout`` draws from the same generator, far less:

* ``p <= GAPS_MAX_P`` (1/8; LoRA's usual 0.05 or 0.1): only the dropped elements' positions are
  drawn. The gaps between successive dropped elements of a Bernoulli(p) sequence are geometric,
  so one float64 uniform ``u`` per dropped element says the next one is ``ceil(log(u) /
  log1p(-p))`` elements further on, and a cumulative sum gives the positions: ``n * p`` 64-bit
  draws instead of ``n`` 32-bit ones. Each element is dropped independently with probability
  ``p`` itself (to float64 precision). The mask is one fill with the scale and one scattered
  write of zeros (``index_put_``; ``index_fill_`` measured 5x slower).
* larger ``p``: 64-bit draws used as four 16-bit uniforms, so a mask costs a quarter of torch's
  draws; the drop probability becomes ``round(p * 65536) / 65536`` (within 7.6e-6 of ``p``).

Either way the output is torch's own ``x * mask`` (kept: ``1 / (1 - effective_p)``, dropped: 0),
so the expected output is the input, as with ``torch.nn.Dropout``, and the backward is
``grad * mask`` in C++. Masks come from torch's default CPU generator only: ``training.seed``
fixes them and a resumed run continues the same stream (the Trainer restores that generator's
state). ``lora.fast_dropout: off`` keeps torch's dropout.

Measured with ``python bench/dropout_cpu.py --p 0.05 0.1 0.3`` (forward + backward of one
training step's 28 LoRA dropouts of bench/e2e_cpu.py's workload, [560, 128] x24 and [560, 384]
x4; torch 2.13, 2 threads, medians of 60 on a shared 2-core machine): at p 0.05 torch 13.0 ms,
the 16-bit mask through a Python autograd function (this module before the gap way) 6.7 ms, the
16-bit mask as ``x * mask`` 6.2 ms, gaps 4.5 ms (1.50x the former, 2.9x torch); at p 0.1 gaps
5.7 ms against 6.2 ms for 16-bit; at p 0.3 16-bit 6.5 ms against 9.5 ms for gaps.
tests/fastpaths/test_fast_dropout.py checks the drop rates, position and pair statistics, the
scaling, the gradient, the seeding and the switch for both ways.
"""

from __future__ import annotations

import math
from typing import Any

import torch

#: Uniform values per mask element of the 16-bit way: slices of int64 draws.
_LEVELS = 1 << 16
#: Up to this probability the dropped positions are drawn (gaps); above it, 16-bit masks. The gap
#: way draws one 64-bit number per dropped element and the 16-bit way one per four elements, and
#: their passes differ: measured, gaps are 1.11x faster at p 0.1 and 0.96x at 0.15
#: (bench/dropout_cpu.py), hence 1/8.
GAPS_MAX_P = 0.125
#: Extra gap draws, in standard deviations of the dropped count, so a second round is rare.
_SPARE_SIGMAS = 6.0


class BitsDropout(torch.nn.Module):
    """Dropout from few random bits (see the module docstring). ``gaps`` picks the way: None
    chooses by ``p`` (``GAPS_MAX_P``); True/False force it (tests and the benchmark)."""

    def __init__(self, p: float, gaps: bool | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = p
        self.gaps = p <= GAPS_MAX_P if gaps is None else gaps
        if self.gaps:
            self.cut = 0
            self.effective_p = p
            self.log_keep = math.log1p(-p)  # log(u) / log_keep is a geometric gap's continuous form
        else:
            self.cut = round(p * _LEVELS)  # a 16-bit uniform below this drops the element
            self.effective_p = self.cut / _LEVELS
        self.scale = 1.0 / (1.0 - self.effective_p)

    def dropped_positions(self, count: int, device: torch.device) -> torch.Tensor:
        """Sorted flat positions of the dropped elements among ``count``: each independently with
        probability ``p``, as successive geometric gaps ``ceil(log(u) / log1p(-p))``, u uniform in
        [0, 1) (u = 0, a 2**-53 chance, gives an infinite gap: nothing further is dropped)."""
        p, parts, end = self.p, [], 0.0  # end: 1 + the last drawn position
        while True:
            expected = (count - end) * p
            draws = max(16, int(expected + _SPARE_SIGMAS * math.sqrt(expected * (1 - p)) + 16))
            ends = torch.rand(draws, dtype=torch.float64, device=device).log_().div_(self.log_keep).ceil_().cumsum_(0)
            if end:
                ends.add_(end)
            inside = int(torch.searchsorted(ends, float(count), right=True))  # ends <= count: position < count
            parts.append(ends[:inside])
            if inside < draws:
                break
            end = float(ends[-1])
        ends = parts[0] if len(parts) == 1 else torch.cat(parts)
        return ends.long().sub_(1)

    def keep_mask(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """The 16-bit way: True where an element is kept; P(False) = ``effective_p``."""
        count = shape.numel()
        words = torch.randint(-(1 << 63), (1 << 63) - 1, ((count + 3) // 4,), dtype=torch.int64, device=device)
        uniform = words.view(torch.int16)[:count].view(shape)  # signed: value + 32768 is uniform in [0, 65536)
        return uniform >= self.cut - _LEVELS // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.effective_p == 0 or x.numel() == 0:
            return x
        return x * self.scaled_mask(x)

    def scaled_mask(self, x: torch.Tensor) -> torch.Tensor:
        """``scale`` where ``x``'s element is kept, 0 where dropped, contiguous in ``x``'s dtype.
        ``x * mask`` is then torch's own product: its backward is ``grad * mask`` in C++, without
        a Python autograd function's call (9-15% of a dropout's forward + backward here)."""
        if self.gaps:
            mask = torch.full(x.shape, self.scale, dtype=x.dtype, device=x.device)
            zero = torch.zeros((), dtype=x.dtype, device=x.device)
            return mask.view(-1).index_put_((self.dropped_positions(x.numel(), x.device),), zero).view(x.shape)
        return self.keep_mask(x.shape, x.device).to(x.dtype).mul_(self.scale)

    def extra_repr(self) -> str:
        way = "gaps" if self.gaps else "16-bit"
        return f"p={self.p}, effective_p={self.effective_p:.7f}, way={way}"


def install_bits_dropout(model: Any) -> int:
    """Swap each LoRA layer's ``torch.nn.Dropout`` (peft's ``lora_dropout``) for ``BitsDropout``
    of the same probability; returns how many were swapped. ``p == 0`` layers (peft's
    ``Identity``) and every other dropout of the model are left alone."""
    swapped = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if not isinstance(dropouts, torch.nn.ModuleDict):
            continue
        for name, dropout in list(dropouts.items()):
            if type(dropout) is torch.nn.Dropout and dropout.p > 0:
                replacement = BitsDropout(dropout.p)
                replacement.train(dropout.training)
                dropouts[name] = replacement
                swapped += 1
    return swapped
