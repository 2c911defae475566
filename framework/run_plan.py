"""The run's plan (stages 1-3): find the model, select the plugin, layer the settings, decide.

``framework plan``, ``check``, ``render`` and ``run`` all start here, so what ``plan`` shows is
exactly what ``run`` will do. Nothing in this module loads weights.
"""

from __future__ import annotations

import argparse
import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework.config import Layer, Resolved, core_layer, load_yaml_layer, parse_set, resolve
from framework.errors import ConfigError, ModelError
from framework.chat_format import choose_chat_format, chat_format_record
from framework.facts import facts_from_config, read_chat_template
from framework.hookdata import DemoModel, HardwareFacts, LoadSettings, ModelFacts, RopeDecision
from framework.plugins import FamilyHooks, PluginHost, Selection
from framework.model_source import ModelSource, resolve_model

#: The bundled example data and the prompt asked before and after the demo run.
EXAMPLE_DATA = Path(__file__).parent / "resources" / "example" / "train.jsonl"
IDENTITY_PROMPT = "Who are you?"

#: Settings of the no-argument demo run: a randomly initialised tiny model must learn the
#: identity answer in about a minute on a laptop CPU, so it trains hotter and longer than a
#: real model would.
DEMO_SETTINGS = {
    "training.learning_rate": 5e-3,
    "training.epochs": 12.0,
    "training.micro_batch_size": 8,
    "training.warmup": 0.05,
    "training.logging_steps": 10,
    "training.eval_steps": 24,
    "training.save_steps": 72,
    "lora.r": 16,
    "lora.alpha": 32,
    "lora.dropout": 0.0,
    "data.cutoff_len": 256,
    "data.val_size": 0.1,
}


def cli_layer(args: argparse.Namespace) -> Layer:
    """Command-line flags as dotted keys (only the flags the user actually gave)."""
    values: dict[str, Any] = {}
    flag_keys = {
        "model": "model.name_or_path", "method": "method", "stage": "stage", "output": "output.dir",
        "plugin": "model.plugin", "gpu": "plan.gpu", "seq_schedule": "data.seq_schedule",
        "format": "data.format", "cutoff_len": "data.cutoff_len",
        "distributed": "distributed.strategy", "nproc": "distributed.nproc", "nnodes": "distributed.nnodes",
        "node_rank": "distributed.node_rank", "master_addr": "distributed.master_addr",
        "master_port": "distributed.master_port",
    }
    for attr, key in flag_keys.items():
        value = getattr(args, attr, None)
        if value is not None:
            values[key] = value
    if getattr(args, "data", None):
        values["data.paths"] = list(args.data)
    if getattr(args, "reward", None):
        values["grpo.rewards"] = list(args.reward)
    for attr, key in (("trust_remote_code", "model.trust_remote_code"), ("allow_pickle", "model.allow_pickle"),
                      ("resume", "output.resume"), ("overwrite", "output.overwrite"), ("strict", "data.strict"),
                      ("overwrite_cache", "data.overwrite_cache")):
        if getattr(args, attr, False):
            values[key] = True
    if getattr(args, "no_packing", False):
        values["data.packing"] = False
    values.update(parse_set(getattr(args, "set", None) or []))
    return Layer("cli", values)


@dataclass
class RunPlan:
    """Everything decided before weights are loaded."""

    source: ModelSource
    facts: ModelFacts
    selection: Selection
    family: FamilyHooks
    resolved: Resolved
    hardware: HardwareFacts
    load: LoadSettings
    attention: tuple[str, str]
    dtype: tuple[str, str]
    rope: RopeDecision
    demo: DemoModel | None = None
    memory: Any = None
    method_choice: Any = None  # framework.planning.MethodChoice when the planner picked the method
    distributed: Any = None  # framework.distributed.DistributedPlan: strategy and per-GPU memory
    loss: Any = None  # framework.kernels.LossChoice: chunked, Liger's fused or the model's own loss
    parameters: Any = None  # framework.planning.parameters.ParameterReport: total/active/trainable
    router_loss: Any = None  # framework.moe.RouterLoss of a mixture of experts
    dropout: tuple[str, str] | None = None  # framework.kernels.lora_dropout_choice: bits, torch or off, and why
    warnings: list[str] = field(default_factory=list)

    @property
    def config(self) -> Any:
        return self.resolved.config

    @property
    def data_paths(self) -> list[str]:
        return self.config.data.paths or [str(EXAMPLE_DATA)]

    def plugin_record(self) -> dict[str, Any]:
        info = self.selection.info
        return {
            "name": info.name, "distribution": info.distribution, "version": info.version,
            "variant": self.facts.variant, "forced": self.selection.forced,
            "reasons": list(self.selection.match.reasons) if self.selection.match else [],
            "chat_format": chat_format_record(self),
        }


