"""Several GPUs and machines, driven through engines that already exist: torchrun, DeepSpeed, FSDP.

The framework builds no distributed engine. ``framework run --nproc N`` re-executes itself under
``python -m torch.distributed.run`` (torchrun); each process then runs the ordinary pipeline and
transformers' ``Trainer`` (accelerate underneath) does the data-parallel work: DDP by default,
DeepSpeed ZeRO-2/3 from the JSON files in ``resources/distributed/``, or FSDP2 through
``TrainingArguments(fsdp=True, fsdp_config=...)``. What this module adds is what a launcher
cannot know:

* which strategy fits: the memory planner's per-GPU estimate of every strategy, the first that
  fits the GPU wins (``auto``), the same choice in ``framework plan`` and in every process;
* that every process selected the same plugin, version and variant (a machine with another
  plugin version would tokenize differently: the run stops instead);
* that the things only one process may do (build the demo model, fill the data cache, write
  the outputs) happen once, with the others waiting at a barrier;
* that sharded weights are gathered into one normal adapter or safetensors model at the end.

``torchrun -m framework run ...`` and ``accelerate launch -m framework run ...`` work too: the
environment they set (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) is all this module reads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator, Sequence

from framework.errors import ConfigError, SelectionError

RESOURCES = Path(__file__).parent / "resources" / "distributed"
STRATEGIES = ("ddp", "zero2", "zero3", "zero3-offload", "fsdp")
DEEPSPEED_STRATEGIES = frozenset({"zero2", "zero3", "zero3-offload"})
#: Strategies whose processes each hold only a shard of the weights: saving gathers them.
SHARDED_STRATEGIES = frozenset({"zero3", "zero3-offload", "fsdp"})
#: ``auto`` tries these in order: the least communication first, CPU offload (slow) last.
#: FSDP comes before ZeRO-3 (same memory) because it needs nothing beyond torch.
AUTO_ORDER = ("ddp", "zero2", "fsdp", "zero3", "zero3-offload")
WORLD_SIZES = (2, 4, 8, 16, 32, 64)
#: Share of a GPU kept free for what no estimate sees (the planner's choose_method default).
MARGIN = 0.1
#: Collective timeout: long enough for the first process to fill the data cache alone.
TIMEOUT = timedelta(hours=1)
#: Command-line flags that configure the launcher; the relaunched processes do not get them.
LAUNCHER_FLAGS = ("--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port")
DEFAULT_MASTER_PORT = 29500
#: transformers optimizer names -> the planner's names (others keep the planner's default).
PLANNER_OPTIMIZERS = {"adamw_torch": "adamw", "adamw_torch_fused": "adamw_fused", "adamw_bnb_8bit": "adamw_8bit",
                      "paged_adamw_8bit": "paged_adamw_8bit", "paged_adamw_32bit": "paged_adamw_32bit"}


# ──────────────────────────────────────────────────────────────────────────────────────────
# Where this process stands (the launcher's environment)
# ──────────────────────────────────────────────────────────────────────────────────────────


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def launched() -> bool:
    """True inside a process that torchrun, accelerate or another launcher started."""
    return "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def is_main_process() -> bool:
    """The process that prints and writes: global rank 0 (also when nothing is distributed)."""
    return rank() == 0


def launcher_engine() -> str | None:
    """An engine an ``accelerate launch`` config already chose (then the framework adds none)."""
    for variable, engine in (("ACCELERATE_USE_DEEPSPEED", "deepspeed"), ("ACCELERATE_USE_FSDP", "fsdp")):
        if os.environ.get(variable, "false").lower() in ("1", "true"):
            return engine
    return None


# ──────────────────────────────────────────────────────────────────────────────────────────
# The launcher: re-execute under torchrun
# ──────────────────────────────────────────────────────────────────────────────────────────


def needs_launch(settings: Any) -> bool:
    """Whether ``framework run`` must start the processes itself (``settings``: config.distributed).

    DeepSpeed and FSDP need a process group even on one GPU, so an explicit engine strategy is
    launched with ``--nproc 1`` too; plain single-process training is not.
    """
    if launched():
        return False
    return settings.nproc > 1 or settings.nnodes > 1 or settings.strategy in DEEPSPEED_STRATEGIES | {"fsdp"}


def strip_launcher_flags(argv: Sequence[str]) -> list[str]:
    """``argv`` without the launcher flags (``--nproc 2`` and ``--nproc=2`` forms)."""
    out: list[str] = []
    skip_next = False
    for item in argv:
        if skip_next:
            skip_next = False
            continue
        name = item.split("=", 1)[0]
        if name in LAUNCHER_FLAGS:
            skip_next = "=" not in item
            continue
        out.append(item)
    return out


def launch_command(settings: Any, argv: Sequence[str]) -> list[str]:
    """The torchrun command that runs ``framework <argv>`` in ``settings.nproc`` processes here.

    One machine without a port gets ``--standalone`` (torchrun picks a free port, so two runs on
    one machine never collide); several machines meet at ``master_addr:master_port``.
    """
    if settings.node_rank >= settings.nnodes:
        raise ConfigError(f"distributed.node_rank={settings.node_rank} but only {settings.nnodes} machines take part",
                          hint="node ranks go from 0 to nnodes - 1")
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={settings.nproc}"]
    if settings.nnodes == 1 and settings.master_port is None:
        command.append("--standalone")
    else:
        if settings.nnodes > 1 and not settings.master_addr:
            raise ConfigError("several machines need the address of machine 0",
                              hint="pass --master-addr HOST (the same on every machine)")
        command += [f"--nnodes={settings.nnodes}", f"--node_rank={settings.node_rank}",
                    f"--master_addr={settings.master_addr or '127.0.0.1'}",
                    f"--master_port={settings.master_port or DEFAULT_MASTER_PORT}"]
    return command + ["-m", "framework", *strip_launcher_flags(argv)]


def launch(settings: Any, argv: Sequence[str]) -> int:
    """Run ``framework <argv>`` under torchrun and return its exit status.

    An interrupt reaches torchrun and the workers directly (same process group), and torchrun
    stops them; this process only waits for that to finish.
    """
    process = subprocess.Popen(launch_command(settings, argv))
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


# ──────────────────────────────────────────────────────────────────────────────────────────
# The process group, barriers, agreement
# ──────────────────────────────────────────────────────────────────────────────────────────


def init_process_group() -> bool:
    """Join the launcher's process group early, before the plan (idempotent).

    transformers would join it when ``TrainingArguments`` is built, which is too late for the
    plugin agreement and the one-process-first stages. accelerate, DeepSpeed and the Trainer
    all reuse an existing group. CUDA gets NCCL for tensors and gloo for CPU objects; the GPU
    is bound first so that NCCL never puts two processes on GPU 0.
    """
    if world_size() <= 1:
        return False
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return True
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank())
        backend = "cuda:nccl,cpu:gloo"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, timeout=TIMEOUT)
    return True


def _group_ready() -> bool:
    if world_size() <= 1:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    """Wait for every process; nothing to wait for without a process group."""
    if _group_ready():
        import torch.distributed as dist

        dist.barrier()


@contextmanager
def main_process_first() -> Iterator[None]:
    """Run the block in process 0 first, then in each machine's first process, then in the rest.

    Caches (the demo model, preprocessed data) are filled once and read by the others, whether
    the cache directory is shared between machines or local to each. Every process passes the
    same two barriers, at different places.
    """
    if not init_process_group():
        yield
        return
    if rank() == 0:
        yield
        barrier()
        barrier()
    elif local_rank() == 0:
        barrier()
        yield
        barrier()
    else:
        barrier()
        barrier()
        yield


def check_agreement(record: Sequence[Any]) -> None:
    """Stop unless every process holds the same ``record`` (plugin, version, variant, strategy).

    Raises:
        SelectionError: on every process, naming what each rank selected.
    """
    if not init_process_group():
        return
    import torch.distributed as dist

    records: list[Any] = [None] * world_size()
    dist.all_gather_object(records, list(record))
    if all(r == records[0] for r in records):
        return
    seen = "; ".join(f"rank {i}: {' '.join(str(x) for x in r)}" for i, r in enumerate(records))
    raise SelectionError(f"the processes disagree on plugin, version, variant or strategy ({seen})",
                         hint="install the same framework and plugin versions on every machine")


# ──────────────────────────────────────────────────────────────────────────────────────────
# Which strategy: the planner's per-GPU estimates
# ──────────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class DistributedPlan:
    """How a run spreads over GPUs, and what each strategy would cost per GPU.

    ``strategy`` is None for one plain process. ``table`` holds (strategy, bytes per GPU, fits)
    for every strategy at this world size, empty when the planner cannot estimate the model.
    ``suggestion`` says how many GPUs with which strategy would fit when one GPU does not.
    """

    strategy: str | None
    world_size: int
    requested: str
    reason: str
    gpu_bytes: int | None = None
    per_gpu: int | None = None
    fits: bool | None = None
    table: tuple[tuple[str, int, bool], ...] = ()
    suggestion: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sharded(self) -> bool:
        return self.strategy in SHARDED_STRATEGIES

    def record(self) -> dict[str, Any]:
        """What ``plan --json`` prints and ``training_config.json`` keeps."""
        return {"strategy": self.strategy, "requested": self.requested, "world_size": self.world_size,
                "per_gpu_bytes": self.per_gpu, "gpu_bytes": self.gpu_bytes, "fits": self.fits, "reason": self.reason,
                "table": [{"strategy": s, "per_gpu_bytes": b, "fits": f} for s, b, f in self.table],
                "suggestion": self.suggestion}

    def lines(self) -> list[str]:
        """The ``framework plan`` lines: the strategy with its per-GPU memory, then every strategy."""
        from framework.planning.sizes import format_bytes

        out: list[str] = []
        if self.strategy is not None:
            memory = f": {format_bytes(self.per_gpu)} per GPU" if self.per_gpu is not None else ""
            out.append(f"distributed {self.strategy} over {self.world_size} GPU{'s' if self.world_size > 1 else ''}"
                       f"{memory} - {self.reason}")
            for name, total, fits in self.table:
                verdict = "" if self.gpu_bytes is None else ("  fits" if fits else "  does not fit")
                out.append(f"  {name:<14} {format_bytes(total):>12} per GPU{verdict}")
        if self.suggestion:
            out.append(f"distributed {self.suggestion}")
        out.extend(f"  note: {note}" for note in self.notes)
        return out


def planned_world_size(settings: Any) -> int:
    """The processes of the run: the launcher's when launched, else nproc x nnodes."""
    return world_size() if launched() else settings.nproc * settings.nnodes


