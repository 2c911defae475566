"""Memory of an online-RL step (``--stage grpo``): the training step on sampled completions, the
generation before it, and the reference model.

A GRPO step has two phases that never overlap:

- *generation*: the policy samples ``num_generations`` completions for each prompt of the
  generation batch (``micro_batch × grad_accum`` completions per process, TRL's default
  ``steps_per_generation``), keeping a KV cache of every sequence up to prompt + completion
  length. Resident weights and optimizer states stay; gradients and activations are gone.
- *training*: a supervised-shaped step on ``micro_batch`` sequences of prompt + completion
  tokens (padded, not packed), with full logits over the completion tokens (TRL's log-softmax
  per token; the framework's chunked loss does not apply), plus one forward of the reference
  model when ``beta`` > 0.

The reference model costs a second copy of the weights only for full and freeze training with
``beta`` > 0; adapter methods disable the adapter instead, and ``beta`` 0 loads none. vLLM
colocated reserves its own share of the accelerator (TRL's ``vllm_gpu_memory_utilization``)
and is named in the assumptions, not counted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from framework.planning.memory import CUDA_CONTEXT_BYTES, MemoryEstimate, estimate
from framework.planning.shapes import shape_from_facts
from framework.planning.trainables import DTYPE_BYTES


def generation_by_vllm(choice: str, device: str) -> bool:
    """Whether vLLM generates: asked for (``grpo.generation=vllm``), or ``auto`` on CUDA with vllm installed."""
    import importlib.util

    if choice == "auto":
        return device == "cuda" and importlib.util.find_spec("vllm") is not None
    return choice == "vllm"


def kv_cache_bytes(facts: Any, *, sequences: int, tokens: int, compute_dtype: str) -> int:
    """Keys and values of every layer for ``sequences`` × ``tokens`` positions."""
    shape = shape_from_facts(facts)
    return 2 * shape.layers * shape.kv_heads * shape.head_dim * DTYPE_BYTES[compute_dtype] * sequences * tokens


def grpo_estimate(facts: Any, config: Any, *, compute_dtype: str, vllm: bool = False, **kwargs: Any) -> MemoryEstimate:
    """The peak of a GRPO step: the larger of generation and training, plus the reference copy.

    ``kwargs`` are ``memory.estimate``'s (LoRA targets, optimizer, ...); sequence length and
    loss are set here from ``data.cutoff_len`` (prompt) + ``grpo.max_completion_length``.
    """
    g, t = config.grpo, config.training
    method = config.method
    seq_len = config.data.cutoff_len + g.max_completion_length
    train = estimate(facts, method=method, micro_batch=t.micro_batch_size, seq_len=seq_len, packed=False,
                     chunked_loss=False, compute_dtype=compute_dtype, **kwargs)
    shape = shape_from_facts(facts)
    reference = 0
    if g.beta > 0 and method in ("full", "freeze"):
        reference = train.breakdown["weights"]  # a frozen copy in the compute dtype
    generated = t.micro_batch_size * t.grad_accum
    kv = kv_cache_bytes(facts, sequences=generated, tokens=seq_len, compute_dtype=compute_dtype)
    sampling_logits = generated * shape.vocab * 4  # one fp32 row per sequence and step
    generation = 0 if vllm else kv + sampling_logits
    parts = train.parts
    assert parts is not None
    resident = parts.resident() + reference
    train_peak = train.total + reference
    generation_peak = resident + generation + CUDA_CONTEXT_BYTES
    breakdown = dict(train.breakdown, reference=reference, generation=generation)
    notes = (
        f"grpo: {generated} completions generated per process per step ({t.micro_batch_size} × grad_accum "
        f"{t.grad_accum}), {g.num_generations} per prompt; sequences of {seq_len} tokens (cutoff_len "
        f"{config.data.cutoff_len} + max_completion_length {g.max_completion_length}), padded, full logits",
        "grpo: " + ("a frozen copy of the weights is the reference (beta > 0, full/freeze)" if reference else
                    "no reference copy (" + ("beta 0" if g.beta == 0 else "the adapter is disabled instead") + ")"),
        ("grpo: vLLM (colocated) generates in its own reserved share of the accelerator, not counted here" if vllm else
         f"grpo: generation peak {generation_peak / 2**30:.2f} GiB (KV cache of every sequence) vs training "
         f"{train_peak / 2**30:.2f} GiB; the larger is the peak"),
    )
    return replace(train, method=method, breakdown=breakdown, total=int(max(train_peak, generation_peak)),
                   assumptions=train.assumptions + notes)

