"""What the machine can do: accelerator, bf16, flash-attn. Imported only on paths that train or plan."""

from __future__ import annotations

import importlib.metadata
import importlib.util

from framework.hookdata import HardwareFacts, LoadSettings


def flash_attn_version() -> str | None:
    """The installed flash-attn version when the package can actually import (CUDA builds only)."""
    if importlib.util.find_spec("flash_attn") is None:
        return None
    try:
        import flash_attn  # noqa: F401
    except Exception:  # a wheel built for another CUDA/torch fails at import; treat as absent
        return None
    return importlib.metadata.version("flash-attn")


def detect_hardware() -> HardwareFacts:
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return HardwareFacts(
            device="cuda", bf16_supported=torch.cuda.is_bf16_supported(), flash_attn_version=flash_attn_version(),
            gpu_name=props.name, gpu_memory_bytes=props.total_memory, gpu_count=torch.cuda.device_count(),
        )
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return HardwareFacts(device="mps", bf16_supported=False)
    return HardwareFacts(device="cpu", bf16_supported=False)


def choose_attention(settings: LoadSettings, hardware: HardwareFacts, requested: str = "auto") -> tuple[str, str]:
    """The attention implementation to load with, and why."""
    allowed = settings.attn_implementations
    if requested != "auto":
        if requested not in allowed:
            from framework.errors import ConfigError

            raise ConfigError(f"model.attn_implementation={requested} is not allowed for this model",
                              hint=f"allowed: {', '.join(allowed)}; {' '.join(settings.notes)}".strip())
        return requested, "requested"
    for impl in allowed:
        if impl == "flash_attention_2":
            if hardware.device == "cuda" and hardware.flash_attn_version:
                return impl, f"CUDA with flash-attn {hardware.flash_attn_version}"
            continue
        return impl, ("first allowed kernel this machine has" if impl == allowed[0] else
                      "flash-attn needs CUDA and the flash-attn package" if "flash_attention_2" in allowed[: allowed.index(impl)]
                      else "the plugin's first choice the machine has")
    return "eager", "no allowed kernel available; eager is always available"


def choose_dtype(settings: LoadSettings, hardware: HardwareFacts, requested: str = "auto") -> tuple[str, str]:
    """Compute dtype and why: bf16 where supported, fp16 with loss scaling where not, fp32 on CPU."""
    forbidden = set(settings.forbidden_dtypes)
    if requested != "auto":
        if requested in forbidden:
            from framework.errors import ConfigError

            alt = "bf16" if hardware.bf16_supported else "fp32"
            raise ConfigError(f"model.dtype={requested} is refused for this model family",
                              hint=f"use --set model.dtype={alt}" + "".join(
                                  f"; {note}" for note in settings.notes if requested in note.lower())[:400])
        if requested == "bf16" and not hardware.bf16_supported and hardware.device != "cpu":
            from framework.errors import ConfigError

            raise ConfigError("model.dtype=bf16 but this accelerator has no bf16", hint="use fp16 or fp32")
        return requested, "requested"
    if hardware.device == "cpu":
        return "fp32", "CPU: fp32 is the fast and exact choice"
    if hardware.bf16_supported and "bf16" not in forbidden:
        return "bf16", "accelerator supports bf16"
    if "fp16" not in forbidden:
        return "fp16", "no bf16 on this accelerator: fp16 with loss scaling"
    return "fp32", "no bf16 here and the family forbids fp16"