def deepspeed_available() -> bool:
    return importlib.util.find_spec("deepspeed") is not None


def estimate_arguments(plan: Any, *, distributed: bool) -> dict[str, Any]:
    """The planner's ``estimate`` settings for this run.

    Under DDP, DeepSpeed and FSDP the loss is transformers' own (full logits): the chunked loss
    reaches into the decoder directly, past the engine's wrapper (see ``train.py``).
    """
    cfg = plan.config
    dtype = plan.dtype[0]
    args: dict[str, Any] = dict(
        method=cfg.method, micro_batch=cfg.training.micro_batch_size, seq_len=cfg.data.cutoff_len,
        grad_checkpointing=cfg.training.gradient_checkpointing,
        compute_dtype="bf16" if dtype == "fp32" and plan.hardware.device == "cpu" else dtype,
        lora_r=cfg.lora.r, packed=cfg.data.packing, chunked_loss=cfg.training.chunked_loss and not distributed,
    )
    if cfg.training.optim in PLANNER_OPTIMIZERS:
        args["optimizer"] = PLANNER_OPTIMIZERS[cfg.training.optim]
    return args


def gpu_memory(plan: Any) -> int | None:
    """Bytes of one GPU: ``plan.gpu`` when given (planning for another machine), else this GPU's."""
    if plan.config.plan.gpu:
        from framework.planning.sizes import parse_size

        return parse_size(plan.config.plan.gpu)
    return plan.hardware.gpu_memory_bytes if plan.hardware.device == "cuda" else None


