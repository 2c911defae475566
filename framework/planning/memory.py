"""Peak accelerator memory of one training step, computed offline from the config alone.

``estimate`` adds what stays resident (weights, adapters, optimizer states, CUDA context) to
the larger of the two peaks of a step: the start of the backward pass, where every saved
activation and the loss's logits are alive, and the optimizer step, where the gradients and
the optimizer's scratch are alive but the activations are gone. Which transformers/peft
behaviour each term follows, and how the result compares with measured peaks, is written in
docs/memory.md; the terms themselves are in ``activations`` and ``trainables``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Sequence

from framework.errors import ConfigError
from framework.hookdata import ModelFacts
from framework.planning.activations import ActivationBytes, Regime, activation_bytes, logits_bytes
from framework.planning.bottleneck import bottleneck_activations
from framework.planning.shapes import ModelShape, parameter_count, shape_from_facts
from framework.planning.sizes import MIB, format_bytes, parse_size
from framework.planning.trainables import (
    DTYPE_BYTES,
    Trainables,
    optimizer_bytes,
    optimizer_step_bytes,
    resolve_targets,
    trainables_for,
    weight_bytes,
)

Method = Literal[
    "full", "freeze", "lora", "dora", "rslora", "qlora", "qlora8", "prefix", "prompt", "ptuning", "hybrid", "adapter"
]
Optimizer = Literal["adamw", "adamw_fused", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit"]
ComputeDtype = Literal["bf16", "fp16", "fp32"]
AttnImplementation = Literal["flash_attention_2", "sdpa", "eager"]

METHODS = ("full", "freeze", "lora", "dora", "rslora", "qlora", "qlora8", "prefix", "prompt", "ptuning", "hybrid",
           "adapter")
ADAPTER_METHODS = frozenset({"lora", "dora", "rslora", "qlora", "qlora8"})
PROMPT_METHODS = frozenset({"prefix", "prompt", "ptuning"})
OPTIMIZERS = ("adamw", "adamw_fused", "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit")

#: CUDA context, cuBLAS workspaces and the kernels loaded at start: a few hundred MiB with
#: lazy module loading, outside what torch's allocator reports.
CUDA_CONTEXT_BYTES = 512 * MIB
#: Caching-allocator slack on the memory that is allocated and freed every step.
FRAGMENTATION = 0.05

BREAKDOWN_ORDER = ("weights", "adapter_weights", "gradients", "optimizer", "optimizer_step", "activations",
                   "autocast_weights", "logits", "communication", "reference", "generation", "overhead")


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of one training step, in bytes, with the terms that make it up.

    ``total`` is not the sum of ``breakdown``: gradients and the optimizer's scratch
    (``optimizer_step``) peak after the activations and logits are freed, so only the larger
    of the two phases counts (see the module docstring).
    """

    method: str
    breakdown: dict[str, int]
    total: int
    assumptions: tuple[str, ...]
    parts: Parts | None = field(default=None, repr=False, compare=False)

    def table(self) -> list[tuple[str, str]]:
        """Rows for a plan: each non-zero term, then the peak, e.g. ("weights", "14.96 GiB")."""
        rows = [(key, format_bytes(self.breakdown[key])) for key in BREAKDOWN_ORDER if self.breakdown.get(key)]
        rows.append(("peak", format_bytes(self.total)))
        return rows

    @property
    def without_context(self) -> int:
        """The peak as the accelerator's allocator would count it: no context, no slack."""
        return self.total - self.breakdown["overhead"]


