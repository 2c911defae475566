"""Bytes kept for the backward pass: per-layer activations and the loss's logits.

The counts follow what autograd saves when transformers runs a pre-norm decoder block, tensor
by tensor (``bench/memory_peaks.py`` checks them against allocator peaks of tiny models;
docs/memory.md lists them). Per token and per block, with ``b`` the bytes of
the compute dtype:

* each RMS norm saves an fp32 view of its input (an upcast copy under 16-bit compute) and
  the per-token reciprocal RMS: ``4*d + 4``; its normalised output (``b*d``) only when the
  norm weight trains;
* attention saves the rotated queries and keys, the values, the output and an fp32
  log-sum-exp per head (flash/SDPA kernels, no ``seq x seq`` matrix): ``b*(2q + 2kv) + 4*heads``;
* the gated MLP saves the gate and up projections and the activated gate: ``3*m*f``, with
  ``m`` the dtype of the residual stream's side of the block (fp32 when k-bit preparation
  upcasts it: quantized linears return their input's dtype);
* a linear whose weight trains saves its input; linears reading one tensor (q, k and v read
  the norm output) share it. A frozen linear saves nothing.
* a LoRA adapter saves its input: the shared tensor when it runs in the compute dtype, else
  its own copy (peft keeps adapters in fp32 and, under 16-bit autocast, casts the input for
  each adapter), a dropout mask byte per element when dropout is on, and its rank-r output.

Gradient checkpointing keeps only each block's input (the residual stream) and recomputes one
block at a time in the backward pass, so one block's working set is alive at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from framework.planning.shapes import ModelShape

#: Gradient tensors alive while one block runs backward, per token, in compute-dtype elements
#: of width d and f (the incoming gradient of the residual and of the MLP branch), net of the
#: saved tensors the backward pass has already freed (fitted on the CPU benchmark).
BACKWARD_WIDTHS = (1, 1)  # (times hidden, times MLP width)

#: The loss holds fp32 log-probabilities, their incoming gradient and the outgoing gradient at
#: once while cross-entropy runs backward: 12 bytes per logit.
LOSS_BYTES_PER_LOGIT = 12


@dataclass(frozen=True)
class Regime:
    """Which tensors a training method keeps, in which dtype."""

    compute_bytes: int
    residual_bytes: int  # dtype of the residual stream (fp32 when k-bit preparation upcasts norms)
    norm_out_bytes: int  # dtype of the norm outputs that feed the linears
    mlp_bytes: int  # dtype of the MLP's intermediates (quantized linears return their input's dtype)
    block_weights_train: bool
    norms_train: bool
    head_trains: bool
    base_saves_input: bool  # a frozen quantized linear that still keeps its input (LLM.int8)
    adapted: frozenset[str] = frozenset()
    adapter_copy_bytes: int = 0  # 0: the adapter reuses the saved input; else bytes per element
    adapter_bytes: int = 4
    lora_r: int = 0
    cast_bytes: int = 0  # an adapter's transient upcast of its input (peft casts to the adapter dtype)
    dora: bool = False
    grad_layers: int = 0  # blocks the gradient runs through (all, or the top ones for `freeze`)


def block_bytes_per_token(shape: ModelShape, regime: Regime) -> float:
    """Bytes one decoder block saves per token for the backward pass."""
    d, b = shape.hidden, regime.compute_bytes
    total = shape.norms_per_layer * (4 * d + 4 + (b * d if regime.norms_train else 0))
    total += b * (2 * shape.q_width + 2 * shape.kv_width) + 4 * shape.heads
    total += 3 * regime.mlp_bytes * shape.mlp_width_per_token
    if shape.experts:  # router logits and their fp32 softmax
        total += shape.experts * (b + 4)
    site_widths = {"attn_in": d, "attn_out": shape.q_width, "mlp_in": d, "mlp_down": shape.mlp_width_per_token}
    site_bytes = {"attn_in": regime.norm_out_bytes, "attn_out": b, "mlp_in": regime.norm_out_bytes,
                  "mlp_down": regime.mlp_bytes}
    linears = [lin for lin in shape.linears() if lin.role != "router"]
    for site, width in site_widths.items():
        at_site = [lin for lin in linears if lin.site == site]
        adapted = [lin for lin in at_site if lin.key in regime.adapted and not lin.fused]
        # an adapted fused expert weight (peft's ParamWrapper) is W + BA, a tensor that needs its
        # gradient: its matmul saves the routed input, and no adapter input copy exists
        fused = any(lin.key in regime.adapted and lin.fused for lin in at_site)
        keeps_input = regime.block_weights_train or regime.base_saves_input or fused
        shares = keeps_input or (adapted and regime.adapter_copy_bytes == 0)
        if shares and site != "attn_out":  # the attention output is counted with attention
            total += width * site_bytes[site]
        for lin in adapted:
            passes = lin.active
            total += passes * (lin.in_features * regime.adapter_copy_bytes + regime.lora_r * regime.adapter_bytes)
            if regime.dora:  # the base and adapter outputs, both scaled by the trained magnitude
                total += passes * 2 * lin.out_features * b
    return total


def backward_working_bytes_per_token(shape: ModelShape, regime: Regime) -> float:
    """Gradients alive inside one block's backward pass, per token."""
    per_d, per_f = BACKWARD_WIDTHS
    return regime.compute_bytes * (per_d * shape.hidden + per_f * shape.mlp_width_per_token)


@dataclass(frozen=True)
class ActivationBytes:
    """Saved activations split by lifetime.

    ``kept`` lives from the forward pass to the block's own backward step: every block's saved
    tensors, or only the block inputs under checkpointing. ``working`` exists only while one
    block runs backward: the recomputed block under checkpointing, the gradients in flight and
    weight-sized temporaries. The loss's logits are freed before any block runs backward, so
    the backward peak is ``kept + max(logits, working)``.
    """

    kept: int
    working: int

    @property
    def total(self) -> int:
        return self.kept + self.working


def activation_bytes(shape: ModelShape, regime: Regime, *, micro_batch: int, seq_len: int,
                     grad_checkpointing: bool, attn_implementation: str, packed: bool,
                     softcapping: bool, scratch: int = 0) -> ActivationBytes:
    """Activation bytes of one micro batch, split into kept and per-block working memory."""
    tokens = micro_batch * seq_len
    layers = regime.grad_layers
    if layers == 0:
        return ActivationBytes(0, 0)
    block = block_bytes_per_token(shape, regime)
    attention_matrix = _attention_matrix_bytes(shape, regime, micro_batch, seq_len, attn_implementation, softcapping)
    working = tokens * backward_working_bytes_per_token(shape, regime) + scratch
    if grad_checkpointing:
        kept = tokens * layers * shape.hidden * regime.residual_bytes
        # The recomputed block ends at the widest adapter: its input (not saved when the adapter
        # keeps its own copy) and that input's upcast are alive next to the saved tensors.
        widest = max((lin.in_features for lin in shape.linears() if lin.key in regime.adapted and not lin.fused),
                     default=0)
        local = regime.mlp_bytes if regime.adapter_copy_bytes else 0
        working = max(working, tokens * (regime.cast_bytes + local) * widest) + tokens * block + attention_matrix
    else:
        kept = tokens * layers * block + layers * attention_matrix
    # final norm (and the head's input when the head trains), and the token ids of the embedding
    b = regime.compute_bytes
    kept += tokens * (4 * shape.hidden + 4 + (b * shape.hidden if regime.norms_train else 0))
    kept += tokens * (b * shape.hidden if regime.head_trains else 0) + 8 * tokens
    kept += _mask_bytes(micro_batch, seq_len, attn_implementation, packed)
    return ActivationBytes(int(kept), int(working))


def _attention_matrix_bytes(shape: ModelShape, regime: Regime, micro_batch: int, seq_len: int,
                            attn_implementation: str, softcapping: bool) -> float:
    """The eager kernel keeps the fp32 softmax and its 16-bit cast per head: seq x seq each."""
    if attn_implementation != "eager":
        return 0.0
    per_element = 4 + regime.compute_bytes + (2 * regime.compute_bytes if softcapping else 0)
    return micro_batch * shape.heads * seq_len * seq_len * per_element


def _mask_bytes(micro_batch: int, seq_len: int, attn_implementation: str, packed: bool) -> int:
    """SDPA and eager get a boolean mask: one block-diagonal matrix over a packed row."""
    if attn_implementation == "flash_attention_2":
        return 0
    if packed:
        return (micro_batch * seq_len) ** 2
    return micro_batch * seq_len * seq_len


def logits_bytes(shape: ModelShape, *, tokens: int, compute_bytes: int, chunked: bool, chunk_size: int,
                 softcapping: bool) -> int:
    """Peak bytes of the output head and loss.

    The plain loss materialises ``[tokens x vocab]`` logits; cross-entropy keeps fp32
    log-probabilities for backward, where their incoming and outgoing fp32 gradients join them
    (the 16-bit logits and their fp32 upcast are freed once the loss is computed: the trainer
    drops the model output before calling backward). The chunked loss gathers the labelled
    positions and runs the head over one chunk of them at a time under checkpointing, so only
    one chunk's fp32 tensors exist; it keeps the gathered hidden states and their gradient.
    """
    per_logit = LOSS_BYTES_PER_LOGIT + (8 if softcapping else 0)
    if chunked:
        rows = min(chunk_size, tokens)
        return int(rows * shape.vocab * per_logit + 2 * tokens * shape.hidden * compute_bytes)
    return int(tokens * shape.vocab * per_logit)