def strategy_table(facts: Any, world: int, estimate_args: dict[str, Any],
                   gpu_bytes: int | None) -> tuple[tuple[str, int, bool], ...]:
    """(strategy, peak bytes per GPU, fits) for every strategy over ``world`` GPUs."""
    from framework.planning.sharding import estimate_sharded

    usable = None if gpu_bytes is None else int(gpu_bytes * (1 - MARGIN))
    rows = []
    for strategy in STRATEGIES:
        total = estimate_sharded(facts, world_size=world, strategy=strategy, **estimate_args).total
        rows.append((strategy, total, usable is not None and total <= usable))
    return tuple(rows)


def plan_distributed(plan: Any) -> DistributedPlan:
    """The strategy of this run and the planner's per-GPU numbers behind it.

    ``auto`` keeps one plain process for a world of one; otherwise it takes the first strategy
    of ``AUTO_ORDER`` that fits the GPU (DeepSpeed ones only when DeepSpeed is installed), and
    DDP when no GPU size is known (CPU training, or planning without ``--gpu``).
    """
    settings = plan.config.distributed
    requested = settings.strategy
    world = planned_world_size(settings)
    engine = launcher_engine()
    if engine is not None and requested == "auto":
        return DistributedPlan(None if world == 1 else "ddp", world, requested,
                               f"the accelerate launch config chose {engine}; the framework adds no engine settings")
    gpu_bytes = gpu_memory(plan)
    table: tuple[tuple[str, int, bool], ...] = ()
    single: int | None = None
    notes: list[str] = []
    try:
        table = strategy_table(plan.facts, world, estimate_arguments(plan, distributed=world > 1 or requested != "auto"),
                               gpu_bytes)
        from framework.planning.memory import estimate

        single = estimate(plan.facts, **estimate_arguments(plan, distributed=False)).total
    except Exception as exc:  # noqa: BLE001 - a config without sizes cannot be estimated; say so
        notes.append(f"no per-GPU estimate for this model ({type(exc).__name__}: {exc})")
    per_gpu = {name: total for name, total, _ in table}
    fits = {name: ok for name, _, ok in table}
    usable = None if gpu_bytes is None else int(gpu_bytes * (1 - MARGIN))
    if requested != "auto":
        reason = "requested"
        strategy: str | None = requested
    elif world == 1:
        strategy, reason = None, "one process"
    elif gpu_bytes is None or not table:
        strategy = "ddp"
        reason = "no GPU size known (CPU, or plan without --gpu): plain data parallelism"
    else:
        candidates = [s for s in AUTO_ORDER if s not in DEEPSPEED_STRATEGIES or deepspeed_available()]
        if not deepspeed_available():
            notes.append("DeepSpeed is not installed: zero2/zero3/zero3-offload not considered "
                         "(pip install 'framework[deepspeed]')")
        fitting = [s for s in candidates if fits.get(s)]
        strategy = fitting[0] if fitting else candidates[-1]
        reason = (f"the first of {', '.join(candidates)} that fits {_gb(gpu_bytes)} ({MARGIN:.0%} kept free)"
                  if fitting else f"nothing fits {_gb(gpu_bytes)} per GPU; {strategy} needs the least")
    suggestion = None
    if world == 1 and usable is not None and single is not None and single > usable and table:
        suggestion = _suggest(plan, gpu_bytes, usable, single)
    return DistributedPlan(
        strategy=strategy, world_size=world, requested=requested, reason=reason, gpu_bytes=gpu_bytes,
        per_gpu=per_gpu.get(strategy) if strategy else None,
        fits=fits.get(strategy) if (strategy and usable is not None and table) else None,
        table=table if strategy else (), suggestion=suggestion, notes=tuple(notes),
    )


