"""What a method trains and stores: weight bytes, trainable tensors, optimizer states.

Quantized weights follow bitsandbytes' storage: NF4 packs two weights per byte with one
absmax per 64-weight block; double quantization stores those absmax values as 8-bit codes with
an fp32 absmax per 256 of them (4.127 bits per weight in all). LLM.int8 stores one byte per
weight and an fp32 scale per output row. transformers leaves the embedding and the output head
unquantized; every linear of the decoder blocks is quantized.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from framework.errors import ConfigError
from framework.planning.shapes import BLOCK_LINEARS, ModelShape

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}

NF4_BYTES_PER_WEIGHT = 0.5 + 1 / 64 + 4 / (64 * 256)
INT8_BYTES_PER_WEIGHT = 1.0
#: bitsandbytes keeps 32-bit states for tensors smaller than this (``min_8bit_size``).
MIN_8BIT_SIZE = 4096
#: Block-wise 8-bit optimizer states: one byte per element and one fp32 absmax per 256.
STATE_8BIT_BYTES = 1 + 4 / 256


@dataclass(frozen=True)
class Trainables:
    """The trained tensors of a method: sizes (numel, how many) and bytes per element."""

    tensors: tuple[tuple[int, int], ...]
    param_bytes: int

    @property
    def count(self) -> int:
        return sum(numel * how_many for numel, how_many in self.tensors)

    @property
    def bytes(self) -> int:
        return self.count * self.param_bytes


def resolve_targets(targets: Sequence[str] | str | None) -> frozenset[str]:
    """The block linears an adapter wraps: names, "all-linear", or a regex over the names."""
    if targets is None or targets == "all-linear" or (not isinstance(targets, str) and "all-linear" in targets):
        return frozenset(BLOCK_LINEARS)
    if isinstance(targets, str):
        try:
            pattern = re.compile(targets)
        except re.error as exc:
            raise ConfigError(f"LoRA target regex {targets!r} is invalid ({exc})") from None
        chosen = {name for name in BLOCK_LINEARS if pattern.fullmatch(name) or pattern.search(f".{name}")}
    else:
        chosen = {name for name in BLOCK_LINEARS if any(t == name or t.endswith("." + name) for t in targets)}
    if not chosen:
        raise ConfigError(f"LoRA targets {targets!r} name no linear the planner knows",
                          hint=f"use module names among {', '.join(BLOCK_LINEARS)}, or all-linear")
    return frozenset(chosen)


def trainables_for(shape: ModelShape, *, method: str, compute_dtype: str, adapted: frozenset[str], lora_r: int,
                   adapter_dtype: str, freeze_layers: int, num_virtual_tokens: int, adapter_dim: int = 64,
                   adapters_per_layer: int = 2) -> Trainables:
    """Trained tensors of ``method``; 16-bit full training with fp16 keeps fp32 masters."""
    if method == "adapter":  # bottleneck adapters: fp32 whatever the compute dtype
        from framework.planning.bottleneck import adapter_tensors

        return Trainables(adapter_tensors(shape.hidden, adapter_dim, shape.layers, adapters_per_layer), 4)
    b = DTYPE_BYTES[compute_dtype]
    master = 4 if compute_dtype in ("fp16", "fp32") else 2
    block = _block_tensors(shape)
    if method in ("full", "hybrid"):
        others = [(shape.embedding_parameters(), 1), (shape.hidden, 1)]
        if shape.head_parameters():
            others.append((shape.head_parameters(), 1))
        return Trainables(tuple((n, k * shape.layers) for n, k in block) + tuple(others), master)
    if method == "freeze":
        layers = min(freeze_layers, shape.layers)
        return Trainables(tuple((n, k * layers) for n, k in block), master)
    if method in ("prefix", "prompt", "ptuning"):
        d = shape.hidden
        if method == "prompt":
            tensors: tuple[tuple[int, int], ...] = ((num_virtual_tokens * d, 1),)
        elif method == "ptuning":  # embedding plus peft's three-layer MLP encoder of width d
            tensors = ((num_virtual_tokens * d, 1), (d * d, 3), (d, 3))
        else:  # one key and one value prefix per layer
            tensors = ((num_virtual_tokens * shape.kv_width, 2 * shape.layers),)
        return Trainables(tensors, 4)
    adapter_bytes = 4 if (adapter_dtype == "fp32" or b == 4) else b
    tensors_list: list[tuple[int, int]] = []
    for lin in shape.linears():
        if lin.name in adapted:
            tensors_list.append((lora_r * lin.in_features, lin.copies * shape.layers))
            tensors_list.append((lora_r * lin.out_features, lin.copies * shape.layers))
            if method == "dora":
                tensors_list.append((lin.out_features, lin.copies * shape.layers))
    return Trainables(tuple(tensors_list), adapter_bytes)


def _block_tensors(shape: ModelShape) -> list[tuple[int, int]]:
    tensors = [(lin.in_features * lin.out_features, lin.copies) for lin in shape.linears()]
    tensors.append((shape.hidden, shape.norms_per_layer))
    if shape.block_biases():
        tensors.append((shape.block_biases(), 1))
    return tensors


def weight_bytes(shape: ModelShape, *, method: str, compute_dtype: str, train: Trainables,
                 upcast_unquantized: bool) -> int:
    """Bytes of the model's own weights (adapters are counted apart)."""
    b = DTYPE_BYTES[compute_dtype]
    total = shape.parameter_count()
    if method in ("full", "hybrid"):
        return total * train.param_bytes
    if method == "freeze":
        return (total - train.count) * b + train.bytes
    if method in ("qlora", "qlora8"):
        linear = shape.layers * sum(lin.numel for lin in shape.linears())
        rest_bytes = 4 if upcast_unquantized else b
        if method == "qlora":
            quantized = linear * NF4_BYTES_PER_WEIGHT
        else:
            rows = shape.layers * sum(lin.out_features * lin.copies for lin in shape.linears())
            quantized = linear * INT8_BYTES_PER_WEIGHT + 4 * rows
        return int(quantized + (total - linear) * rest_bytes)
    return total * b


def optimizer_bytes(train: Trainables, optimizer: str) -> int:
    """AdamW's two moments for every trained tensor."""
    if optimizer in ("adamw", "adamw_fused"):  # torch allocates the moments like the parameter
        return 2 * train.bytes
    if optimizer == "paged_adamw_32bit":
        return 8 * train.count
    total = 0.0
    for numel, how_many in train.tensors:
        per_element = 2 * STATE_8BIT_BYTES if numel >= MIN_8BIT_SIZE else 8
        total += numel * how_many * per_element
    return int(total)


def optimizer_step_bytes(train: Trainables, optimizer: str) -> int:
    """Scratch of the step: torch's multi-tensor AdamW builds sqrt(v) for all tensors at once."""
    return train.bytes if optimizer == "adamw" else 0