def estimate(
    facts: ModelFacts,
    *,
    method: str,
    micro_batch: int,
    seq_len: int,
    grad_checkpointing: bool = True,
    optimizer: str = "adamw",
    compute_dtype: str = "bf16",
    lora_r: int = 16,
    lora_targets: Sequence[str] | str | None = None,
    lora_parameters: Sequence[str] = (),
    freeze_trainable_layers: int = 2,
    packed: bool = True,
    chunked_loss: bool = True,
    lora_dropout: float = 0.0,
    loss_chunk_size: int = 1024,
    attn_implementation: str = "flash_attention_2",
    adapter_dtype: Literal["fp32", "compute"] = "fp32",
    upcast_unquantized: bool = True,
    num_virtual_tokens: int = 16,
    adapter_dim: int = 64,
    adapters_per_layer: int = 2,
) -> MemoryEstimate:
    """Peak memory of a training step of ``method`` on the model the facts describe.

    Args:
        facts: the model's config facts (only shapes are read).
        method: full, freeze, lora, dora, rslora, qlora (4-bit NF4, double quantization),
            qlora8 (LLM.int8), prefix, prompt, ptuning, or hybrid (full, then LoRA).
        micro_batch: samples per forward pass; each sample is ``seq_len`` tokens (packed rows
            are full; padded batches are sized by their longest row).
        seq_len: tokens per sample.
        grad_checkpointing: recompute each block in the backward pass.
        optimizer: adamw (torch's default multi-tensor kernel on CUDA, one state-sized scratch
            in the step), adamw_fused, adamw_8bit / paged_adamw_8bit (bitsandbytes
            block-wise 8-bit states), paged_adamw_32bit. Paged states are counted as resident.
        compute_dtype: bf16 trains bf16 weights and states (a bf16-loaded model under the
            Trainer); fp16 keeps fp32 master weights for full training (a gradient scaler
            refuses fp16 gradients) and autocasts; fp32 is plain fp32.
        lora_r: adapter rank.
        lora_targets: module names (q_proj ... down_proj), "all-linear", or one regex over
            full module names; None targets every linear of the blocks, fused experts included.
        lora_parameters: parameter names adapted through peft's ``target_parameters`` (the
            fused MoE experts, e.g. ``mlp.experts.gate_up_proj``), as the plugin names them.
        freeze_trainable_layers: top blocks trained by ``freeze``.
        packed: padding-free packing (one block-diagonal mask per row under SDPA).
        chunked_loss: the framework's labelled-only chunked loss instead of full logits.
        lora_dropout: dropout on the adapter input (adds a mask byte per saved element).
        loss_chunk_size: labelled positions per logits chunk of the chunked loss.
        attn_implementation: flash_attention_2, sdpa (both keep no seq x seq matrix), eager.
        adapter_dtype: fp32 (peft's default: adapters stay fp32 and each reads a cast copy of
            its input) or compute (adapters in the compute dtype, as other trainers build them).
        upcast_unquantized: k-bit preparation casts embeddings, head and norms to fp32 (peft's
            ``prepare_model_for_kbit_training``, which makes the residual stream fp32 too).
        num_virtual_tokens: virtual tokens of prefix/prompt/P-tuning.
        adapter_dim: bottleneck size of ``adapter`` (framework.bottleneck).
        adapters_per_layer: bottleneck adapters per block (2: after attention and MLP; 1: MLP only).
    """
    _check(method, optimizer, compute_dtype, attn_implementation, micro_batch, seq_len, lora_r)
    if method == "hybrid":
        full = estimate(facts, method="full", micro_batch=micro_batch, seq_len=seq_len,
                        grad_checkpointing=grad_checkpointing, optimizer=optimizer, compute_dtype=compute_dtype,
                        packed=packed, chunked_loss=chunked_loss, loss_chunk_size=loss_chunk_size,
                        attn_implementation=attn_implementation)
        return replace(full, method="hybrid",
                       assumptions=full.assumptions + ("hybrid: the full phase is the peak; the LoRA phase needs less",))
    shape = shape_from_facts(facts)
    adapted = resolve_targets(lora_targets, shape, lora_parameters) if method in ADAPTER_METHODS else frozenset()
    train = trainables_for(shape, method=method, compute_dtype=compute_dtype, adapted=adapted, lora_r=lora_r,
                           adapter_dtype=adapter_dtype, freeze_layers=freeze_trainable_layers,
                           num_virtual_tokens=num_virtual_tokens, adapter_dim=adapter_dim,
                           adapters_per_layer=adapters_per_layer)
    regime = _regime(shape, method, compute_dtype, train, adapted, lora_r, lora_dropout, adapter_dtype,
                     upcast_unquantized, freeze_trainable_layers)
    extra_tokens = num_virtual_tokens if method in PROMPT_METHODS else 0
    if method in PROMPT_METHODS:
        chunked_loss = False  # the chunked loss needs the plain decoder; prompt learning changes its inputs
    softcap = bool(facts.final_logit_softcapping)
    tokens = micro_batch * (seq_len + extra_tokens)
    acts = activation_bytes(shape, regime, micro_batch=micro_batch, seq_len=seq_len + extra_tokens,
                            grad_checkpointing=grad_checkpointing, attn_implementation=attn_implementation,
                            packed=packed, softcapping=bool(facts.attn_logit_softcapping),
                            scratch=_scratch_weights(shape, method, regime))
    if method == "adapter":
        acts = bottleneck_activations(acts, shape, tokens=micro_batch * seq_len, dim=adapter_dim,
                                      per_layer=adapters_per_layer, grad_checkpointing=grad_checkpointing)
    acts = _with_merged_experts(acts, shape, adapted, grad_checkpointing, DTYPE_BYTES[compute_dtype])
    logits = logits_bytes(shape, tokens=tokens, compute_bytes=DTYPE_BYTES[compute_dtype], chunked=chunked_loss,
                          chunk_size=loss_chunk_size, softcapping=softcap)
    autocast_weights = train.count * 2 if (compute_dtype == "fp16" and method in ("full", "freeze")) else 0
    parts = Parts(
        weights=weight_bytes(shape, method=method, compute_dtype=compute_dtype, train=train,
                             upcast_unquantized=upcast_unquantized),
        adapter_weights=train.bytes if (method in ADAPTER_METHODS or method in PROMPT_METHODS
                                        or method == "adapter") else 0,
        gradients=train.bytes,
        optimizer=optimizer_bytes(train, optimizer),
        optimizer_step=optimizer_step_bytes(train, optimizer),
        kept=acts.kept,
        working=acts.working,
        inflight=_inflight_gradient_bytes(shape, method, train),
        logits=logits,
        autocast_weights=autocast_weights,
    )
    notes = _assumptions(method, compute_dtype, optimizer, grad_checkpointing, chunked_loss, attn_implementation,
                         adapter_dtype, upcast_unquantized)
    if any(lin.fused and lin.key in adapted for lin in shape.linears()):
        notes += ("fused expert adapters (peft target_parameters): each forward builds W + BA of a block's "
                  "expert weights, kept for its backward" + (" (one block at a time under checkpointing)"
                                                             if grad_checkpointing else " in every block"),)
    if method in ("qlora", "qlora8") and shape.experts:
        notes += ("fused expert weights are not nn.Linear: bitsandbytes leaves them unquantized, kept in the "
                  "compute dtype",)
    return assemble(method, parts, notes)