def _gb(size: int) -> str:
    from framework.planning.sizes import format_bytes

    return format_bytes(size)


def _suggest(plan: Any, gpu_bytes: int, usable: int, single: int) -> str:
    """The fewest GPUs, with the first strategy in AUTO_ORDER, on which the run fits.

    Sharding splits weights and states, never a micro batch's activations, so when the run's
    own settings fit on no number of GPUs the leanest ones (micro batch 1, checkpointing) are
    tried too and named in the advice.
    """
    from framework.planning.memory import estimate

    own = estimate_arguments(plan, distributed=True)
    lean = dict(own, micro_batch=1, grad_checkpointing=True)
    lean_flags = " --set training.micro_batch_size=1 --set training.gradient_checkpointing=true"
    lean_single = estimate(plan.facts, **estimate_arguments(plan, distributed=False) | dict(
        micro_batch=1, grad_checkpointing=True)).total
    head = f"one {_gb(gpu_bytes)} GPU is not enough ({_gb(single)} needed)"
    if lean_single <= usable:
        return f"{head} at these settings; it is at micro batch 1 with gradient checkpointing ({_gb(lean_single)})"
    fast = [s for s in AUTO_ORDER if s != "zero3-offload"]
    # offload (slow) only after every strategy without it, and more than eight GPUs last
    passes = [(w, fast) for w in WORLD_SIZES if w <= 8] + [(w, ["zero3-offload"]) for w in WORLD_SIZES if w <= 8]
    passes += [(w, fast) for w in WORLD_SIZES if w > 8] + [(w, ["zero3-offload"]) for w in WORLD_SIZES if w > 8]
    for args, extra in ((own, ""), (lean, lean_flags)):
        for world, strategies in passes:
            table = {name: (total, fits) for name, total, fits in strategy_table(plan.facts, world, args, gpu_bytes)}
            strategy = next((s for s in strategies if table[s][1]), None)
            if strategy is not None:
                return (f"{head}: {strategy} over {world} GPUs needs {_gb(table[strategy][0])} per GPU "
                        f"(framework run --nproc {world} --distributed {strategy}{extra})")
    return (f"{head} and no strategy fits within {WORLD_SIZES[-1]} GPUs: activations are not sharded; "
            "shorten --cutoff-len or use a smaller model")


