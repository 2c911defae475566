"""Causal-LM loss computed only where labels exist, in chunks.

The plain way computes logits for every position ([tokens x vocab], fp32 for the loss) and
then ignores most of them (prompts, padding). With 128k-256k vocabularies that tensor is the
largest allocation of a LoRA step. Here the decoder's hidden states are gathered at labelled
positions only, and the output head runs over chunks of them; each chunk's gradient
(softmax minus one-hot, times the head) is computed right after its loss, in the forward
pass, so at most one chunk of logits exists at any time, nothing of it is kept for the
backward pass and nothing is recomputed (the fused linear cross-entropy of Liger and CCE,
in plain torch). Compared with checkpointing each chunk, that saves the recomputed head
matmul, the largest matmul of a small model's step. The loss value is the same as the
model's own (sum of token losses over the number of labelled tokens).

On the CPU a frozen head (LoRA, QLoRA: the usual case) goes further: no logits chunk exists at
all. Its only gradient, ``softmax(h W^T) W - W[target]``, is attention with the head weight as
keys and values, and torch's CPU flash-attention kernel computes it, with the log-sum-exp the
loss needs, vocabulary tile by tile in cache (``frozen_head_loss``); optionally with bf16 GEMM
operands on CPUs that multiply bf16 natively (AMX, AVX512-BF16).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn.functional as F

from framework.chat import IGNORE_INDEX


def causal_lm(model: Any) -> Any:
    """The transformers causal-LM module under any peft wrapping."""
    inner = model
    if hasattr(inner, "get_base_model"):
        inner = inner.get_base_model()
    return inner


def decoder_of(lm: Any) -> Any | None:
    """The decoder stack under a causal LM's head, or None when it cannot be told apart.

    ``get_decoder()`` falls back to the model itself when ``base_model_prefix`` names no
    attribute of the causal-LM class (seen with text-only classes of multimodal families); the
    stack is then the conventional ``model`` attribute. Calling the causal LM as its own decoder
    would return logits, not hidden states.
    """
    decoder = lm.get_decoder() if hasattr(lm, "get_decoder") else None
    if decoder is lm:
        decoder = getattr(lm, "model", None)
    return decoder if decoder is not None and decoder is not lm else None


def supports_chunked_loss(model: Any) -> bool:
    """Whether this model's logits are exactly ``head(decoder(x))`` (softcapping handled here)."""
    lm = causal_lm(model)
    config = getattr(lm, "config", None)
    if getattr(config, "logit_scale", None) not in (None, 1, 1.0):
        return False
    active = getattr(model, "active_peft_config", None)  # on the peft wrapper, not the inner model
    if active is not None and getattr(active, "is_prompt_learning", False):
        return False  # virtual tokens are prepended inside the wrapper's forward
    return decoder_of(lm) is not None and lm.get_output_embeddings() is not None


#: Batch keys the decoder takes: ids, mask, positions, and the flash-attention varlen boundaries
#: of a packed batch (``PackingCollator(flash_kwargs=True)``; SDPA and eager ignore them).
DECODER_INPUTS = ("input_ids", "attention_mask", "position_ids", "cu_seq_lens_q", "cu_seq_lens_k",
                  "max_length_q", "max_length_k")

#: fp32 logits elements per chunk (128 MiB): keeps one chunk small even for 256k vocabularies.
CHUNK_ELEMENTS = 2**25