def _with_merged_experts(acts: ActivationBytes, shape: ModelShape, adapted: frozenset[str],
                         grad_checkpointing: bool, weight_bytes_each: int) -> ActivationBytes:
    """peft's ParamWrapper adapts a fused expert weight by parametrization: the forward computes
    ``W + scale * B @ A`` (a new tensor the size of all the block's experts, in the weight's
    dtype) and the expert matmuls keep slices of it for the backward pass, where the gradient of
    that sum (the same size) is formed before it reaches A and B. Under checkpointing one
    block's sums exist at a time, beside the gradient of the largest; otherwise every block's."""
    fused = [lin.numel for lin in shape.linears() if lin.fused and lin.key in adapted]
    if not fused:
        return acts
    block = sum(fused) * weight_bytes_each
    gradient = max(fused) * weight_bytes_each
    if grad_checkpointing:
        return ActivationBytes(acts.kept, acts.working + block + gradient)
    return ActivationBytes(acts.kept + shape.moe_blocks * block, acts.working + gradient)


@dataclass(frozen=True)
class Parts:
    """The terms of a step's memory before they are combined into a peak (bytes)."""

    weights: int
    adapter_weights: int
    gradients: int
    optimizer: int
    optimizer_step: int
    kept: int  # activations alive from the forward pass to their block's backward
    working: int  # activations alive while one block runs backward
    inflight: int  # gradients already written while a block runs backward
    logits: int
    autocast_weights: int
    communication: int = 0  # collective buffers of multi-accelerator training

    def resident(self) -> int:
        return self.weights + self.adapter_weights + self.optimizer + self.communication

    def backward_peak(self) -> int:
        """Kept activations plus the larger of the loss's logits and one block's backward."""
        return self.kept + max(self.logits, self.working + self.inflight) + self.autocast_weights

    def step_peak(self) -> int:
        return self.gradients + self.optimizer_step


