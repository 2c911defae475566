"""The estimate against peaks measured here: real training steps of tiny models on CPU.

bench/memory_peaks.py runs the whole set; these are a few quick ones covering full training
with the multi-tensor AdamW scratch, LoRA with checkpointing and the chunked loss, NF4 QLoRA
and bf16 autocast with fp32 adapters, and LoRA on the fused experts of a mixture of experts.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QUICK = ("big-full-step", "lora-ckpt-chunked", "qlora-plain", "bf16-lora-ckpt-chunked", "moe-lora-plain")


def _bench():
    name = "memory_peaks_bench"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "bench" / "memory_peaks.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


BENCH = _bench()


@pytest.mark.parametrize("name", QUICK)
def test_estimate_is_within_20_percent_of_a_measured_cpu_peak(name: str) -> None:
    case = next(c for c in BENCH.CASES if c.name == name)
    if case.method == "qlora":
        pytest.importorskip("bitsandbytes")
    result = BENCH.run_case(case)
    assert result.measured_resident == pytest.approx(result.estimated_resident, rel=0.02)
    assert result.estimated == pytest.approx(result.measured, rel=0.20)
