"""Load the model and attach the training method: full, freeze, LoRA family, QLoRA, prompt learning.

Everything here is transformers + peft + bitsandbytes; the module only decides which of their
switches a method means, with the family plugin's target modules and load settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.config import ADAPTER_METHODS, PROMPT_METHODS, RunConfig
from framework.errors import ConfigError, ModelError
from framework.hookdata import LoraTargets

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


@dataclass(frozen=True)
class TrainableReport:
    """What a method leaves trainable (as peft's print_trainable_parameters reports it)."""

    trainable: int
    total: int
    expert: int = 0  # trainable parameters inside MoE expert modules (fused-expert adapters included)
    router_coef: float | None = None  # the router load-balancing loss in the training loss, if any

    @property
    def share(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def line(self) -> str:
        text = f"trainable params: {self.trainable:,} || all params: {self.total:,} || trainable%: {100 * self.share:.4f}"
        if self.expert:
            text += f" || expert params: {self.expert:,}"
        if self.router_coef:
            text += f" || router load-balancing loss coef {self.router_coef:g}"
        return text


def quantization_config(method: str, compute_dtype: str, quant_storage: str | None = None) -> Any:
    """bitsandbytes settings of QLoRA: 4-bit NF4 with double quantization, or 8-bit.

    ``quant_storage`` (a dtype name) keeps the packed 4-bit data in a float tensor instead of
    uint8, which FSDP and ZeRO-3 need to shard it with the other weights (see
    ``framework.distributed.quant_storage``).
    """
    if method not in ("qlora", "qlora8"):
        return None
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:
        raise ConfigError(f"--method {method} needs bitsandbytes, which cannot be imported here ({exc})",
                          hint="install bitsandbytes for this platform or use --method lora") from None
    import torch
    from transformers import BitsAndBytesConfig

    if method == "qlora8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, DTYPES[compute_dtype]),
        **({"bnb_4bit_quant_storage": getattr(torch, DTYPES[quant_storage])} if quant_storage else {}),
    )


def _refuse_pickle(directory: Path, allow_pickle: bool) -> None:
    has_safetensors = any(directory.glob("*.safetensors"))
    pickles = [p.name for p in directory.glob("*.bin")] + [p.name for p in directory.glob("*.pt")]
    if not has_safetensors and pickles and not allow_pickle:
        raise ModelError(f"weights are pickle files ({pickles[0]}), which can run arbitrary code when loaded",
                         where=str(directory), hint="convert them to safetensors, or pass --allow-pickle if you trust the source")
    if not has_safetensors and not pickles:
        raise ModelError("no weight files (*.safetensors) in the model directory", where=str(directory),
                         hint="point --model at a directory saved with save_pretrained")


def load_model(directory: Path, config: RunConfig, *, dtype: str, attn: str, rope: dict[str, Any] | None,
               trust_remote_code: bool, quant_storage: str | None = None) -> Any:
    """``AutoModelForCausalLM`` with the plugin's attention and dtype, quantized for QLoRA."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    _refuse_pickle(directory, config.model.allow_pickle)
    hf_config = AutoConfig.from_pretrained(directory, trust_remote_code=trust_remote_code)
    if rope:
        # transformers 5 keeps rope_theta inside rope_parameters: merge, never replace
        current = dict(getattr(hf_config, "rope_parameters", None) or getattr(hf_config, "rope_scaling", None) or {})
        merged = {**current, **rope["rope_scaling"]}
        if hasattr(hf_config, "rope_parameters"):
            hf_config.rope_parameters = merged
        else:
            hf_config.rope_scaling = merged
        if rope.get("max_position_embeddings"):
            hf_config.max_position_embeddings = rope["max_position_embeddings"]
    quant = quantization_config(config.method, dtype, quant_storage)
    model = AutoModelForCausalLM.from_pretrained(
        directory,
        config=hf_config,
        dtype=getattr(torch, DTYPES[dtype]),
        attn_implementation=attn,
        quantization_config=quant,
        trust_remote_code=trust_remote_code,
        use_safetensors=not config.model.allow_pickle,
    )
    from framework import moe

    moe.enable(model, config.training.router_aux_loss_coef)  # MoE: the router loss stays in the training loss
    return model


def count_parameters(model: Any) -> TrainableReport:
    """Trainable and all parameters (as peft counts them), the share inside MoE experts, and the
    router loss coefficient in force (``framework.moe``)."""
    from framework import moe

    trainable = total = expert = 0
    for name, param in model.named_parameters():
        n = param.numel()
        if hasattr(param, "quant_storage") or param.__class__.__name__ == "Params4bit":
            # two 4-bit weights per stored byte, and a bf16/fp32 storage element (FSDP/ZeRO-3's
            # quant_storage) holds 2 or 4 bytes: peft's get_nb_trainable_parameters counts the same
            n *= 2 * param.element_size()
        total += n
        if param.requires_grad:
            trainable += n
            if ".experts." in name:
                expert += n
    return TrainableReport(trainable, total, expert, moe.coefficient(model))


def _decoder_layers(model: Any) -> Any:
    from framework.loss import causal_lm, decoder_of

    decoder = decoder_of(causal_lm(model))
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise ConfigError("--method freeze cannot find the decoder layers of this model",
                          hint="name the modules to train with --set freeze.trainable_modules=[...]")
    return layers


def apply_freeze(model: Any, config: RunConfig) -> None:
    """Partial fine-tuning: everything frozen except the top layers or the named modules."""
    for param in model.parameters():
        param.requires_grad_(False)
    names = config.freeze.trainable_modules
    if names:
        hit = False
        for name, param in model.named_parameters():
            if any(fragment in name for fragment in names):
                param.requires_grad_(True)
                hit = True
        if not hit:
            raise ConfigError(f"freeze.trainable_modules={names} matches no parameter",
                              hint="use fragments of parameter names, e.g. 'mlp' or 'layers.31'")
        return
    layers = _decoder_layers(model)
    for layer in list(layers)[-config.freeze.trainable_layers :]:
        for param in layer.parameters():
            param.requires_grad_(True)


def expert_parameters(config: RunConfig, targets: LoraTargets | None) -> tuple[str, ...]:
    """The parameters (fused MoE expert weights) peft adapts through ``target_parameters``.

    The plugin's ``target_parameters`` apply with its own module targets; a user's
    ``lora.target_modules`` replaces both, as it always replaced the plugin's targets.
    """
    if targets is None or config.lora.target_modules:
        return ()
    return tuple(targets.target_parameters)


def check_expert_lora(config: RunConfig, targets: LoraTargets | None, method: str | None = None, *,
                      where: str | None = None) -> None:
    """Refuse, in one line, the LoRA settings peft cannot apply to fused expert weights.

    peft 0.21 wraps a ``target_parameters`` entry in ``lora.ParamWrapper``, which raises
    "does not work with lora_dropout != 0" and "... with use_dora=True"; get_peft_model's
    error would otherwise surface as a generic "LoRA targets do not match". Called while the
    plan is made (before data and weights) and again when the method is attached; ``where`` is
    the file:line (or ``cli``) that set ``lora.dropout``.
    """
    method = method or config.method
    if method not in ADAPTER_METHODS:
        return
    experts = expert_parameters(config, targets)
    if not experts:
        return
    named = ", ".join(experts)
    if method == "dora":
        raise ConfigError(f"--method dora cannot adapt the fused MoE expert weights ({named}): peft's "
                          "target_parameters (lora.ParamWrapper) has no DoRA",
                          where="method",
                          hint="use --method lora (or rslora/qlora), or keep DoRA on attention only with "
                               "--set lora.target_modules=[q_proj,k_proj,v_proj,o_proj]")
    if config.lora.dropout > 0:
        raise ConfigError(f"lora.dropout={config.lora.dropout:g} cannot be used with LoRA on the fused MoE expert "
                          f"weights ({named}): peft's target_parameters (lora.ParamWrapper) refuses dropout",
                          where=f"{where}: lora.dropout" if where else "lora.dropout",
                          hint="set --set lora.dropout=0, or leave the experts frozen with "
                               "--set lora.target_modules=[q_proj,k_proj,v_proj,o_proj]")


def lora_config(config: RunConfig, targets: LoraTargets) -> Any:
    from peft import LoraConfig, TaskType

    target_modules: Any = config.lora.target_modules or (
        targets.target_modules if isinstance(targets.target_modules, str) else list(targets.target_modules)
    )
    kwargs: dict[str, Any] = {}
    if expert_parameters(config, targets):
        kwargs["target_parameters"] = list(expert_parameters(config, targets))
    if targets.exclude_modules:
        kwargs["exclude_modules"] = list(targets.exclude_modules)
    if targets.modules_to_save:
        kwargs["modules_to_save"] = list(targets.modules_to_save)
        if targets.ensure_weight_tying:
            kwargs["ensure_weight_tying"] = True
    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=target_modules,
        use_dora=config.method == "dora",
        use_rslora=config.method == "rslora",
        **kwargs,
    )


def fused_expert_dtypes(model: Any) -> dict[str, Any]:
    """The dtypes of the fused MoE expert weights (3-D parameters under an ``experts`` module).

    bitsandbytes replaces ``nn.Linear`` only, so QLoRA leaves these weights unquantized, and
    peft's ``prepare_model_for_kbit_training`` then casts every unquantized 16-bit weight to
    fp32: for a mixture of experts that doubles the largest part of the model (46.7B with 8 experts:
    84 -> 168 GiB) for frozen weights that LoRA adapts through ``W + BA`` in their own dtype.
    """
    import torch

    return {name: param.dtype for name, param in model.named_parameters()
            if param.ndim == 3 and ".experts." in f".{name}" and param.dtype in (torch.bfloat16, torch.float16)}


def restore_dtypes(model: Any, dtypes: dict[str, Any]) -> None:
    """Cast the named (frozen) parameters back to the dtypes recorded before k-bit preparation."""
    for name, param in model.named_parameters():
        if name in dtypes and param.dtype != dtypes[name]:
            param.data = param.data.to(dtypes[name])


def prompt_learning_config(config: RunConfig) -> Any:
    from peft import PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType

    kind = {"prefix": PrefixTuningConfig, "prompt": PromptTuningConfig, "ptuning": PromptEncoderConfig}[config.method]
    return kind(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=config.prompt.num_virtual_tokens)


def apply_method(model: Any, config: RunConfig, targets: LoraTargets, *, method: str | None = None) -> Any:
    """Attach the method to a loaded model and return the model to train."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    method = method or config.method
    if method == "full" or (method == "hybrid" and targets is None):
        for param in model.parameters():
            param.requires_grad_(True)
        return model
    if method == "freeze":
        apply_freeze(model, config)
        return model
    if method == "adapter":
        from framework.bottleneck import apply_adapters

        return apply_adapters(model, config)
    if method in PROMPT_METHODS:
        return get_peft_model(model, prompt_learning_config(config))
    if method in ADAPTER_METHODS:
        check_expert_lora(config, targets, method)
        if method in ("qlora", "qlora8"):
            kept = fused_expert_dtypes(model)
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=config.training.gradient_checkpointing
            )
            restore_dtypes(model, kept)
        try:
            return get_peft_model(model, lora_config(config.model_copy(update={"method": method}), targets))
        except ValueError as exc:
            raise ConfigError(f"LoRA targets do not match this model: {str(exc).splitlines()[0]}",
                              hint="set lora.target_modules to module names the model has") from None
    raise ConfigError(f"unknown method {method}")


def restrict_to_language_model(model: Any) -> int:
    """Freeze everything outside the language model of a multimodal wrapper; returns frozen count.

    A plugin sets ``LoadSettings.train_language_model_only`` for wrappers whose vision tower and
    projector must stay as published; full and freeze methods would otherwise train them too.
    """
    from framework.loss import causal_lm, decoder_of

    lm = causal_lm(model)
    keep = {id(p) for p in (decoder_of(lm) or lm).parameters()}
    head = lm.get_output_embeddings()
    if head is not None:
        keep |= {id(p) for p in head.parameters()}
    frozen = 0
    for param in model.parameters():
        if id(param) not in keep and param.requires_grad:
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen
