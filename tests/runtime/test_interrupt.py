"""Ctrl-C: the first saves a checkpoint and exits 130 naming --resume; the second exits at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from framework.checkpointing import complete_checkpoints


def _wait_for(child: subprocess.Popen[str], prefix: str, seen: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = child.stdout.readline() if child.stdout else ""
        if not line and child.poll() is not None:
            break
        seen.append(line)
        if line.startswith(prefix):
            return
    raise AssertionError(f"no line starting with {prefix!r}:\n" + "".join(seen))


def test_first_ctrl_c_saves_a_checkpoint_and_names_resume(
    run_argv: Callable[..., list[str]], spawn: Callable[..., Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    child = spawn(run_argv(out, "training.save_steps=1000", "training.logging_steps=1", steps=400))
    seen: list[str] = []
    _wait_for(child, "step 2/400", seen)
    child.send_signal(signal.SIGINT)
    rest, _ = child.communicate(timeout=120)
    text = "".join(seen) + rest
    assert child.returncode == 130, text
    assert "interrupt: saving a checkpoint after this step" in text
    assert "--resume --output" in text and str(out) in text
    checkpoints = complete_checkpoints(out)
    assert len(checkpoints) == 1 and 2 <= int(checkpoints[0].name.split("-")[1]) < 400
    assert not (out / "adapter_model.safetensors").exists() and not (out / "training_config.json").exists()
    assert "Traceback" not in text


SECOND_INTERRUPT = """
import time
from framework.interrupt import InterruptCallback
callback = InterruptCallback(lambda text: print(text, flush=True))
callback.on_train_begin(None, None, None)
print("ready", flush=True)
while True:
    time.sleep(0.01)
"""


def test_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "-c", SECOND_INTERRUPT], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env)
    seen: list[str] = []
    _wait_for(child, "ready", seen)
    child.send_signal(signal.SIGINT)
    _wait_for(child, "interrupt: saving a checkpoint", seen)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    rest, _ = child.communicate(timeout=10)
    assert child.returncode == 130
    assert time.monotonic() - sent < 5
    assert "second interrupt: exiting now" in rest
