"""The process-group helpers on real gloo processes: two "machines" of two processes each.

Both torchrun agents run here and meet at a local port, so ranks 0-1 are machine 0 and ranks
2-3 machine 1 (local ranks 0-1 on each): every branch of ``main_process_first`` is taken.
The last rank claims another plugin version, and every rank must stop with the same error.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("agreement_worker.py")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch(out: Path, env: dict[str, str], limit: float = 240.0) -> tuple[bool, str]:
    """Both torchrun agents; True when both finished cleanly, with their logs.

    When one agent dies (a port taken between probing and binding, a gloo abort in teardown), the
    other waits at the rendezvous until its own timeout: it is stopped at once instead, so the
    launch can be repeated rather than hang the suite.
    """
    port = _free_port()
    logs = [out / f"agent-{node}.log" for node in (0, 1)]
    agents = []
    for node, log in zip((0, 1), logs):
        with log.open("w") as sink:
            agents.append(subprocess.Popen(
                [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={node}",
                 "--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={port}", str(WORKER), str(out)],
                env=env, stdout=sink, stderr=subprocess.STDOUT, text=True))
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and any(agent.poll() is None for agent in agents):
        if any(agent.poll() not in (None, 0) for agent in agents):
            break
        time.sleep(0.2)
    for agent in agents:
        if agent.poll() is None:
            agent.kill()
        agent.wait()
    text = "\n".join(log.read_text(errors="replace") for log in logs)
    return all(agent.returncode == 0 for agent in agents), text


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    env = dict(os.environ, DISAGREE="1", OMP_NUM_THREADS="1")
    logs = ""
    # gloo can abort while four processes tear down at once on an overloaded 2-core machine
    # (C++ "terminate called without an active exception"), and a probed port can be taken before
    # torchrun binds it; the behaviour under test is what each rank recorded, so a launch whose four
    # ranks all wrote their record counts even if teardown aborted, and one that did not is repeated,
    # up to three times.
    for _attempt in range(3):
        out = tmp_path_factory.mktemp("group")
        finished, logs = _launch(out, env)
        records = [out / f"rank-{r}.json" for r in range(4)]
        if finished or all(record.exists() for record in records):
            return [json.loads(record.read_text()) for record in records]
    raise AssertionError(logs[-4000:])


def test_the_first_process_goes_first_then_each_machines_first(ranks: list[dict]) -> None:
    first, machine0_other, machine1_first, machine1_other = ranks
    assert first["main"] and not any(r["main"] for r in ranks[1:])
    assert all(r["seen"] == "filled by rank 0" for r in ranks), "every process reads what rank 0 wrote"
    assert machine1_first["entered"] >= first["left"]
    for other in (machine0_other, machine1_other):
        assert other["entered"] >= first["left"] and other["entered"] >= machine1_first["left"]


def test_a_process_with_another_plugin_version_stops_every_process(ranks: list[dict]) -> None:
    errors = {r["error"] for r in ranks}
    assert len(errors) == 1 and None not in errors, "all ranks raise the same error"
    message = errors.pop()
    assert "disagree" in message and "rank 3: generic 0.2.0" in message and "rank 0: generic 0.1.0" in message
    assert "same framework and plugin versions" in message