def assemble(method: str, parts: Parts, notes: Sequence[str]) -> MemoryEstimate:
    """Combine the terms: resident memory plus the larger phase, plus context and slack."""
    backward, step = parts.backward_peak(), parts.step_peak()
    dynamic = max(backward, step)
    overhead = int(CUDA_CONTEXT_BYTES + FRAGMENTATION * dynamic)
    breakdown = {
        "weights": parts.weights,
        "adapter_weights": parts.adapter_weights,
        "gradients": parts.gradients,
        "optimizer": parts.optimizer,
        "optimizer_step": parts.optimizer_step,
        "activations": parts.kept + parts.working,
        "autocast_weights": parts.autocast_weights,
        "logits": parts.logits,
        "communication": parts.communication,
        "overhead": overhead,
    }
    phase = ("peak at the start of the backward pass (activations, logits); the optimizer step needs less"
             if backward >= step else
             "peak at the optimizer step (gradients, optimizer scratch); the backward pass needs less")
    return MemoryEstimate(method=method, breakdown=breakdown, total=int(parts.resident() + dynamic + overhead),
                          assumptions=(notes[0], phase, *notes[1:]), parts=parts)


def _check(method: str, optimizer: str, compute_dtype: str, attn: str, micro_batch: int, seq_len: int,
           lora_r: int) -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r} for the memory planner", hint=f"one of: {', '.join(METHODS)}")
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {optimizer!r} for the memory planner",
                          hint=f"one of: {', '.join(OPTIMIZERS)}")
    if compute_dtype not in DTYPE_BYTES:
        raise ConfigError(f"unknown compute dtype {compute_dtype!r}", hint="one of: bf16, fp16, fp32")
    if attn not in ("flash_attention_2", "sdpa", "eager"):
        raise ConfigError(f"unknown attention implementation {attn!r}", hint="flash_attention_2, sdpa or eager")
    if micro_batch < 1 or seq_len < 1 or lora_r < 1:
        raise ConfigError("micro batch, sequence length and LoRA rank must be positive")


def _regime(shape: ModelShape, method: str, compute_dtype: str, train: Trainables, adapted: frozenset[str],
            lora_r: int, lora_dropout: float, adapter_dtype: str, upcast_unquantized: bool,
            freeze_layers: int) -> Regime:
    b = DTYPE_BYTES[compute_dtype]
    quantized = method in ("qlora", "qlora8")
    wide = 4 if (b == 4 or (quantized and upcast_unquantized)) else b
    adapter_bytes = 4 if (adapter_dtype == "fp32" or b == 4) else b
    dropout = 1 if lora_dropout > 0 else 0
    if adapter_bytes > b:  # 16-bit autocast: each adapter casts its fp32 copy back to 16 bits and keeps it
        copy = b + dropout
    else:  # same dtype: the adapter reuses the saved input unless dropout makes a new tensor
        copy = adapter_bytes + dropout if dropout else 0
    full_like = method in ("full", "freeze")
    return Regime(
        compute_bytes=b,
        residual_bytes=wide,
        norm_out_bytes=wide,
        mlp_bytes=wide,
        block_weights_train=full_like,
        norms_train=full_like,
        head_trains=method == "full",
        base_saves_input=method == "qlora8",
        adapted=adapted,
        adapter_copy_bytes=copy if adapted else 0,
        adapter_bytes=adapter_bytes,
        lora_r=lora_r,
        cast_bytes=adapter_bytes if (adapted and adapter_bytes > wide) else 0,
        dora=method == "dora",
        grad_layers=min(freeze_layers, shape.layers) if method == "freeze" else shape.layers,
    )


