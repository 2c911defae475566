"""Optional features, the packages they import and the ``framework[extra]`` that installs them.

One table instead of a check per feature: each optional feature is asked for by a setting,
and a run whose settings ask for a feature whose package is missing is refused while the plan
is made, before any data or weights are read, in one line naming the install command. Without
it the missing import surfaced late (the trainer's logger after the model was loaded, Liger
when the model was patched) or as an internal error.

A new optional feature (a recipe's reward library, a new logger) is one ``Extra`` row plus the
extra of the same name in ``pyproject.toml``; ``tests/test_extras.py`` keeps the two in step.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Iterable

from framework.errors import ConfigError


@dataclass(frozen=True)
class Extra:
    """An optional feature.

    ``modules`` are import names that must all be importable; ``extra`` is the optional
    dependency group of the ``framework`` distribution that installs them; ``alternative``
    says how to run without the feature.
    """

    feature: str
    modules: tuple[str, ...]
    extra: str
    alternative: str = ""

    def missing(self) -> list[str]:
        """The import names of this feature that cannot be found (empty: installed)."""
        return [m for m in self.modules if importlib.util.find_spec(m) is None]

    def install_line(self) -> str:
        return f"pip install 'framework[{self.extra}]'"


#: Every optional feature, by the name the settings use for it.
EXTRAS: dict[str, Extra] = {e.feature: e for e in (
    Extra("flash-attn", ("flash_attn",), "cuda", "on a CUDA machine; or use --set model.attn_implementation=sdpa"),
    Extra("liger", ("liger_kernel",), "liger", "or set training.liger_kernels=false"),
    Extra("deepspeed", ("deepspeed",), "deepspeed", "or use --distributed fsdp"),
    Extra("eval", ("sacrebleu", "rouge_score"), "eval", "or leave out --generate"),
    Extra("math-verify", ("math_verify",), "grpo", "or use --reward exact_match"),
    Extra("vllm", ("vllm",), "vllm", "or set grpo.generation=hf"),
    Extra("wandb", ("wandb",), "wandb", "or drop wandb from training.report_to"),
    Extra("mlflow", ("mlflow",), "mlflow", "or drop mlflow from training.report_to"),
    Extra("comet_ml", ("comet_ml",), "comet", "or drop comet_ml from training.report_to"),
    Extra("clearml", ("clearml",), "clearml", "or drop clearml from training.report_to"),
    Extra("neptune", ("neptune",), "neptune", "or drop neptune from training.report_to"),
    Extra("dvclive", ("dvclive",), "dvclive", "or drop dvclive from training.report_to"),
    Extra("swanlab", ("swanlab",), "swanlab", "or drop swanlab from training.report_to"),
    Extra("trackio", ("trackio",), "trackio", "or drop trackio from training.report_to"),
    Extra("ui", ("gradio", "pandas"), "ui", "or use the commands it wraps: framework plan, render, run, chat"),
    Extra("tune", ("optuna",), "tune", "or search by hand with framework run --set"),
)}

def require(feature: str, *, asked_by: str) -> None:
    """Raise a one-line ConfigError (exit 2) naming the install command when ``feature`` is missing.

    ``asked_by``: the setting that asked for it, as the user wrote it (``training.liger_kernels=true``).
    """
    extra = EXTRAS[feature]
    missing = extra.missing()
    if missing:
        raise ConfigError(f"{asked_by} needs {feature}, which is not installed (no module {missing[0]!r})",
                          hint=f"{extra.install_line()}{', ' + extra.alternative if extra.alternative else ''}")


def requested_features(config: Any, hardware: Any = None) -> list[tuple[str, str]]:
    """``(feature, setting that asks for it)`` for every optional feature a resolved run config uses.

    Read from settings (and ``hardware``, the detected ``HardwareFacts``) alone, so it runs while
    the plan is made. flash-attn is asked of the package only on a CUDA machine where it does not
    import (``hardware.flash_attn_version`` is None); elsewhere choosing the kernel says why not.
    """
    wanted: list[tuple[str, str]] = []
    no_flash = hardware is None or (hardware.device == "cuda" and not hardware.flash_attn_version)
    if config.model.attn_implementation == "flash_attention_2" and no_flash:
        wanted.append(("flash-attn", "model.attn_implementation=flash_attention_2"))
    if config.training.liger_kernels:
        wanted.append(("liger", "training.liger_kernels=true"))
    from framework.distributed.launch import DEEPSPEED_STRATEGIES

    strategy = config.distributed.strategy
    if strategy in DEEPSPEED_STRATEGIES:
        wanted.append(("deepspeed", f"--distributed {strategy}"))
    wanted.extend((name, f"training.report_to={name}") for name in config.training.report_to if name in EXTRAS)
    if config.stage == "grpo":
        from framework.rewards import parse_choice

        if any(parse_choice(text).name == "math" for text in config.grpo.rewards):
            wanted.append(("math-verify", "--reward math"))
        if config.grpo.generation == "vllm":
            wanted.append(("vllm", "grpo.generation=vllm"))
    return wanted


def check_requested(features: Iterable[tuple[str, str]]) -> None:
    """Refuse the first requested feature whose package is missing."""
    for feature, asked_by in features:
        require(feature, asked_by=asked_by)


def check_config(config: Any, hardware: Any = None) -> None:
    """The plan-time check: every optional feature the settings ask for is installed."""
    check_requested(requested_features(config, hardware))
