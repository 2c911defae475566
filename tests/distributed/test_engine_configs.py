"""The shipped DeepSpeed and FSDP settings, validated by the libraries that will read them.

DeepSpeed is an optional extra. Where it is installed, each ZeRO file goes the way a run sends
it: transformers fills the "auto" values from the run's arguments and the model, then
DeepSpeed's own config class (pydantic models that refuse unknown keys) parses it. Without
DeepSpeed only accelerate's reading of the file can be checked, and the test says which.

FSDP needs CUDA to train, but its settings are read on any machine: ``TrainingArguments``
turns ``fsdp_config`` into plugin arguments and accelerate's ``FullyShardedDataParallelPlugin``
validates them (version, state dict type, wrap policy) without a process group.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from framework import distributed

HAS_DEEPSPEED = importlib.util.find_spec("deepspeed") is not None


def _tiny_model() -> Any:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model("llama", vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2)
    return AutoModelForCausalLM.from_config(config)


def _filled_deepspeed_config(strategy: str, model: Any) -> dict[str, Any]:
    """The DeepSpeed config as transformers hands it to DeepSpeed: every "auto" resolved."""
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    args = TrainingArguments(output_dir="unused", deepspeed=distributed.deepspeed_config(strategy), use_cpu=True,
                             per_device_train_batch_size=2, gradient_accumulation_steps=3, learning_rate=2e-4,
                             max_grad_norm=0.5, report_to="none")
    try:
        hf_config = args.hf_deepspeed_config
        hf_config.trainer_config_finalize(args, model, num_training_steps=10)
        return hf_config.config
    finally:
        # the config registers itself globally: later models must not load under ZeRO-3
        unset_hf_deepspeed_config()


@pytest.mark.parametrize("strategy", ["zero2", "zero3", "zero3-offload"])
def test_deepspeed_configs(strategy: str) -> None:
    expected_stage = 2 if strategy == "zero2" else 3
    if not HAS_DEEPSPEED:  # accelerate's reading of the file is all that can be checked here
        from accelerate.utils.deepspeed import HfDeepSpeedConfig

        config = HfDeepSpeedConfig(distributed.deepspeed_config(strategy))
        assert config.get_value("zero_optimization.stage") == expected_stage
        assert config.is_offload() == (strategy == "zero3-offload")
        return
    from deepspeed.runtime.config import DeepSpeedConfig

    filled = _filled_deepspeed_config(strategy, _tiny_model())
    assert "auto" not in repr(filled), "transformers left an auto value for DeepSpeed"
    parsed = DeepSpeedConfig(filled)
    assert parsed.zero_optimization_stage == expected_stage
    assert parsed.train_micro_batch_size_per_gpu == 2 and parsed.gradient_accumulation_steps == 3
    assert parsed.gradient_clipping == 0.5
    if expected_stage == 3:  # the final save gathers one 16-bit checkpoint from the shards
        assert parsed.zero_config.gather_16bit_weights_on_model_save is True
    offload = strategy == "zero3-offload"
    assert (parsed.zero_config.offload_param is not None) == offload
    assert (parsed.zero_config.offload_optimizer is not None) == offload
    if offload:  # ZeRO-Offload refuses a client optimizer: DeepSpeed's CPU AdamW with the run's values
        assert filled["optimizer"]["params"]["lr"] == 2e-4
    # the validation is real: DeepSpeed's ZeRO model forbids keys it does not know
    filled["zero_optimization"]["stage3_gather_16bit_weights_on_model_sav"] = True
    with pytest.raises(Exception, match="stage3_gather_16bit_weights_on_model_sav"):
        DeepSpeedConfig(filled)


def test_fsdp_config_is_fsdp2_with_a_full_state_dict() -> None:
    from accelerate.utils import FullyShardedDataParallelPlugin
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir="unused", use_cpu=True, report_to="none", **distributed.trainer_arguments(
        SimpleNamespace(distributed=distributed.DistributedPlan("fsdp", 2, "fsdp", "requested"))))
    plugin = FullyShardedDataParallelPlugin(**args.fsdp_plugin_args)
    assert plugin.fsdp_version == 2 and "FULL_STATE_DICT" in str(plugin.state_dict_type)
    assert plugin.reshard_after_forward is True and plugin.cpu_ram_efficient_loading is False
    model = _tiny_model()
    plugin.set_auto_wrap_policy(model)
    wrapped = plugin.auto_wrap_policy.keywords["transformer_layer_cls"]
    # the decoder layer class comes from the model itself (_no_split_modules): no family named
    assert {cls.__name__ for cls in wrapped} == set(model._no_split_modules)


def test_every_fsdp_key_is_one_transformers_reads() -> None:
    """transformers ignores unknown fsdp_config keys silently: check each against its reader."""
    from transformers import TrainingArguments

    source = inspect.getsource(TrainingArguments._process_fsdp_args)
    read = set(re.findall(r"fsdp_config(?:\.get\(|\[)\"(\w+)\"", source))
    assert set(distributed.fsdp_config()) <= read, set(distributed.fsdp_config()) - read


def test_strategies_map_to_trainer_arguments() -> None:
    def arguments(strategy: str | None) -> dict[str, Any]:
        plan = SimpleNamespace(distributed=distributed.DistributedPlan(strategy, 2, strategy or "auto", "test"))
        return distributed.trainer_arguments(plan)

    assert arguments(None) == {} and arguments("ddp") == {}
    assert arguments("zero2")["deepspeed"]["zero_optimization"]["stage"] == 2
    assert arguments("zero3-offload")["deepspeed"]["zero_optimization"]["offload_param"]["device"] == "cpu"
    assert arguments("fsdp") == {"fsdp": True, "fsdp_config": distributed.fsdp_config()}


def test_sharded_qlora_stores_4bit_weights_in_the_compute_dtype() -> None:
    """FSDP/ZeRO-3 shard one float dtype: bitsandbytes' packed 4-bit data goes in bf16 tensors."""
    from framework.methods import quantization_config

    def plan(method: str, strategy: str | None) -> SimpleNamespace:
        return SimpleNamespace(config=SimpleNamespace(method=method), dtype=("bf16", "test"),
                               distributed=distributed.DistributedPlan(strategy, 2, "auto", "test"))

    assert distributed.quant_storage(plan("qlora", "fsdp")) == "bf16"
    assert distributed.quant_storage(plan("qlora", "zero3")) == "bf16"
    assert distributed.quant_storage(plan("qlora", "ddp")) is None  # replicas keep bitsandbytes' uint8
    assert distributed.quant_storage(plan("lora", "fsdp")) is None
    assert quantization_config("qlora", "bf16", "bf16").bnb_4bit_quant_storage == torch.bfloat16
    assert quantization_config("qlora", "bf16").bnb_4bit_quant_storage == torch.uint8
