"""Optional fused kernels: Liger (Triton) patches for RoPE, RMSNorm and the gated MLP, and
which fused loss a run uses.

Liger's kernels are Triton, so they need a CUDA GPU; asking for them elsewhere is a config
mistake, reported in one line rather than silently ignored. Two fused losses exist and at most
one can run: the framework's chunked labelled-only loss calls the decoder and the head itself
(so Liger's patched causal-LM forward never runs under it), and Liger's fused linear
cross-entropy replaces the model's full-logits loss inside the model's forward. The chunked
loss cannot run where an engine (DDP, DeepSpeed, FSDP) must see the forward, nor for prompt
learning or scaled logits; ``choose_loss`` decides both in one place, once the strategy is
known, so that Liger's loss takes over exactly where the chunked one cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from framework.errors import ConfigError

WHERE = "training.liger_kernels"
OFF_HINT = "set training.liger_kernels=false"


@dataclass(frozen=True)
class LossChoice:
    """The loss of a run: ``chunked`` (the framework's), ``liger`` (Liger's fused one) or ``model`` (full logits)."""

    kind: Literal["chunked", "liger", "model"]
    reason: str
    #: dtype of a frozen head's GEMM operands in the chunked loss on the CPU (None: not a CPU chunked loss)
    head_dtype: Literal["fp32", "bf16"] | None = None
    head_reason: str = ""

    @property
    def chunked(self) -> bool:
        return self.kind == "chunked"

    @property
    def liger_fused(self) -> bool:
        return self.kind == "liger"

    def line(self) -> str:
        names = {"chunked": "chunked labelled-only", "liger": "Liger fused linear cross-entropy",
                 "model": "the model's own (full logits)"}
        head = f"; frozen head in {self.head_dtype}: {self.head_reason}" if self.head_dtype else ""
        return f"{names[self.kind]}  ({self.reason}{head})"


def chunked_loss_blocker(config: Any, *, strategy: str | None, world_size: int, engine: str | None,
                         raw_config: dict[str, Any] | None = None) -> str | None:
    """Why the framework's chunked loss cannot run for this run (None: it can)."""
    from framework.config import PROMPT_METHODS

    if config.stage == "dpo":
        return "DPO computes the log-probabilities of both answers itself"
    if config.method in PROMPT_METHODS:
        return "prompt learning prepends virtual tokens inside peft's forward"
    if engine is not None or world_size > 1 or (strategy is not None and strategy != "ddp"):
        return f"{engine or strategy or 'ddp'} drives the model, so the loss must run inside its forward"
    raw = raw_config or {}
    scale = raw.get("logit_scale", (raw.get("text_config") or {}).get("logit_scale"))
    if scale not in (None, 1, 1.0):
        return f"the model scales its logits (logit_scale={scale})"
    return None


BF16_WHERE = "training.cpu_bf16_head"


def cpu_head_dtype(config: Any, hardware: Any, dtype: str | None,
                   raw_config: dict[str, Any] | None = None) -> tuple[Literal["fp32", "bf16"] | None, str]:
    """The GEMM dtype of a frozen head's chunked loss on the CPU, and why (None: not a CPU run).

    bf16 operands (fp32 accumulation, softmax and loss; LoRA weights, their gradients and the
    optimizer state stay fp32) make the head, most of a small model's step, ~2x faster where the
    CPU multiplies bf16 natively, and keep the loss within 1% of fp32 over training
    (tests/fastpaths/test_cpu_bf16_head.py); elsewhere torch emulates bf16 more slowly than fp32.
    A head that trains keeps the exact fp32 path whatever this says.
    """
    from framework.method_kinds import WEIGHT_UPDATING

    setting = config.training.cpu_bf16_head
    device = getattr(hardware, "device", None)
    if setting == "on" and device not in (None, "cpu"):
        raise ConfigError(f"training.cpu_bf16_head=on is for CPU runs; this run is on {device}",
                          where=BF16_WHERE, hint="remove it: on an accelerator the head follows model.dtype")
    if device != "cpu" or dtype not in (None, "fp32"):
        return None, ""
    if setting == "off":
        return "fp32", f"{BF16_WHERE}=off"
    if config.method in WEIGHT_UPDATING:
        return "fp32", f"method {config.method} may train the head, whose gradient stays fp32"
    raw = raw_config or {}
    cap = raw.get("final_logit_softcapping", (raw.get("text_config") or {}).get("final_logit_softcapping"))
    if cap:
        return "fp32", f"the model soft-caps its logits (final_logit_softcapping={cap}): the fp32 logits path"
    flag = getattr(hardware, "cpu_bf16", None)
    if setting == "on":
        return "bf16", f"{BF16_WHERE}=on" + ("" if flag else " (this CPU emulates bf16: slower than fp32)")
    if flag is None:
        return "fp32", "this CPU has no native bf16 matmul (AMX, AVX512-BF16)"
    return "bf16", f"{flag} on this CPU: bf16 GEMMs, fp32 accumulation and loss; {BF16_WHERE}=off for exact fp32"


