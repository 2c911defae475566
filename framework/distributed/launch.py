"""Where this process stands, and ``framework run --nproc N`` re-executed under torchrun.

The launcher's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) is all the framework
reads, so torchrun, ``accelerate launch`` or this module's own relaunch look the same to a
worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Sequence

from framework.errors import ConfigError

#: Strategies that need DeepSpeed, and those that need a process group even on one GPU.
DEEPSPEED_STRATEGIES = frozenset({"zero2", "zero3", "zero3-offload"})
ENGINE_STRATEGIES = DEEPSPEED_STRATEGIES | {"fsdp"}
#: Command-line flags that configure the launcher; the relaunched processes do not get them.
LAUNCHER_FLAGS = ("--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port")
DEFAULT_MASTER_PORT = 29500


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


def needs_launch(settings: Any) -> bool:
    """Whether ``framework run`` must start the processes itself (``settings``: config.distributed).

    DeepSpeed and FSDP need a process group even on one GPU, so an explicit engine strategy is
    launched with ``--nproc 1`` too; plain single-process training is not.
    """
    if launched():
        return False
    return settings.nproc > 1 or settings.nnodes > 1 or settings.strategy in ENGINE_STRATEGIES


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