def _peek(layers: list[Layer], key: str) -> Any:
    value = None
    for layer in layers:
        value = layer.values.get(key, value)
    return value


def demo_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("framework")) / "demo"


def make_plan(args: argparse.Namespace, host: PluginHost, *, need_weights: bool) -> RunPlan:
    """Resolve everything a run needs to know before loading weights."""
    user_layers: list[Layer] = []
    if getattr(args, "config", None):
        user_layers.append(load_yaml_layer(args.config))
    user_layers.append(cli_layer(args))

    model_name = _peek(user_layers, "model.name_or_path")
    demo = None
    if not model_name:
        demo = host.demo_model(demo_cache_dir())
        if demo is None:
            raise ModelError("no model given and no installed plugin provides a demo model",
                             hint="pass --model PATH_OR_HUB_ID")
        model_name = demo.path
    published = None if need_weights else host.known_model_configs()
    source = resolve_model(model_name, need_weights=need_weights, published=published)
    facts = facts_from_config(source.config, source.name_or_path, read_chat_template(source.directory))
    selection = host.select(facts, _peek(user_layers, "model.plugin"))
    family = host.family(selection, facts)
    facts = family.facts

    method = _peek(user_layers, "method") or "lora"
    stage = _peek(user_layers, "stage") or "sft"
    plugin_name, plugin_defaults = family.default_hyperparameters(method, stage)
    layers = [core_layer(), Layer(f"plugin:{plugin_name}", plugin_defaults)]
    if demo is not None:
        layers.append(Layer("demo", DEMO_SETTINGS))
    choice = _planner_choice(facts, layers, user_layers, stage)
    if choice is not None:
        plugin_name, plugin_defaults = family.default_hyperparameters(choice.method, stage)
        layers[1] = Layer(f"plugin:{plugin_name}", plugin_defaults)
        layers.append(planner_layer(choice))
    resolved = resolve(layers + user_layers)
    config = resolved.config
    targets = _lora_targets(family, config)
    if _expert_dropout_unset(config, targets, user_layers):  # peft refuses dropout on fused experts
        layers.append(Layer("fused-experts", {"lora.dropout": 0.0}))
        resolved = resolve(layers + user_layers)
        config = resolved.config
    from framework.methods import check_expert_lora

    check_expert_lora(config, targets, _adapter_method(config.method), where=_location(user_layers, "lora.dropout"))
    family = choose_chat_format(host, selection, facts, family, config.data.template,
                                has_files=source.directory is not None)
    facts = family.facts
    from framework.extras import check_config
    from framework.loggers import check_loggers

    check_loggers(config.training.report_to)
    _refuse_late_failures(config, need_weights)

    from framework.hardware import choose_attention, choose_dtype, detect_hardware

    hardware = detect_hardware()
    check_config(config, hardware)  # optional packages the settings ask for, before data or weights
    load = family.load_settings(hardware)
    warnings: list[str] = []
    if selection.name == "generic":
        warnings.append(f"no installed plugin knows model_type '{facts.model_type}': using the generic fallback "
                        "(the tokenizer's own chat template, every linear layer as LoRA target)")
    if (facts.requires_remote_code or load.trust_remote_code) and not config.model.trust_remote_code:
        raise ModelError(f"{facts.name_or_path} needs its own Python code to load (remote code), which is off by default",
                         hint="read the code in the model repository, then pass --trust-remote-code to allow it")
    dtype = choose_dtype(load, hardware, config.model.dtype)
    # the kernel after the dtype (flash-attn has no fp32) and against the model class and head sizes
    attention = choose_attention(load, hardware, config.model.attn_implementation, dtype=dtype[0], needs=facts)
    if config.method in ("qlora", "qlora8") and hardware.device == "cpu" and dtype[0] == "fp32":
        pass  # bitsandbytes runs 4-bit on CPU; compute stays fp32
    rope = family.rope_scaling(config.data.cutoff_len)
    if rope.action == "refuse":
        raise ConfigError(f"data.cutoff_len={config.data.cutoff_len} is beyond what this model can reach: {rope.reason}",
                          hint=f"lower it, e.g. --cutoff-len {plan_max}" if (plan_max := facts.max_position_embeddings) else "lower it with --cutoff-len")
    warnings.extend(rope.warnings)
    if config.stage == "sft" and config.data.packing and not load.supports_packing:
        warnings.append("padding-free packing is not safe for this model: using padded batches ("
                        + "; ".join(load.notes) + ")")
    plan = RunPlan(source, facts, selection, family, resolved, hardware, load, attention, dtype, rope, demo,
                   warnings=warnings)
    plan.method_choice = choice
    if choice is not None and not choice.fits:
        plan.warnings.append(f"planner: {choice.reason}")
    plan.memory = _memory_estimate(plan, targets)
    plan.parameters = _parameter_report(plan, targets)
    from framework import moe

    plan.router_loss = moe.router_loss(facts, config.training.router_aux_loss_coef)
    report = plan.parameters
    if report is not None and report.experts and report.by_role and not report.by_role.get("expert"):
        plan.warnings.append(
            "LoRA adapts no routed expert of this mixture of experts (transformers stores them as fused 3-D "
            "parameters that module names never reach): only attention and plain linear layers train"
            + (" (lora.target_modules replaces the plugin's expert targets; remove it to train them)"
               if config.lora.target_modules else ""))
    from framework.distributed import plan_distributed

    plan.distributed = plan_distributed(plan)
    from framework.distributed.launch import launcher_engine
    from framework.kernels import choose_loss, lora_dropout_choice

    plan.loss = choose_loss(config, strategy=plan.distributed.strategy, world_size=plan.distributed.world_size,
                            engine=launcher_engine(), raw_config=facts.raw, hardware=hardware, dtype=dtype[0])
    plan.dropout = lora_dropout_choice(config, hardware)
    return plan


