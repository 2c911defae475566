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
from framework.planning.shapes import ATTENTION_LINEARS, BLOCK_LINEARS, Linear, ModelShape

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


#: Full module names transformers gives one block's linears, per role, in the layouts the families
#: use (``mlp`` or ``feed_forward``, a multimodal wrapper's ``language_model``): peft matches
#: ``target_modules`` against full names (a suffix after a dot, or a regex over the whole name).
_LAYOUTS = {
    "attention": ("self_attn.{}",),
    "mlp": ("mlp.{}", "feed_forward.{}"),
    "shared_expert": ("mlp.shared_expert.{}", "mlp.shared_experts.{}", "feed_forward.shared_expert.{}"),
    "expert": ("mlp.experts.{}", "feed_forward.experts.{}"),
}
_PREFIXES = ("model.layers.0.", "model.language_model.layers.0.")


def _full_names(lin: Linear) -> list[str]:
    return [prefix + layout.format(lin.name) for prefix in _PREFIXES for layout in _LAYOUTS.get(lin.role, ())]


def _dense_linears() -> tuple[Linear, ...]:
    roles = {name: ("attention" if name in ATTENTION_LINEARS else "mlp") for name in BLOCK_LINEARS}
    return tuple(Linear(name, 1, 1, "", role=roles[name]) for name in BLOCK_LINEARS)


def resolve_targets(targets: Sequence[str] | str | None, shape: ModelShape | None = None,
                    parameters: Sequence[str] = ()) -> frozenset[str]:
    """The block linears an adapter wraps (their ``Linear.key``): module names, "all-linear", or a
    regex over full module names, as peft matches them; fused experts by ``parameters`` (peft's
    ``target_parameters``, matched as suffixes of the full parameter name). None means every
    linear but the router, experts included; "all-linear" is peft's: every ``nn.Linear`` (so no
    fused expert unless ``parameters`` names it; the router is counted out, as plugins exclude it)."""
    every = [lin for lin, _ in shape.layer_linears()] if shape else list(_dense_linears())
    linears = [lin for lin in dict.fromkeys(every) if lin.role != "router"]
    if targets is None:
        return frozenset(lin.key for lin in linears)
    modules = [lin for lin in linears if not lin.fused]
    if targets == "all-linear" or (not isinstance(targets, str) and "all-linear" in targets):
        chosen = {lin.key for lin in modules}
    elif isinstance(targets, str):
        try:
            pattern = re.compile(targets)
        except re.error as exc:
            raise ConfigError(f"LoRA target regex {targets!r} is invalid ({exc})") from None
        chosen = {lin.key for lin in modules
                  if pattern.fullmatch(lin.name) or any(pattern.fullmatch(full) for full in _full_names(lin))}
    else:
        chosen = {lin.key for lin in modules
                  if any(t == lin.name or full.endswith("." + t) for t in targets for full in _full_names(lin))}
    chosen |= {lin.key for lin in linears if lin.fused
               and any(full == p or full.endswith("." + p) for p in parameters for full in _full_names(lin))}
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
        linears = tuple((lin.in_features * lin.out_features, lin.copies * blocks)
                        for lin, blocks in shape.layer_linears())
        return Trainables(linears + tuple((n, k * shape.layers) for n, k in block[len(shape.linears()):])
                          + tuple(others), master)
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
    for lin, blocks in shape.layer_linears():
        if lin.key not in adapted:
            continue
        if lin.fused:  # peft's ParamWrapper: one A [r*experts x in] and one B [out x r*experts] per block
            tensors_list.append((lora_r * lin.in_features * lin.copies, blocks))
            tensors_list.append((lora_r * lin.out_features * lin.copies, blocks))
            continue
        tensors_list.append((lora_r * lin.in_features, lin.copies * blocks))
        tensors_list.append((lora_r * lin.out_features, lin.copies * blocks))
        if method == "dora":
            tensors_list.append((lin.out_features, lin.copies * blocks))
    return Trainables(tuple(tensors_list), adapter_bytes)


def adapter_parameters_by_role(shape: ModelShape, adapted: frozenset[str], lora_r: int,
                               method: str = "lora") -> dict[str, int]:
    """LoRA parameters per role of the adapted linears (attention, mlp, expert, shared_expert)."""
    out: dict[str, int] = {}
    for lin, blocks in shape.layer_linears():
        if lin.key in adapted:
            n = lora_r * (lin.in_features + lin.out_features) * lin.copies * blocks
            if method == "dora" and not lin.fused:
                n += lin.out_features * lin.copies * blocks
            out[lin.role] = out.get(lin.role, 0) + n
    return out


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
        # bitsandbytes replaces nn.Linear only: fused expert parameters stay unquantized, and the
        # framework keeps them in the compute dtype where k-bit preparation would upcast them
        # (framework.methods.fused_expert_dtypes)
        quantizable = [(lin, blocks) for lin, blocks in shape.layer_linears() if not lin.fused]
        linear = sum(lin.numel * blocks for lin, blocks in quantizable)
        experts = sum(lin.numel * blocks for lin, blocks in shape.layer_linears() if lin.fused)
        rest_bytes = 4 if upcast_unquantized else b
        if method == "qlora":
            quantized = linear * NF4_BYTES_PER_WEIGHT
        else:
            rows = sum(lin.out_features * lin.copies * blocks for lin, blocks in quantizable)
            quantized = linear * INT8_BYTES_PER_WEIGHT + 4 * rows
        return int(quantized + experts * b + (total - linear - experts) * rest_bytes)
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
