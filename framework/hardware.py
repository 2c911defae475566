"""What the machine can do: accelerator, bf16, flash-attn. Imported only on paths that train or plan."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from framework.hookdata import HardwareFacts, LoadSettings, ModelFacts


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
        # native bf16 only: torch's default also says yes where bf16 is emulated (slowly) on a
        # pre-Ampere GPU, which would pick bf16 and flash-attn for a T4
        return HardwareFacts(
            device="cuda", bf16_supported=torch.cuda.is_bf16_supported(including_emulation=False),
            flash_attn_version=flash_attn_version(), gpu_name=props.name, gpu_memory_bytes=props.total_memory,
            gpu_count=torch.cuda.device_count(),
        )
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return HardwareFacts(device="mps", bf16_supported=False)
    return HardwareFacts(device="cpu", bf16_supported=False, cpu_bf16=cpu_bf16_matmul())


#: CPU flags of native bf16 matrix products, the fastest first.
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (or the given text); empty where there is none."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            return set()
    line = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def cpu_bf16_matmul(cpuinfo: str | None = None) -> str | None:
    """The CPU's native bf16 matmul flag (AMX tiles first), from /proc/cpuinfo; None elsewhere.

    Without one, torch still multiplies bf16 on the CPU, but by converting to fp32 (slower than
    fp32 itself); with one, bf16 GEMMs run ~2-3x faster than fp32 per core (docs/benchmarks.md §5).
    """
    flags = cpu_flags(cpuinfo)
    return next((flag for flag in CPU_BF16_FLAGS if flag in flags), None)


#: The largest head dimension flash-attn 2 has kernels for.
FLASH_MAX_HEAD_DIM = 256
WHERE_ATTENTION = "model.attn_implementation"


@dataclass(frozen=True)
class AttentionNeeds:
    """What the model class asks of an attention kernel, read before any weight is loaded.

    ``supports_flash`` is the class's own ``_supports_flash_attn`` (transformers raises at load
    when it is False and flash-attention is asked for); None when the class is unknown (remote
    code). ``head_dims`` are every head size the config names (a model may use 512 in its global
    layers and 256 in its sliding ones): flash-attn has no kernel above 256.
    """

    model_class: str | None = None
    supports_flash: bool | None = None
    head_dims: tuple[int, ...] = ()


def attention_needs(facts: ModelFacts) -> AttentionNeeds:
    """The class ``AutoModelForCausalLM`` would load for this config, and the config's head sizes."""
    dims = set(_head_dims(facts.raw)) | set(_head_dims(facts.text_config or {}))
    if facts.effective_head_dim:
        dims.add(facts.effective_head_dim)
    name = supports = None
    try:
        import transformers
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        name = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(facts.model_type)
        cls = getattr(transformers, name, None) if name else None
        supports = bool(getattr(cls, "_supports_flash_attn", False)) if cls is not None else None
    except Exception:  # an unknown or remote-code class: transformers decides at load
        pass
    return AttentionNeeds(name, supports, tuple(sorted(dims)))


def _head_dims(config: Any) -> list[int]:
    """Every ``*head_dim`` integer in a config dict, nested ones included.

    Head sizes hide in per-layer overrides (``per_layer_config: {"5": {"head_dim": 512}}``) and
    in keys like ``global_head_dim``; any of them above flash-attn's limit fails its kernel.
    """
    found: list[int] = []
    if isinstance(config, dict):
        for key, value in config.items():
            if isinstance(key, str) and key.endswith("head_dim") and type(value) is int and value > 0:
                found.append(value)
            else:
                found.extend(_head_dims(value))
    elif isinstance(config, list):
        for value in config:
            found.extend(_head_dims(value))
    return found