def check_supported(plan: Any) -> None:
    """Refuse, before any process starts, what the engines cannot run here.

    Raises:
        ConfigError: DeepSpeed/FSDP on a machine without CUDA (accelerate runs them only on
            GPUs; on CPU it would silently fall back to DDP), DeepSpeed not installed, or more
            processes than GPUs.
    """
    dist_plan = getattr(plan, "distributed", None)
    strategy = dist_plan.strategy if dist_plan is not None else None
    settings = plan.config.distributed
    if strategy in DEEPSPEED_STRATEGIES | {"fsdp"} and plan.hardware.device != "cuda":
        raise ConfigError(f"--distributed {strategy} needs CUDA GPUs; this machine trains on {plan.hardware.device}",
                          hint="use --distributed ddp (gloo) here, or run on GPUs")
    if strategy in DEEPSPEED_STRATEGIES and not deepspeed_available():
        raise ConfigError(f"--distributed {strategy} needs DeepSpeed, which is not installed",
                          hint="pip install 'framework[deepspeed]', or use --distributed fsdp")
    gpus = plan.hardware.gpu_count or 0
    if plan.hardware.device == "cuda" and not launched() and settings.nproc > gpus:
        raise ConfigError(f"--nproc {settings.nproc} but this machine has {gpus} GPU{'s' if gpus != 1 else ''}",
                          hint=f"use --nproc {gpus} or fewer: each process needs a GPU of its own")


# ──────────────────────────────────────────────────────────────────────────────────────────
# Engine settings for transformers' Trainer
# ──────────────────────────────────────────────────────────────────────────────────────────


def deepspeed_config(strategy: str) -> dict[str, Any]:
    """The shipped DeepSpeed JSON of a ZeRO strategy; "auto" values are filled by transformers."""
    if strategy not in DEEPSPEED_STRATEGIES:
        raise ConfigError(f"{strategy} is not a DeepSpeed strategy", hint=f"one of {', '.join(sorted(DEEPSPEED_STRATEGIES))}")
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