DROPOUT_WHERE = "lora.fast_dropout"


def lora_dropout_choice(config: Any, hardware: Any) -> tuple[str, str] | None:
    """Which dropout the LoRA layers use, and why; None where no LoRA dropout runs.

    On the CPU torch draws a 32-bit number per element, one at a time, for every mask; the
    framework's ``BitsDropout`` (``framework.dropout``) draws only the dropped positions (p up to
    1/8) or 16-bit slices of 64-bit draws: a third of the step time of torch's dropout at p 0.05.
    SFT, pre-training and GRPO install it (``framework.training.model.apply_dropout_choice``), the
    hybrid schedule does not; DPO has none (TRL turns dropout off); on an accelerator torch's own
    is already fast.
    """
    from framework.config import ADAPTER_METHODS

    if config.method not in ADAPTER_METHODS or config.lora.dropout == 0:
        return None
    if config.lora.fast_dropout == "off":
        return "torch", f"{DROPOUT_WHERE}=off"
    if getattr(hardware, "device", None) != "cpu":
        return "torch", "torch's own dropout on an accelerator"
    if config.stage == "dpo":
        return "off", "TRL's DPO turns every dropout off (DPOConfig.disable_dropout)"
    if config.method == "hybrid":
        return "torch", "method hybrid: torch's own dropout"
    from framework.dropout import GAPS_MAX_P

    how = "only the dropped positions drawn" if config.lora.dropout <= GAPS_MAX_P else "16-bit slices of 64-bit draws"
    return "bits", f"CPU: {how}, a fraction of torch's random draws; {DROPOUT_WHERE}=off for torch's"


def choose_loss(config: Any, *, strategy: str | None = None, world_size: int = 1, engine: str | None = None,
                raw_config: dict[str, Any] | None = None, hardware: Any = None,
                dtype: str | None = None) -> LossChoice:
    """The one decision about fused losses, shown by ``plan``; ``config`` is the resolved RunConfig.

    ``hardware`` (HardwareFacts) and ``dtype`` (the run's compute dtype) decide the CPU head's
    GEMM dtype (``cpu_head_dtype``); without them the head follows the model's dtype.
    """
    t = config.training
    blocker = chunked_loss_blocker(config, strategy=strategy, world_size=world_size, engine=engine,
                                   raw_config=raw_config)
    if t.chunked_loss and blocker is None:
        head, why = cpu_head_dtype(config, hardware, dtype, raw_config)
        return LossChoice("chunked", "logits only at labelled positions, chunk by chunk", head, why)
    why = blocker or "training.chunked_loss=false"
    if t.liger_kernels and config.stage != "dpo":
        return LossChoice("liger", f"instead of the chunked loss: {why}")
    hint = "; training.liger_kernels=true fuses it on CUDA" if config.stage != "dpo" else ""
    return LossChoice("model", f"{why}{hint}")


def liger_settings(fused_linear_cross_entropy: bool) -> dict[str, bool]:
    """Keyword switches for ``liger_kernel.transformers._apply_liger_kernel_to_instance``.

    ``fused_linear_cross_entropy``: ``LossChoice.liger_fused`` of the run.
    """
    return {"rope": True, "rms_norm": True, "swiglu": True, "cross_entropy": False,
            "fused_linear_cross_entropy": fused_linear_cross_entropy}


def check_liger(device: str) -> Any:
    """The Liger patch function, or a one-line ConfigError saying why it cannot run here."""
    if device != "cuda":
        raise ConfigError(f"Liger kernels are Triton kernels and need a CUDA GPU; this run is on {device}",
                          where=WHERE, hint=OFF_HINT)
    from framework.extras import require

    require("liger", asked_by=f"{WHERE}=true")
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    return _apply_liger_kernel_to_instance


def apply_liger(model: Any, *, device: str, fused_loss: bool) -> str:
    """Patch a loaded (not yet peft-wrapped) model in place; returns what was applied.

    ``fused_loss``: Liger's fused linear cross-entropy, as ``choose_loss`` decided.
    """
    apply = check_liger(device)
    from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN

    model_type = getattr(model.config, "model_type", None)
    if model_type not in MODEL_TYPE_TO_APPLY_LIGER_FN:
        raise ConfigError(f"liger-kernel has no kernels for model_type '{model_type}'", where=WHERE, hint=OFF_HINT)
    settings = liger_settings(fused_loss)
    apply(model=model, **settings)
    return f"Liger kernels applied ({', '.join(k for k, on in settings.items() if on)}) for model_type {model_type}"
