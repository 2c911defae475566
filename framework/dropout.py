"""LoRA dropout on the CPU with a quarter of torch's random draws.

Why: torch draws one 32-bit number from its CPU generator per element for a dropout mask, one
element at a time, and peft gives each LoRA layer its own dropout on that layer's input. On a
small model that is a large share of a CPU step: 12% of ``framework run``'s training time on
bench/e2e_cpu.py's workload (1.3 of 10.9 s, 28 LoRA layers), more than all linear layers
together. ``BitsDropout`` draws 64-bit numbers from the same generator and uses each as four
16-bit uniforms, so a mask costs a quarter of the draws; the mask and the scaling are two
vectorised passes.

The drop probability becomes ``round(p * 65536) / 65536`` (0.05 -> 0.0500031; within 7.6e-6
of ``p`` for any ``p``) and kept values are scaled by ``1 / (1 - that)``, so the expected output
is the input exactly, as with ``torch.nn.Dropout``. Masks come from torch's default CPU
generator: ``training.seed`` fixes them and a resumed run continues the same stream (the
Trainer restores that generator's state). ``lora.fast_dropout: off`` keeps torch's dropout;
tests/fastpaths/test_fast_dropout.py checks the drop rate, the scaling, the gradient and the
switch.
"""

from __future__ import annotations

from typing import Any

import torch

#: Uniform values per mask element: 16-bit slices of int64 draws.
_LEVELS = 1 << 16


class _MaskedScale(torch.autograd.Function):
    """``x * mask`` with ``mask`` the kept elements' scale and 0 elsewhere, kept for the backward
    (one multiplication each way, as torch's own dropout)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (mask,) = ctx.saved_tensors
        return grad * mask, None


class BitsDropout(torch.nn.Module):
    """Dropout whose mask uses 16 random bits per element (see the module docstring)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = p
        self.cut = round(p * _LEVELS)  # a 16-bit uniform below this drops the element
        self.effective_p = self.cut / _LEVELS
        self.scale = 1.0 / (1.0 - self.effective_p)

    def keep_mask(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """True where an element is kept; P(False) = ``effective_p``."""
        count = shape.numel()
        words = torch.randint(-(1 << 63), (1 << 63) - 1, ((count + 3) // 4,), dtype=torch.int64, device=device)
        uniform = words.view(torch.int16)[:count].view(shape)  # signed: value + 32768 is uniform in [0, 65536)
        return uniform >= self.cut - _LEVELS // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.cut == 0 or x.numel() == 0:
            return x
        mask = self.keep_mask(x.shape, x.device).to(x.dtype).mul_(self.scale)
        return _MaskedScale.apply(x, mask)

    def extra_repr(self) -> str:
        return f"p={self.p}, effective_p={self.effective_p:.7f}"


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
