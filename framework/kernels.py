"""Optional fused kernels: Liger (Triton) patches for RoPE, RMSNorm and the gated MLP.

Liger's kernels are Triton, so they need a CUDA GPU; asking for them elsewhere is a config
mistake, reported in one line rather than silently ignored. The cross-entropy patches are
left to the loss setting: with ``training.chunked_loss`` the framework's own fused linear
cross-entropy runs (it calls the decoder and the head itself, so Liger's patched causal-LM
forward would never run); without it, Liger's fused linear cross-entropy replaces the
model's full-logits loss.
"""

from __future__ import annotations

from typing import Any

from framework.errors import ConfigError

WHERE = "training.liger_kernels"
OFF_HINT = "set training.liger_kernels=false"


def liger_settings(chunked_loss: bool) -> dict[str, bool]:
    """Keyword switches for ``liger_kernel.transformers._apply_liger_kernel_to_instance``."""
    return {"rope": True, "rms_norm": True, "swiglu": True, "cross_entropy": False,
            "fused_linear_cross_entropy": not chunked_loss}


def check_liger(device: str) -> Any:
    """The Liger patch function, or a one-line ConfigError saying why it cannot run here."""
    if device != "cuda":
        raise ConfigError(f"Liger kernels are Triton kernels and need a CUDA GPU; this run is on {device}",
                          where=WHERE, hint=OFF_HINT)
    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance
    except ImportError:
        raise ConfigError("Liger kernels were asked for but liger-kernel is not installed", where=WHERE,
                          hint=f"pip install liger-kernel, or {OFF_HINT}") from None
    return _apply_liger_kernel_to_instance


def apply_liger(model: Any, *, device: str, chunked_loss: bool) -> str:
    """Patch a loaded (not yet peft-wrapped) model in place; returns what was applied."""
    apply = check_liger(device)
    from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN

    model_type = getattr(model.config, "model_type", None)
    if model_type not in MODEL_TYPE_TO_APPLY_LIGER_FN:
        raise ConfigError(f"liger-kernel has no kernels for model_type '{model_type}'", where=WHERE, hint=OFF_HINT)
    settings = liger_settings(chunked_loss)
    apply(model=model, **settings)
    return f"Liger kernels applied ({', '.join(k for k, on in settings.items() if on)}) for model_type {model_type}"
