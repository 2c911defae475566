"""The launcher: which runs relaunch under torchrun, with which command, and the config keys."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from framework import distributed
from framework.config import describe_keys
from framework.errors import ConfigError


def _settings(**values: object) -> SimpleNamespace:
    base = dict(strategy="auto", nproc=1, nnodes=1, node_rank=0, master_addr=None, master_port=None)
    base.update(values)
    return SimpleNamespace(**base)


@pytest.fixture
def not_launched(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def test_launcher_flags_are_stripped_in_both_spellings() -> None:
    argv = ["--debug", "run", "cfg.yaml", "--nproc", "2", "--nnodes=2", "--node-rank", "1",
            "--master-addr=10.0.0.1", "--master-port", "29400", "--distributed", "fsdp", "--set", "lora.r=4"]
    assert distributed.strip_launcher_flags(argv) == ["--debug", "run", "cfg.yaml", "--distributed", "fsdp",
                                                      "--set", "lora.r=4"]


def test_one_machine_gets_a_standalone_torchrun_that_reruns_framework(not_launched: None) -> None:
    command = distributed.launch_command(_settings(nproc=2), ["run", "--nproc", "2", "--model", "m"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=2" in command and "--standalone" in command
    assert command[-5:] == ["-m", "framework", "run", "--model", "m"]


def test_several_machines_meet_at_machine_zero(not_launched: None) -> None:
    command = distributed.launch_command(_settings(nproc=8, nnodes=2, node_rank=1, master_addr="node0"), ["run"])
    assert "--standalone" not in command
    for part in ("--nnodes=2", "--node_rank=1", "--master_addr=node0", "--master_port=29500"):
        assert part in command


def test_several_machines_without_an_address_are_refused() -> None:
    with pytest.raises(ConfigError, match="--master-addr"):
        distributed.launch_command(_settings(nproc=8, nnodes=2), ["run"])
    with pytest.raises(ConfigError, match="node_rank"):
        distributed.launch_command(_settings(nnodes=2, node_rank=2, master_addr="node0"), ["run"])


def test_which_runs_relaunch(not_launched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not distributed.needs_launch(_settings())
    assert not distributed.needs_launch(_settings(strategy="ddp"))
    assert distributed.needs_launch(_settings(nproc=2))
    assert distributed.needs_launch(_settings(nnodes=2))
    # DeepSpeed and FSDP need a process group even on one GPU
    assert distributed.needs_launch(_settings(strategy="zero3-offload"))
    assert distributed.needs_launch(_settings(strategy="fsdp"))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("RANK", "1")
    assert not distributed.needs_launch(_settings(nproc=2)), "a launched process never launches again"
    assert distributed.launched() and not distributed.is_main_process() and distributed.world_size() == 2


def test_without_a_process_group_the_helpers_are_no_ops(not_launched: None) -> None:
    assert not distributed.init_process_group()
    distributed.barrier()
    with distributed.main_process_first():
        pass
    distributed.check_agreement(["generic", "1.0", None, None])
    assert distributed.is_main_process()


def test_the_distributed_keys_are_described() -> None:
    keys = describe_keys()
    for name in ("strategy", "nproc", "nnodes", "node_rank", "master_addr", "master_port"):
        assert keys[f"distributed.{name}"], name


def test_cli_flags_become_distributed_keys() -> None:
    from framework.cli import build_parser
    from framework.run_plan import cli_layer

    args = build_parser().parse_args(["run", "--nproc", "4", "--nnodes", "2", "--node-rank", "1", "--master-addr",
                                      "node0", "--master-port", "29400", "--distributed", "zero3"])
    values = cli_layer(args).values
    assert values["distributed.nproc"] == 4 and values["distributed.nnodes"] == 2
    assert values["distributed.node_rank"] == 1 and values["distributed.master_addr"] == "node0"
    assert values["distributed.master_port"] == 29400 and values["distributed.strategy"] == "zero3"