#: transformers optimizer names -> the memory planner's names for the same optimizers.
_PLANNER_OPTIMIZERS = {"adamw_torch": "adamw", "adamw_torch_fused": "adamw_fused", "adamw_bnb_8bit": "adamw_8bit",
                       "adamw_8bit": "adamw_8bit", "paged_adamw_8bit": "paged_adamw_8bit",
                       "paged_adamw_32bit": "paged_adamw_32bit"}


def _planner_choice(facts: ModelFacts, layers: list[Layer], user_layers: list[Layer], stage: str) -> Any:
    """The planner's method for the accelerator (``--gpu`` or the detected one) when the user named none.

    The estimate uses the settings the run would have (sequence length, batch, LoRA rank,
    packing, optimizer), so the choice and the run agree; the user's own values still win.
    """
    if _peek(user_layers, "method") is not None or stage in ("dpo", "grpo"):
        return None
    from framework.hardware import detect_hardware

    gpu = _peek(user_layers, "plan.gpu")
    hardware = detect_hardware()
    if gpu:
        from framework.planning import parse_size

        gpu_bytes = parse_size(str(gpu))
    elif hardware.device == "cuda" and hardware.gpu_memory_bytes:
        gpu_bytes = hardware.gpu_memory_bytes
    else:
        return None
    from framework.planning import choose_method

    draft = resolve(layers + user_layers).config
    import importlib.util

    quantized = ("qlora",) if importlib.util.find_spec("bitsandbytes") is not None else ()
    t = draft.training
    compute = "fp16" if hardware.device == "cuda" and not hardware.bf16_supported else "bf16"
    try:
        return choose_method(facts, gpu_bytes=gpu_bytes, seq_len=draft.data.cutoff_len,
                             global_batch=t.micro_batch_size * t.grad_accum, allowed=("full", "lora", *quantized),
                             optimizer=_PLANNER_OPTIMIZERS.get(t.optim, "adamw"), compute_dtype=compute,
                             lora_r=draft.lora.r, packed=draft.data.packing, chunked_loss=t.chunked_loss)
    except ConfigError:
        raise
    except Exception:  # a config without sizes (remote-code keys) cannot be planned: keep the default method
        return None


def _refuse_late_failures(config: Any, need_weights: bool) -> None:
    """Settings that transformers or bitsandbytes would reject only after data and model are loaded."""
    if config.data.val_size > 0:
        from framework.training.arguments import save_and_eval_schedule

        save_and_eval_schedule(config.training, has_eval=True)
    if need_weights and config.method in ("qlora", "qlora8"):
        from framework.methods import quantization_config

        quantization_config(config.method, "bf16")
    if config.unfreeze.schedule:
        from framework.unfreeze import check_config

        check_config(config)