def effective_chunk_size(requested: int, vocab_size: int) -> int:
    """Labelled positions per chunk: the requested size, capped so a chunk's logits stay ~128 MiB."""
    return max(64, min(requested, CHUNK_ELEMENTS // max(1, vocab_size)))


_WORKSPACE: list[torch.Tensor] = []


def _cpu_workspace(rows: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two fp32 [rows x vocab] buffers (logits, log-probabilities) kept for every chunk and step.

    On CPU a fresh 128 MiB tensor is a fresh mmap whose every page faults and is zeroed on
    first touch; that costs a third of the matmul that fills it, twice per chunk. CUDA's
    caching allocator already reuses blocks, so only the CPU path keeps buffers.
    """
    size = rows * vocab
    if not _WORKSPACE or _WORKSPACE[0].numel() < size:
        _WORKSPACE[:] = [torch.empty(size, dtype=torch.float32) for _ in range(2)]
    return _WORKSPACE[0][:size].view(rows, vocab), _WORKSPACE[1][:size].view(rows, vocab)


class LinearCrossEntropy(torch.autograd.Function):
    """Summed cross entropy of ``hidden @ weight.T + bias`` against ``targets``, chunk by chunk.

    Forward computes each chunk's logits (fp32), its loss and, when gradients are wanted, its
    gradients with respect to hidden, weight and bias (``with_grads``: the caller's grad mode,
    since grad mode is always off inside ``forward``); backward only scales them by the
    incoming gradient. Softcapping (``cap * tanh(z / cap)``) is differentiated here too.

    ``compute_dtype`` is the dtype of the head's matmuls (the caller's autocast dtype): QLoRA
    keeps the head in fp32 (``prepare_model_for_kbit_training``) and its hidden states fp32, so
    without it the [labelled x vocab] GEMMs, the largest of a step, would run in plain fp32.
    Softmax and loss stay fp32; the gradients are returned in the inputs' own dtypes.
    """

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                targets: torch.Tensor, chunk_size: int, softcap: float | None, with_grads: bool,
                compute_dtype: torch.dtype | None = None) -> torch.Tensor:
        want_hidden, want_weight = with_grads and ctx.needs_input_grad[0], with_grads and ctx.needs_input_grad[1]
        want_bias = with_grads and bias is not None and ctx.needs_input_grad[2]
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        grad_weight = torch.zeros_like(weight) if want_weight else None
        grad_bias = torch.zeros_like(bias) if want_bias else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        compute = compute_dtype or weight.dtype
        if not want_weight and not want_bias and frozen_head_applies(hidden, bias, softcap, compute):
            # training with a frozen head, and every evaluation: no [chunk x vocab] logits either way
            with torch.autocast(hidden.device.type, enabled=False):
                total, grad_hidden = frozen_head_loss(hidden, weight, targets, compute)
            if want_hidden:
                ctx.save_for_backward(grad_hidden)
            ctx.wanted = (want_hidden, False, False)
            return total
        w = weight if weight.dtype == compute else weight.to(compute)  # cast once, not once per chunk
        b = bias if bias is None or bias.dtype == compute else bias.to(compute)
        reuse = hidden.device.type == "cpu" and compute == torch.float32 and hidden.dtype == torch.float32
        with torch.autocast(hidden.device.type, enabled=False):  # the dtypes are explicit from here on
            for start in range(0, hidden.shape[0], chunk_size):
                total -= _chunk(hidden, w, b, targets, start, chunk_size, softcap, reuse,
                                grad_hidden, grad_weight, grad_bias)
        ctx.save_for_backward(*(g for g in (grad_hidden, grad_weight, grad_bias) if g is not None))
        ctx.wanted = (want_hidden, want_weight, want_bias)
        return total

    @staticmethod
    def backward(ctx: Any, grad_total: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        saved = iter(ctx.saved_tensors)
        grads = [next(saved) * grad_total if wanted else None for wanted in ctx.wanted]
        return (*grads, None, None, None, None, None)


def attention_applies(hidden: torch.Tensor, compute: torch.dtype) -> bool:
    """Whether ``frozen_head_loss`` can run: a CPU tensor in fp32 or bf16, and torch's CPU flash kernel."""
    return (hidden.device.type == "cpu" and compute in (torch.float32, torch.bfloat16)
            and hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"))


def frozen_head_applies(hidden: torch.Tensor, bias: torch.Tensor | None, softcap: float | None,
                        compute: torch.dtype) -> bool:
    """Whether a frozen head's loss can run as attention: no bias, no soft-cap (neither is in the
    kernel's softmax) and ``attention_applies``. The run's bf16 choice and the loss itself ask the same."""
    return bias is None and not softcap and attention_applies(hidden, compute)


_HEAD_COPY: dict[str, Any] = {}


def head_copy(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``weight`` in ``dtype``, cast once and kept while the weight is unchanged (a frozen head: once per run).

    Kept for this very tensor (a weak reference: a new model's head at the same address is cast
    anew, and the copy goes when the weight does), its storage and its version counter (bumped by
    every in-place write, an optimiser's included), so a trained or replaced weight is never
    served a stale copy.
    """
    if weight.dtype == dtype:
        return weight
    source = _HEAD_COPY.get("source")
    key = (weight.data_ptr(), weight._version, dtype)
    if source is None or source() is not weight or _HEAD_COPY.get("key") != key:
        _HEAD_COPY.clear()  # at most one copy alive: the previous one is freed first

        def forget(ref: weakref.ref) -> None:
            if _HEAD_COPY.get("source") is ref:
                _HEAD_COPY.clear()

        _HEAD_COPY.update(source=weakref.ref(weight, forget), key=key, copy=weight.detach().to(dtype))
    return _HEAD_COPY["copy"]


def frozen_head_loss(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                     compute: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross entropy of ``hidden @ weight.T`` and its gradient for ``hidden``, never holding logits.

    With the head frozen, the only gradient is ``softmax(h W^T) W - W[target]``, and
    ``softmax(h W^T) W`` is attention with the head weight as both keys and values (scale 1).
    torch's CPU flash-attention kernel computes it vocabulary tile by vocabulary tile with an
    online log-sum-exp, in cache, and returns the log-sum-exp too: the loss of a row is
    ``lse - h . W[target]``. Compared with the chunked logits path this drops the
    [rows x vocab] fp32 buffers and their memory traffic (log-softmax, exp, the second GEMM's
    read), which on two CPU cores cost as much as the GEMMs. Accumulation is fp32 in both compute
    dtypes; in bf16 the GEMM operands are bf16 (AMX where the CPU has it) and the frozen weight's
    bf16 copy is made once (``head_copy``). The loss and gradient are those of the operands in
    ``compute``; the gradient comes back in ``hidden``'s dtype.
    """
    kernel = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    w = head_copy(weight, compute)
    keys = w[None, None]
    query = hidden.to(compute)
    picked = w[targets]
    # one call for all rows: the kernel splits them into blocks of 256 rows from 768 rows on (64 or
    # 32 below), shares the blocks among threads and keeps its per-thread buffers small
    out, lse = kernel(query[None, None], keys, keys, 0.0, False, attn_mask=None, scale=1.0)
    total = lse.sum(dtype=torch.float32) - (query.float() * picked.float()).sum()
    grad = out[0, 0].float().sub_(picked.float()) if compute != torch.float32 else out[0, 0].sub_(picked)
    return total, grad.to(hidden.dtype)


def _chunk(hidden: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, targets: torch.Tensor, start: int,
           chunk_size: int, softcap: float | None, reuse: bool, grad_hidden: torch.Tensor | None,
           grad_weight: torch.Tensor | None, grad_bias: torch.Tensor | None) -> torch.Tensor:
    """One chunk of ``LinearCrossEntropy``: returns its summed log-likelihood, adds its gradients."""
    piece, goal = hidden[start : start + chunk_size], targets[start : start + chunk_size]
    piece = piece if piece.dtype == w.dtype else piece.to(w.dtype)
    log_probs = None
    if reuse:
        buffers = _cpu_workspace(min(chunk_size, hidden.shape[0]), w.shape[0])
        logits, log_probs = (buffer[: goal.shape[0]] for buffer in buffers)
        if b is None:
            torch.mm(piece, w.t(), out=logits)
        else:
            torch.addmm(b, piece, w.t(), out=logits)
    else:
        logits = F.linear(piece, w, b).float()
    squash = None
    if softcap:
        squash = torch.tanh(logits / softcap)
        logits = squash * softcap
    if log_probs is None:
        log_probs = torch.log_softmax(logits, dim=-1)
    else:
        torch.log_softmax(logits, dim=-1, out=log_probs)
    del logits
    rows = torch.arange(goal.shape[0], device=goal.device)
    picked = log_probs[rows, goal].sum()
    if grad_hidden is None and grad_weight is None and grad_bias is None:
        return picked
    grad = log_probs.exp_()  # softmax, in place
    grad[rows, goal] -= 1.0
    if squash is not None:
        grad.mul_(squash.mul_(squash).neg_().add_(1.0))
    if grad_bias is not None:
        grad_bias.add_(grad.sum(0))
    grad = grad.to(w.dtype)
    end = start + goal.shape[0]
    if grad_hidden is not None:
        if grad_hidden.dtype == w.dtype:
            torch.mm(grad, w, out=grad_hidden[start:end])
        else:
            grad_hidden[start:end] = torch.mm(grad, w)
    if grad_weight is not None:
        if grad_weight.dtype == w.dtype:
            grad_weight.addmm_(grad.t(), piece)
        else:  # an fp32 head trained under autocast: the chunk's product, then accumulated in fp32
            grad_weight.add_(torch.mm(grad.t(), piece))
    return picked


def chunked_causal_lm_loss(
    model: Any,
    inputs: dict[str, torch.Tensor],
    *,
    chunk_size: int = 1024,
    num_items_in_batch: torch.Tensor | int | None = None,
    head_dtype: torch.dtype | None = None,
    frozen_head_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Mean next-token loss over labelled positions, without materialising full logits.

    Args:
        model: a causal LM, possibly wrapped by peft (LoRA, DoRA...).
        inputs: ``input_ids``, ``labels`` and optionally ``attention_mask``/``position_ids``.
        chunk_size: labelled positions per logits chunk.
        num_items_in_batch: labelled tokens across the whole accumulated batch (the
            Trainer's normaliser); the per-batch count when None.
        head_dtype: dtype of the head/loss-chunk matmuls when no autocast sets one (bf16 on a
            CPU with AMX: ~3x the fp32 GEMM rate, fp32 accumulation; the decoder, softmax, loss
            and the gradients returned stay in their own dtypes). None: the head's own dtype.
        frozen_head_dtype: the same, but only for a frozen, bias-free, uncapped head on the CPU,
            which runs as attention (``frozen_head_loss``); a trained head keeps its own dtype
            (the run's ``training.cpu_bf16_head`` decision, ``framework.kernels.cpu_head_dtype``).
    """
    from framework import moe

    lm = causal_lm(model)
    labels = inputs["labels"]
    forward_kwargs = {k: v for k, v in inputs.items() if k in DECODER_INPUTS}
    router = moe.wanted(lm)  # the causal LM's forward would add the router loss: so does this one
    if router:
        forward_kwargs["output_router_logits"] = True
    output = decoder_of(lm)(**forward_kwargs, use_cache=False)
    hidden = output.last_hidden_state
    aux = moe.aux_loss(lm, output, inputs.get("attention_mask")) if router else None
    shift_hidden = hidden[:, :-1, :]
    shift_labels = labels[:, 1:]
    mask = shift_labels != IGNORE_INDEX
    picked = shift_hidden[mask]
    targets = shift_labels[mask]
    if picked.shape[0] == 0:  # nothing to learn in this batch: a zero that keeps the graph
        return hidden.sum() * 0.0 + (0.0 if aux is None else aux)
    head = lm.get_output_embeddings()
    chunk_size = effective_chunk_size(chunk_size, head.weight.shape[0])
    # a multimodal wrapper keeps the soft-cap in its text config (the top-level config has none)
    text_config = lm.config.get_text_config() if hasattr(lm.config, "get_text_config") else lm.config
    softcap = getattr(text_config, "final_logit_softcapping", None)
    device = picked.device.type
    # the caller's autocast (the Trainer's, as accelerate applies it to the model's forward) sets the head's dtype
    compute = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else head_dtype
    if (compute is None and frozen_head_dtype is not None and not head.weight.requires_grad
            and frozen_head_applies(picked, head.bias, softcap, frozen_head_dtype)):
        compute = frozen_head_dtype
    total = LinearCrossEntropy.apply(picked, head.weight, head.bias, targets, chunk_size, softcap,
                                     torch.is_grad_enabled(), compute)
    denominator = num_items_in_batch if num_items_in_batch is not None else mask.sum()
    if isinstance(denominator, torch.Tensor):
        denominator = denominator.to(total.device)
    loss = total / denominator
    return loss if aux is None else loss + aux.to(loss.device)
