"""Inputs -> model: weights loaded with the plan's settings, the batch collator, the demo's answer."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from framework import distributed
from framework.fixes import FixReport, apply_model_fixes
from framework.run_plan import IDENTITY_PROMPT
from framework.training.inputs import model_directory, renderer

if TYPE_CHECKING:
    from framework.run_plan import RunPlan


def load_for_training(plan: RunPlan, tokenizer: Any, fixes: FixReport) -> Any:
    from framework.methods import load_model

    rope = None
    if plan.rope.action == "scale":
        rope = {"rope_scaling": plan.rope.rope_scaling, "max_position_embeddings": plan.rope.max_position_embeddings}
    with no_loading_bar():
        model = load_model(model_directory(plan), plan.config, dtype=plan.dtype[0], attn=plan.attention[0], rope=rope,
                           trust_remote_code=plan.config.model.trust_remote_code,
                           quant_storage=distributed.quant_storage(plan))
    apply_model_fixes(model, tokenizer, fixes, plan.family.check_model(model, tokenizer))
    if plan.config.training.liger_kernels:
        from framework.kernels import apply_liger

        apply_liger(model, device=plan.hardware.device, fused_loss=loss_choice(plan).liger_fused)
    # packed rows isolate samples through restarted position_ids only when no KV cache is built
    model.config.use_cache = False
    from framework.hardware import placement

    device = placement(plan.hardware, sharded=sharded(plan), quantized=plan.config.method in ("qlora", "qlora8"))
    if device is not None:  # on the GPU before the demo's before-answer: flash-attn has no CPU kernel
        model.to(device)
    from framework.heap import release_freed_memory

    release_freed_memory()  # the loader's staging copies of the weights
    return model


def apply_dropout_choice(plan: RunPlan, model: Any) -> None:
    """Give the LoRA layers the dropout the plan chose (``framework.kernels.lora_dropout_choice``):
    on the CPU the framework's ``BitsDropout`` in place of peft's torch dropout."""
    if plan.dropout is not None and plan.dropout[0] == "bits":
        from framework.dropout import install_bits_dropout

        install_bits_dropout(model)


@contextmanager
def no_loading_bar() -> Iterator[None]:
    """Without transformers' "Loading weights" bar: the run's own lines say what loads, and a
    local checkpoint loads in a moment (downloads happened while planning, with their bars)."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def sharded(plan: RunPlan) -> bool:
    """Whether each process holds only a shard of the weights (FSDP, ZeRO-3)."""
    return plan.distributed is not None and plan.distributed.sharded


def loss_choice(plan: RunPlan) -> Any:
    """The run's ``framework.kernels.LossChoice`` (decided in ``make_plan`` once the strategy is known)."""
    if plan.loss is not None:
        return plan.loss
    from framework.kernels import choose_loss

    return choose_loss(plan.config, raw_config=plan.facts.raw)


def before_answer(model: Any, tokenizer: Any, plan: RunPlan, stop_tokens: list[str]) -> str | None:
    """The demo's answer before training; none from sharded weights, which are whole only inside the engine."""
    if plan.demo is None or sharded(plan):
        return None
    return generate_answer(model, tokenizer, plan, IDENTITY_PROMPT, stop_tokens)


def generate_answer(model: Any, tokenizer: Any, plan: RunPlan, prompt: str, stop_tokens: list[str],
                    max_new_tokens: int = 48) -> str:
    """Greedy answer to one prompt, rendered with the plugin's template and its stop tokens."""
    import torch

    text = renderer(plan, tokenizer, generation=True)([{"role": "user", "content": prompt}]).text
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")
    stop_ids = [i for i in (tokenizer.convert_tokens_to_ids(t) for t in stop_tokens) if isinstance(i, int) and i >= 0]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model.generate(**{k: v.to(device) for k, v in ids.items()}, max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=stop_ids or None, pad_token_id=tokenizer.pad_token_id)
    if was_training:
        model.train()
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def collator(plan: RunPlan, tokenizer: Any, model: Any) -> Any:
    from framework.data.collate import PackingCollator, PaddedCollator

    packing = plan.config.data.packing and plan.load.supports_packing and plan.config.method not in ("prefix", "prompt", "ptuning")
    if packing:
        # flash-attention's varlen kernel takes the sample boundaries from the batch (no per-layer sync)
        return PackingCollator(flash_kwargs=plan.attention[0].startswith("flash"))
    return PaddedCollator(pad_token_id=tokenizer.pad_token_id)

