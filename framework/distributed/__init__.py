"""Several GPUs and machines, driven through engines that already exist: torchrun, DeepSpeed, FSDP.

The framework builds no distributed engine. ``framework run --nproc N`` re-executes itself under
``python -m torch.distributed.run`` (torchrun); each process then runs the ordinary pipeline and
transformers' ``Trainer`` (accelerate underneath) does the data-parallel work: DDP by default,
DeepSpeed ZeRO-2/3 from the JSON files in ``resources/distributed/``, or FSDP2 through
``TrainingArguments(fsdp=True, fsdp_config=...)``. What this package adds is what a launcher
cannot know:

* which strategy fits: the memory planner's per-GPU estimate of every strategy, the first that
  fits the GPU wins (``auto``), the same choice in ``framework plan`` and in every process;
* that every process selected the same plugin, version and variant (a machine with another
  plugin version would tokenize differently: the run stops instead);
* that the things only one process may do (build the demo model, fill the data cache, write
  the outputs) happen once, with the others waiting at a barrier;
* that sharded weights are gathered into one normal adapter or safetensors model at the end.

``torchrun -m framework run ...`` and ``accelerate launch --multi_gpu -m framework run ...`` work too: the
environment they set (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) is all it reads.

The package is split by concern: ``launch`` (environment, torchrun relaunch), ``group``
(process group, barriers, agreement), ``strategy`` (the planner's per-GPU choice), ``engines``
(DeepSpeed/FSDP settings, 4-bit storage, gathering shards for the final save).
"""

from framework.distributed.engines import (
    RESOURCES, deepspeed_config, fsdp_config, full_state_dict, quant_storage, trainer_arguments,
)
from framework.distributed.group import TIMEOUT, barrier, check_agreement, init_process_group, main_process_first
from framework.distributed.launch import (
    DEEPSPEED_STRATEGIES, ENGINE_STRATEGIES, LAUNCHER_FLAGS, is_main_process, launch, launch_command, launched,
    launcher_engine, local_rank, needs_launch, rank, strip_launcher_flags, world_size,
)
from framework.distributed.strategy import (
    AUTO_ORDER, MARGIN, SHARDED_STRATEGIES, STRATEGIES, WORLD_SIZES, DistributedPlan, check_supported,
    deepspeed_available, estimate_arguments, gpu_memory, plan_distributed, planned_world_size, strategy_table,
)

__all__ = [
    "AUTO_ORDER", "DEEPSPEED_STRATEGIES", "ENGINE_STRATEGIES", "LAUNCHER_FLAGS", "MARGIN", "RESOURCES",
    "SHARDED_STRATEGIES", "STRATEGIES", "TIMEOUT", "WORLD_SIZES", "DistributedPlan", "barrier", "check_agreement",
    "check_supported", "deepspeed_available", "deepspeed_config", "estimate_arguments", "fsdp_config",
    "full_state_dict", "gpu_memory", "init_process_group", "is_main_process", "launch", "launch_command", "launched",
    "launcher_engine", "local_rank", "main_process_first", "needs_launch", "plan_distributed", "planned_world_size",
    "quant_storage", "rank", "strategy_table", "strip_launcher_flags", "trainer_arguments", "world_size",
]
