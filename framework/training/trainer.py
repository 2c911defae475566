"""The transformers ``Trainer`` with the framework's loss and callbacks.

The trainer is transformers' own (accelerate underneath, so DDP/DeepSpeed/FSDP come from
there); this module only swaps the loss for the labelled-only chunked one, writes checkpoints
atomically (``framework.checkpointing``), counts the real tokens of every batch and records what
the user looks at afterwards (loss history, tokens/s).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from framework.checkpointing import save_checkpoint
from framework.loss import chunked_causal_lm_loss


class TrainerHabits:
    """What every recipe's trainer does, whatever its base class (transformers' ``Trainer``,
    TRL's ``DPOTrainer``): checkpoints written atomically, real tokens counted, the divergence
    guard attached to the optimizer. Put it first in the bases; set ``run_settings``, ``guard``
    and ``tokens`` after construction (or through ``FrameworkTrainer``'s keywords)."""

    run_settings: dict[str, Any] | None = None  # saved into every checkpoint for --resume to compare
    guard: Any = None  # a framework.guards.GuardCallback, or None
    tokens: Any = None  # a framework.progress.TokenCounter, or None

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """Checkpoints go to a staging directory and are renamed into place when complete."""
        save_checkpoint(self, trial)

    def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
        """Bottleneck adapter runs checkpoint their adapters only (framework.bottleneck)."""
        from framework.bottleneck import has_adapters, save_checkpoint_weights

        if has_adapters(self.model):  # type: ignore[attr-defined]
            return save_checkpoint_weights(self, output_dir, state_dict)
        return super()._save(output_dir, state_dict)  # type: ignore[misc]

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        from framework.bottleneck import load_checkpoint_weights

        if not load_checkpoint_weights(model if model is not None else self.model, resume_from_checkpoint):  # type: ignore[attr-defined]
            super()._load_from_checkpoint(resume_from_checkpoint, model)  # type: ignore[misc]

    def _load_best_model(self) -> None:
        from framework.bottleneck import load_checkpoint_weights

        if not load_checkpoint_weights(self.model, self.state.best_model_checkpoint):  # type: ignore[attr-defined]
            super()._load_best_model()  # type: ignore[misc]

    def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
        if self.tokens is not None:
            self.tokens.add(inputs)
        return super().training_step(model, inputs, num_items_in_batch)  # type: ignore[misc]

    def floating_point_ops(self, inputs: dict[str, Any]) -> int:
        """transformers' estimate (6 x tokens x parameters without embeddings), with the parameter
        count taken once: transformers walks every module for it on every step (0.44 ms of a
        ~105 ms CPU step of bench/e2e_cpu.py's model), and training changes which parameters
        train, never how many there are."""
        name = getattr(self.model, "main_input_name", "input_ids")  # type: ignore[attr-defined]
        if name not in inputs or not hasattr(self.model, "num_parameters"):  # type: ignore[attr-defined]
            return 0
        count = self.__dict__.get("_flops_parameters")
        if count is None:
            count = self._flops_parameters = self.model.num_parameters(exclude_embeddings=True)  # type: ignore[attr-defined]
        return 6 * inputs[name].numel() * count

    def create_optimizer(self, *args: Any, **kwargs: Any) -> Any:
        optimizer = super().create_optimizer(*args, **kwargs)  # type: ignore[misc]
        if self.guard is not None and self.guard.guard is None:
            self.guard.attach(self.optimizer)  # type: ignore[attr-defined]
        return optimizer


class FrameworkTrainer(TrainerHabits, Trainer):
    """``Trainer`` whose loss never builds the full [tokens x vocab] logits (when enabled)."""

    def __init__(self, *args: Any, chunked_loss: bool = True, loss_chunk_size: int = 1024,
                 guard: Any = None, tokens: Any = None, run_settings: dict[str, Any] | None = None,
                 frozen_head_dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frozen_head_dtype = frozen_head_dtype  # a frozen head's GEMM dtype on the CPU (kernels.cpu_head_dtype)
        self.run_settings = run_settings
        self.chunked_loss = chunked_loss
        self.loss_chunk_size = loss_chunk_size
        self.guard = guard
        self.tokens = tokens

    def _clip_grad_norm(self, model: Any) -> Any:
        """transformers' clipping, given the model's parameters as a list taken once: its
        ``model.parameters()`` walks every module (peft adds several per adapted layer) on every
        step (0.26 ms on bench/e2e_cpu.py's model). Only for a model no engine wraps (DDP, FSDP
        and DeepSpeed clip their own way)."""
        if self._engine_wrapped() or self.accelerator.distributed_type != "NO":
            return super()._clip_grad_norm(model)
        return self.accelerator.clip_grad_norm_(all_parameters(model), self.args.max_grad_norm)

    def _engine_wrapped(self) -> bool:
        """Whether DDP, DeepSpeed or FSDP drives the model: then the model's own loss is used.

        The chunked loss calls the decoder and reads the head's weight directly, past the
        engine's forward: DDP would not prepare its gradient reduction, and FSDP/ZeRO-3 would
        hand over sharded (empty) weights. transformers' loss goes through the wrapper.
        """
        return (self.accelerator.num_processes > 1 or getattr(self, "is_deepspeed_enabled", False)
                or getattr(self, "is_fsdp_enabled", False))

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        if not self.chunked_loss or self._engine_wrapped():
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        if self.args.torch_compile and not getattr(self, "_decoder_compiled", False):
            compile_decoder(model, self.args.torch_compile_backend, self.args.torch_compile_mode)
            self._decoder_compiled = True
        # the decoder and head run past the model's forward, so outside the autocast accelerate
        # wraps that forward in: the same autocast here (QLoRA's fp32 head GEMM would run in fp32)
        with self.accelerator.autocast():
            loss = chunked_causal_lm_loss(model, inputs, chunk_size=self.loss_chunk_size,
                                          frozen_head_dtype=self.frozen_head_dtype,
                                          num_items_in_batch=num_items_in_batch if self.model_accepts_loss_kwargs else None)
        if (self.args.average_tokens_across_devices and self.model_accepts_loss_kwargs
                and num_items_in_batch is not None):
            loss = loss * self.accelerator.num_processes
        return (loss, {"loss": loss}) if return_outputs else loss


def all_parameters(model: Any) -> list[Any]:
    """Every parameter of the model, listed once per model: the list does not change while it trains
    (requires_grad may; tensors are not added or replaced)."""
    listed = model.__dict__.get("_framework_parameters")
    if listed is None:
        listed = list(model.parameters())
        model.__dict__["_framework_parameters"] = listed
    return listed


def compile_decoder(model: Any, backend: str | None, mode: str | None) -> None:
    """``torch.compile`` the decoder in place, which is what the chunked loss runs.

    transformers (through accelerate) compiles the whole model, but the chunked loss calls the
    decoder and the head itself, past that compiled wrapper, so without this
    ``training.torch_compile`` would compile nothing that trains. The head's fused loss stays
    eager: it is a handful of large matmuls already.
    """
    from framework.loss import causal_lm, decoder_of

    decoder_of(causal_lm(model)).compile(backend=backend or "inductor", mode=mode)


class HistoryCallback(TrainerCallback):
    """Keeps train/eval loss per step and counts real (unpadded) tokens for tokens/s."""

    def __init__(self) -> None:
        self.train: list[tuple[int, float]] = []
        self.eval: list[tuple[int, float]] = []
        self.grad_norms: list[tuple[int, float]] = []
        self.tokens = 0
        self.started = 0.0
        self.elapsed = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.perf_counter()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.elapsed = time.perf_counter() - self.started

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        if "loss" in logs and math.isfinite(float(logs["loss"])):
            self.train.append((state.global_step, float(logs["loss"])))
        if "grad_norm" in logs and logs["grad_norm"] is not None:
            self.grad_norms.append((state.global_step, float(logs["grad_norm"])))
        if "eval_loss" in logs:
            self.eval.append((state.global_step, float(logs["eval_loss"])))

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.elapsed if self.elapsed else 0.0
