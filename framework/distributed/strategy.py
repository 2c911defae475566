"""Which strategy a run gets: the memory planner's per-GPU estimate of each, the first that fits.

The same function runs in ``framework plan``, in the launching process and in every worker,
so all of them agree (and the workers check that they do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from framework.distributed.launch import DEEPSPEED_STRATEGIES, ENGINE_STRATEGIES, launched, launcher_engine, world_size
from framework.errors import ConfigError
from framework.extras import EXTRAS, require

STRATEGIES = ("ddp", "zero2", "zero3", "zero3-offload", "fsdp")
#: Strategies whose processes each hold only a shard of the weights: saving gathers them.
SHARDED_STRATEGIES = frozenset({"zero3", "zero3-offload", "fsdp"})
#: ``auto`` tries these in order: the least communication first, CPU offload (slow) last.
#: FSDP comes before ZeRO-3 (same memory) because it needs nothing beyond torch.
AUTO_ORDER = ("ddp", "zero2", "fsdp", "zero3", "zero3-offload")
WORLD_SIZES = (2, 4, 8, 16, 32, 64)
#: Share of a GPU kept free for what no estimate sees (the planner's choose_method default).
MARGIN = 0.1
#: transformers optimizer names -> the planner's names (others keep the planner's default).
PLANNER_OPTIMIZERS = {"adamw_torch": "adamw", "adamw_torch_fused": "adamw_fused", "adamw_bnb_8bit": "adamw_8bit",
                      "paged_adamw_8bit": "paged_adamw_8bit", "paged_adamw_32bit": "paged_adamw_32bit"}


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
    return not EXTRAS["deepspeed"].missing()


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
        engine_loss = world > 1 or requested != "auto"
        table = strategy_table(plan.facts, world, estimate_arguments(plan, distributed=engine_loss), gpu_bytes)
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
                         f"({EXTRAS['deepspeed'].install_line()})")
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
    if strategy in ENGINE_STRATEGIES and plan.hardware.device != "cuda":
        raise ConfigError(f"--distributed {strategy} needs CUDA GPUs; this machine trains on {plan.hardware.device}",
                          hint="use --distributed ddp (gloo) here, or run on GPUs")
    if strategy in DEEPSPEED_STRATEGIES:  # also where an accelerate launch config chose DeepSpeed
        require("deepspeed", asked_by=f"--distributed {strategy}")
    gpus = plan.hardware.gpu_count or 0
    if plan.hardware.device == "cuda" and not launched() and settings.nproc > gpus:
        raise ConfigError(f"--nproc {settings.nproc} but this machine has {gpus} GPU{'s' if gpus != 1 else ''}",
                          hint=f"use --nproc {gpus} or fewer: each process needs a GPU of its own")