def flash_blocker(hardware: HardwareFacts, dtype: str | None, needs: AttentionNeeds | ModelFacts | None) -> str | None:
    """Why flash-attention cannot run this model here (None: it can).

    ``needs`` given as ``ModelFacts`` is resolved to the model class only once the machine and
    the dtype allow flash-attention, so CPU plans never import a modeling module.
    """
    if hardware.device != "cuda" or not hardware.flash_attn_version:
        return "flash-attn needs CUDA and the flash-attn package"
    if not hardware.bf16_supported:
        return f"flash-attn 2 needs an Ampere or newer GPU ({hardware.gpu_name or 'this GPU'} has no native bf16)"
    if dtype == "fp32":
        return "flash-attn runs only in fp16/bf16 and model.dtype is fp32"
    if isinstance(needs, ModelFacts):
        needs = attention_needs(needs)
    if needs is not None and needs.supports_flash is False:
        return f"{needs.model_class} does not support flash-attention in transformers"
    if needs is not None and needs.head_dims and max(needs.head_dims) > FLASH_MAX_HEAD_DIM:
        return f"head_dim {max(needs.head_dims)} is above flash-attn's limit of {FLASH_MAX_HEAD_DIM}"
    return None


def choose_attention(settings: LoadSettings, hardware: HardwareFacts, requested: str = "auto", *,
                     dtype: str | None = None, needs: AttentionNeeds | ModelFacts | None = None) -> tuple[str, str]:
    """The attention implementation to load with, and why.

    Chosen after the dtype (``dtype``, from ``choose_dtype``) and against the model class
    (``needs``), so a kernel transformers or flash-attn would refuse at load or at the first
    forward is never picked; a requested one is refused here in one line instead.
    """
    from framework.errors import ConfigError

    allowed = settings.attn_implementations
    if requested != "auto":
        if requested not in allowed:
            raise ConfigError(f"model.attn_implementation={requested} is not allowed for this model",
                              hint=f"allowed: {', '.join(allowed)}; {' '.join(settings.notes)}".strip())
        blocker = flash_blocker(hardware, dtype, needs) if requested.startswith("flash") else None
        if blocker:
            others = [impl for impl in allowed if not impl.startswith("flash")]
            raise ConfigError(f"model.attn_implementation={requested} cannot run: {blocker}", where=WHERE_ATTENTION,
                              hint=f"use {others[0] if others else 'sdpa'} (or auto)")
        return requested, "requested"
    skipped: str | None = None
    for impl in allowed:
        if impl.startswith("flash"):
            skipped = flash_blocker(hardware, dtype, needs)
            if skipped is None:
                return impl, f"CUDA with flash-attn {hardware.flash_attn_version}"
            continue
        if skipped:
            return impl, skipped
        return impl, ("first allowed kernel this machine has" if impl == allowed[0] else
                      "the plugin's first choice the machine has")
    return "eager", "no allowed kernel available; eager is always available"


def use_tf32(hardware: HardwareFacts) -> bool:
    """TF32 matmuls for what still runs in fp32 (QLoRA's upcast head and norms, fp32 runs).

    TF32 tensor cores come with Ampere, the same GPUs that have native bf16; transformers
    refuses ``tf32=True`` elsewhere.
    """
    return hardware.device == "cuda" and hardware.bf16_supported


def placement(hardware: HardwareFacts, *, sharded: bool, quantized: bool) -> str | None:
    """Where the loaded model goes before anything runs on it (the demo's before-answer), or None.

    ``from_pretrained`` without a device map leaves the weights on the CPU, where a CUDA-only
    kernel (flash-attn) fails. One process or DDP: this process's GPU, where the Trainer puts
    it anyway. Sharded strategies place the shards themselves and bitsandbytes places a
    quantized model at load, so those stay where they are.
    """
    if hardware.device == "cpu" or sharded or quantized:
        return None
    if hardware.device == "cuda":
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return hardware.device


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
    if hardware.device == "cpu":  # bf16 autocast loses to fp32 here: casts per op (docs/benchmarks.md §5)
        head = (f"; this CPU has {hardware.cpu_bf16}: the loss line says whether the frozen head's GEMMs use it"
                if hardware.cpu_bf16 else "")
        return "fp32", f"CPU: fp32 weights and training is the fast and exact choice{head}"
    if hardware.bf16_supported and "bf16" not in forbidden:
        return "bf16", "accelerator supports bf16"
    if "fp16" not in forbidden:
        return "fp16", "no bf16 on this accelerator: fp16 with loss scaling"
    return "fp32", "no bf16 here and the family forbids fp16"
