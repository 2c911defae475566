"""Fixtures of the runtime tests: one training file and the command line of a short run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    rows = [{"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is."} for i in range(24)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def run_argv(tiny_model_dir: Path, train_file: Path) -> Callable[..., list[str]]:
    """``framework run`` arguments of a short seeded run; extra ``--set`` pairs override."""

    def build(output: Path, *settings: str, val_size: float = 0.0, steps: int = 8) -> list[str]:
        argv = ["run", "--model", str(tiny_model_dir), "--data", str(train_file), "--output", str(output),
                "--cutoff-len", "128"]
        base = [f"training.max_steps={steps}", "training.save_steps=2", "training.logging_steps=1",
                "training.micro_batch_size=2", f"data.val_size={val_size}", "training.report_to=[]",
                "training.learning_rate=1e-2", "training.save_total_limit=10"]
        for pair in base + list(settings):
            argv += ["--set", pair]
        return argv

    return build


def framework_process(argv: list[str], **kwargs: object) -> subprocess.Popen[str]:
    """``python -m framework ARGV`` as a real child process (for signals)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": "1"}
    options: dict[str, object] = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, **kwargs}
    return subprocess.Popen([sys.executable, "-m", "framework", *argv], cwd=REPO, env=env, text=True,
                            **options)  # type: ignore[call-overload]


@pytest.fixture(scope="session")
def spawn() -> Callable[..., subprocess.Popen[str]]:
    return framework_process


@pytest.fixture(scope="session")
def reference_run(run_argv: Callable[..., list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted run: 8 steps, a checkpoint every 2 (shared by resume and after-training tests)."""
    from framework.cli import main

    out = tmp_path_factory.mktemp("reference") / "out"
    assert main(run_argv(out)) == 0
    return out