def planner_layer(choice: Any) -> Layer:
    """The planner's decision as a settings layer: above the plugin's defaults, below the user's."""
    return Layer("planner", {
        "method": choice.method,
        "training.micro_batch_size": choice.micro_batch,
        "training.grad_accum": choice.grad_accum,
        "training.gradient_checkpointing": choice.grad_checkpointing,
    })


def _adapter_method(method: str) -> str:
    """The LoRA-family method a run attaches (hybrid's second phase is plain LoRA)."""
    return "lora" if method == "hybrid" else method


def _lora_targets(family: Any, config: Any) -> Any:
    """The plugin's LoRA targets for a LoRA-family run (None for other methods)."""
    from framework.config import ADAPTER_METHODS

    method = _adapter_method(config.method)
    return family.lora_targets(method, config.lora.train_embeddings) if method in ADAPTER_METHODS else None


def _location(layers: list[Layer], key: str) -> str | None:
    """file:line (or ``cli``) of the user's last setting of ``key``."""
    found = [layer.location(key) for layer in layers if key in layer.values]
    return found[-1] if found else None


def _expert_dropout_unset(config: Any, targets: Any, user_layers: list[Layer]) -> bool:
    """A default (core or plugin) dropout on adapted fused experts, which peft refuses: it becomes 0."""
    from framework.methods import expert_parameters

    return (targets is not None and bool(expert_parameters(config, targets)) and config.lora.dropout > 0
            and config.method != "dora" and _peek(user_layers, "lora.dropout") is None)


def _lora_names(config: Any, targets: Any) -> tuple[Any, tuple[str, ...]]:
    """peft's target_modules and target_parameters of the run, as ``framework.methods`` builds them."""
    from framework.methods import expert_parameters

    from framework.planning.trainables import resolve_targets

    if targets is None:
        return None, ()
    modules = config.lora.target_modules or targets.target_modules
    modules = modules if isinstance(modules, str) else list(modules)
    try:
        resolve_targets(modules)
    except ConfigError:  # names or a regex the planner cannot place: count every linear
        return None, expert_parameters(config, targets)
    return modules, expert_parameters(config, targets)


def _parameter_report(plan: RunPlan, targets: Any) -> Any:
    """Total, active and trainable parameters (by attention/expert share), when the facts suffice."""
    from framework.planning.parameters import parameter_report

    cfg = plan.config
    modules, parameters = _lora_names(cfg, targets)
    try:
        return parameter_report(plan.facts, method=cfg.method, lora_r=cfg.lora.r, lora_targets=modules,
                                lora_parameters=parameters, freeze_trainable_layers=cfg.freeze.trainable_layers,
                                num_virtual_tokens=cfg.prompt.num_virtual_tokens)
    except Exception:  # a config without sizes (remote code keys) cannot be counted
        return None


def _memory_estimate(plan: RunPlan, targets: Any = None) -> Any:
    """The planner's estimate, when the planner is installed and the facts suffice."""
    try:
        from framework.planning.memory import estimate
    except ImportError:
        return None
    cfg = plan.config
    modules, parameters = _lora_names(cfg, targets)
    try:
        if cfg.stage == "grpo":
            from framework.planning.rl import generation_by_vllm, grpo_estimate

            return grpo_estimate(plan.facts, cfg, compute_dtype="bf16" if plan.dtype[0] == "fp32" and
                                 plan.hardware.device == "cpu" else plan.dtype[0],
                                 vllm=generation_by_vllm(cfg.grpo.generation, plan.hardware.device),
                                 grad_checkpointing=cfg.training.gradient_checkpointing, lora_r=cfg.lora.r,
                                 lora_targets=modules, lora_parameters=parameters)
        return estimate(plan.facts, method=cfg.method, micro_batch=cfg.training.micro_batch_size,
                        seq_len=cfg.data.cutoff_len, grad_checkpointing=cfg.training.gradient_checkpointing,
                        compute_dtype="bf16" if plan.dtype[0] == "fp32" and plan.hardware.device == "cpu" else plan.dtype[0],
                        lora_r=cfg.lora.r, packed=cfg.data.packing, chunked_loss=cfg.training.chunked_loss,
                        lora_targets=modules, lora_parameters=parameters,
                        adapter_dim=cfg.adapter.dim, adapters_per_layer=2 if cfg.adapter.placement == "both" else 1)
    except Exception:  # a config without sizes (remote code keys) cannot be estimated
        return None


def library_versions() -> dict[str, str]:
    out = {}
    for dist in ("framework", "torch", "transformers", "peft", "accelerate", "datasets", "bitsandbytes", "pluggy", "trl"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out
