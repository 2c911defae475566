"""The engines' own settings: shipped DeepSpeed/FSDP files, 4-bit storage, gathering shards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framework.distributed.launch import DEEPSPEED_STRATEGIES
from framework.errors import ConfigError

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "distributed"


def deepspeed_config(strategy: str) -> dict[str, Any]:
    """The shipped DeepSpeed JSON of a ZeRO strategy; "auto" values are filled by transformers."""
    if strategy not in DEEPSPEED_STRATEGIES:
        raise ConfigError(f"{strategy} is not a DeepSpeed strategy",
                          hint=f"one of {', '.join(sorted(DEEPSPEED_STRATEGIES))}")
    return json.loads((RESOURCES / f"{strategy}.json").read_text(encoding="utf-8"))


def fsdp_config() -> dict[str, Any]:
    """The shipped FSDP2 settings (``TrainingArguments.fsdp_config``).

    FULL_STATE_DICT makes ``save_model`` gather one normal checkpoint; the transformer-based
    wrap policy finds the decoder layer class from the model's own ``_no_split_modules``.
    """
    return json.loads((RESOURCES / "fsdp.json").read_text(encoding="utf-8"))


def trainer_arguments(plan: Any) -> dict[str, Any]:
    """Extra ``TrainingArguments`` of the planned strategy: nothing for DDP, else the engine's."""
    dist_plan = getattr(plan, "distributed", None)
    strategy = dist_plan.strategy if dist_plan is not None else None
    if strategy in DEEPSPEED_STRATEGIES:
        return {"deepspeed": deepspeed_config(strategy)}
    if strategy == "fsdp":
        return {"fsdp": True, "fsdp_config": fsdp_config()}
    return {}


def quant_storage(plan: Any) -> str | None:
    """Storage dtype of 4-bit weights: the compute dtype when FSDP or ZeRO-3 shards them.

    FSDP and ZeRO-3 shard floating-point tensors of one dtype; bitsandbytes can keep its packed
    4-bit data in a bf16 (or fp16/fp32) tensor instead of uint8 (``bnb_4bit_quant_storage``), so
    quantized and plain weights shard alike. Same bytes; None keeps bitsandbytes' uint8.
    """
    dist_plan = getattr(plan, "distributed", None)
    if plan.config.method != "qlora" or dist_plan is None or not dist_plan.sharded:
        return None
    return plan.dtype[0]


def full_state_dict(trainer: Any) -> dict[str, Any] | None:
    """The whole model's weights gathered from the shards, on every process (a collective).

    None when nothing is sharded (DDP, ZeRO-2, one process): the model in hand is complete.
    FSDP gathers through accelerate (FULL_STATE_DICT); ZeRO-3 through DeepSpeed's 16-bit
    consolidation (``stage3_gather_16bit_weights_on_model_save``), adapters only for peft.
    """
    if getattr(trainer, "is_fsdp_enabled", False):
        return trainer.accelerator.get_state_dict(trainer.model)
    if getattr(trainer, "is_deepspeed_enabled", False):
        engine = trainer.model_wrapped
        if engine.zero_optimization_stage() != 3:
            return None
        only_trained = hasattr(trainer.model, "peft_config")
        return engine._zero3_consolidated_16bit_state_dict(exclude_frozen_parameters=only_trained)
    return None