def _inflight_gradient_bytes(shape: ModelShape, method: str, train: Trainables) -> int:
    """Gradients already written when a block runs backward: the head's and that block's."""
    if method in ("full", "freeze"):
        head = (shape.head_parameters() or shape.embedding_parameters()) if method == "full" else 0
        return (shape.block_parameters() + head) * train.param_bytes
    return train.bytes


def _scratch_weights(shape: ModelShape, method: str, regime: Regime) -> int:
    """Weight-sized temporaries of one linear at a time.

    A 4-bit linear dequantizes its weight to the compute dtype for each matmul. peft's DoRA
    rebuilds the adapter's update through an ``in x in`` identity and takes the column norm of
    the fp32 base weight plus that update: about ``in^2 + 3*in*out`` fp32 elements.
    """
    if method == "qlora":
        largest = max(lin.in_features * lin.out_features for lin in shape.linears() if not lin.fused)
        return 2 * largest * regime.compute_bytes
    if method == "dora":
        linears = [lin for lin in shape.linears() if not lin.fused]
        adapted = [lin for lin in linears if lin.key in regime.adapted] or linears
        return max((lin.in_features ** 2 + 3 * lin.in_features * lin.out_features) * 4 for lin in adapted)
    return 0


def _assumptions(method: str, compute_dtype: str, optimizer: str, grad_checkpointing: bool, chunked_loss: bool,
                 attn: str, adapter_dtype: str, upcast: bool) -> tuple[str, ...]:
    notes = [
        "transformers + peft on CUDA; activations of a pre-norm decoder counted tensor by tensor",
        f"CUDA context {format_bytes(CUDA_CONTEXT_BYTES)} plus {FRAGMENTATION:.0%} allocator slack on per-step memory",
    ]
    if method in ("full", "freeze"):
        notes.append({"bf16": "bf16 weights, gradients and AdamW states (no fp32 master copy)",
                      "fp16": "fp32 master weights with fp16 autocast (a gradient scaler needs fp32 weights)",
                      "fp32": "fp32 weights, gradients and states"}[compute_dtype])
    if method in ADAPTER_METHODS:
        notes.append("adapters in fp32, each reading its own 16-bit copy of its input under autocast"
                     if adapter_dtype == "fp32" and compute_dtype != "fp32" else "adapters in the compute dtype")
    if method == "adapter":
        notes.append("bottleneck adapters in fp32 after the block's sublayers; each keeps an fp32 copy of its "
                     "input and its two bottleneck-wide intermediates")
    if method == "qlora":
        notes.append("NF4 with double quantization: 4.13 bits per quantized weight")
    if method in ("qlora", "qlora8") and upcast:
        notes.append("k-bit preparation keeps embeddings, head and norms in fp32 (fp32 residual stream)")
    notes.append({"adamw": "AdamW multi-tensor kernel: one state-sized scratch during the step",
                  "adamw_fused": "fused AdamW: no scratch in the step",
                  "adamw_8bit": "8-bit block-wise AdamW states (fp32 for tensors under 4096 elements)",
                  "paged_adamw_8bit": "paged 8-bit AdamW states, counted as resident",
                  "paged_adamw_32bit": "paged fp32 AdamW states, counted as resident"}[optimizer])
    notes.append("gradient checkpointing: block inputs kept, one block recomputed at a time"
                 if grad_checkpointing else "no gradient checkpointing: every block's activations kept")
    notes.append("chunked labelled-only loss: one chunk of fp32 logits at a time" if chunked_loss
                 else "plain loss: full [tokens x vocab] logits plus fp32 log-probabilities and gradients")
    notes.append({"flash_attention_2": "flash-attention: no seq x seq tensor",
                  "sdpa": "SDPA kernel: no seq x seq scores, a boolean mask per row",
                  "eager": "eager attention: fp32 softmax and its cast kept per head (seq x seq)"}[attn])
    return tuple(notes)


__all__ = ["MemoryEstimate", "Method", "estimate", "parameter_count", "parse_size"]
