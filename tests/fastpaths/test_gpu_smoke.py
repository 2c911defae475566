"""bench/gpu_smoke.py: one line and exit 0 without CUDA; a case list every run of which plans on an H100."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from framework.hookdata import HardwareFacts

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_smoke.py"
H100 = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.8.3", gpu_name="NVIDIA H100 80GB HBM3",
                     gpu_memory_bytes=80 * 2**30, gpu_count=1)


@pytest.fixture(scope="module")
def smoke() -> Any:
    spec = importlib.util.spec_from_file_location("gpu_smoke", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_smoke"] = module  # its dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_in_one_line_and_exits_0() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and "no CUDA GPU" in lines[0] and "nothing was run" in lines[0]


def test_every_method_and_stage_with_both_kernels_packing_on_one_process(smoke: Any, tmp_path: Path) -> None:
    data = smoke.write_data(tmp_path)
    all_cases = smoke.cases(None, data, stages=("sft", "pt", "dpo"))
    labels = [c.label for c in all_cases]
    expected = ["demo", "lora", "qlora", "dora", "full", "hybrid", "pt", "dpo"]
    assert labels == [f"{n}/flash_attention_2" for n in expected] + [f"{n}/sdpa" for n in expected]
    for case in all_cases:
        assert case.argv[case.argv.index("--nproc") + 1] == "1" and "--no-packing" not in case.argv
        assert f"model.attn_implementation={case.kernel}" in case.argv
    assert "--data" not in all_cases[0].argv and "--model" not in all_cases[0].argv  # the no-argument demo


def test_grpo_joins_exactly_when_the_stage_exists(smoke: Any, tmp_path: Path) -> None:
    data = smoke.write_data(tmp_path)
    with_grpo = {c.name for c in smoke.cases(None, data, stages=("sft", "pt", "dpo", "grpo"))}
    assert "grpo" in with_grpo and "grpo" not in {c.name for c in smoke.cases(None, data, stages=("sft", "dpo"))}
    installed = {c.name for c in smoke.cases(None, data)}
    assert ("grpo" in installed) == ("grpo" in smoke.available_stages())


def test_every_case_plans_on_a_pretended_h100_with_its_kernel(smoke: Any, tmp_path: Path, tiny_model_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    import framework.hardware as hardware
    from framework.cli import main

    monkeypatch.setattr(hardware, "detect_hardware", lambda: H100)
    for case in smoke.cases(str(tiny_model_dir), smoke.write_data(tmp_path)):
        if case.name == "demo":
            continue
        assert main(["plan", *case.argv, "--cutoff-len", "256", "--json"]) == 0, case.label
        out = json.loads(capsys.readouterr().out)
        assert out["attention"]["implementation"] == case.kernel, case.label
        assert out["dtype"]["dtype"] == "bf16" and out["loss"]["kind"] in ("chunked", "model"), case.label


def test_the_one_line_error_is_the_runs_own(smoke: Any) -> None:
    output = "step 1\nTraceback...\ninternal error: TypeError: '>' not supported (rerun with --debug)\n\n"
    assert smoke.error_line(output) == "internal error: TypeError: '>' not supported (rerun with --debug)"
    assert smoke.error_line("just this\n") == "just this"
