"""bench/run_all.py (``make bench``): every benchmark in bench/ is found, helpers are not, bad names stop in one line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "run_all.py"


@pytest.fixture(scope="module")
def run_all() -> Any:
    spec = importlib.util.spec_from_file_location("bench_run_all", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_bench_script_but_the_helpers_is_a_benchmark(run_all: Any) -> None:
    found = run_all.benchmarks()
    on_disk = {p.stem for p in (REPO / "bench").glob("*.py")}
    assert set(found) == on_disk - run_all.HELPERS
    assert {"preprocess", "e2e_cpu", "cli_startup"} <= set(found)
    assert "plain_sft" not in found and "run_all" not in found
    assert found[:2] == ["cli_startup", "preprocess"]  # quick ones first


def test_a_new_recipe_benchmark_joins_without_being_listed(run_all: Any, tmp_path: Path, monkeypatch: Any) -> None:
    for name in ("e2e_cpu", "plain_sft", "grpo_cpu", "zz_new_recipe"):
        (tmp_path / f"{name}.py").write_text("")
    monkeypatch.setattr(run_all, "BENCH", tmp_path)
    assert run_all.benchmarks() == ["e2e_cpu", "grpo_cpu", "zz_new_recipe"]


def test_args_for_an_unknown_benchmark_are_refused(run_all: Any) -> None:
    assert run_all.parse_args_option(['preprocess=--samples 10 --num-proc 1'], ["preprocess"]) == {
        "preprocess": ["--samples", "10", "--num-proc", "1"]}
    with pytest.raises(ValueError, match="nope"):
        run_all.parse_args_option(["nope=--x"], ["preprocess"])


def test_unknown_only_name_is_one_line_and_exit_2() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--only", "nope"], capture_output=True, text=True, timeout=60,
                          cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no such benchmark" in done.stderr and "preprocess" in done.stderr
