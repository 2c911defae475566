"""The estimate against published measured peaks (and LLaMA-Factory's own estimates): within 20%.

The runs, their settings and sources are listed once, in bench/memory_peaks.py, which also
prints the comparison table of docs/memory.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench():
    name = "memory_peaks_bench"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "bench" / "memory_peaks.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


BENCH = _bench()


@pytest.mark.parametrize("row", BENCH.PUBLISHED, ids=lambda row: row.name)
def test_estimate_is_within_20_percent_of_the_published_peak(row) -> None:
    estimated = BENCH.published_estimate(row).total / 2**30
    assert estimated == pytest.approx(row.published_gib, rel=0.20), row.conditions


def test_the_8b_floor_matches_the_derived_figures(official) -> None:
    """performance.md B4: bf16 weights 14.96 GiB; NF4 with double quantization 5.31 GiB in all."""
    from framework.planning import estimate

    facts = official("Llama-3.1-8B-Instruct")
    lora = estimate(facts, method="lora", micro_batch=1, seq_len=2048)
    qlora = estimate(facts, method="qlora", micro_batch=1, seq_len=2048, upcast_unquantized=False)
    assert lora.breakdown["weights"] / 2**30 == pytest.approx(14.96, abs=0.01)
    assert qlora.breakdown["weights"] / 2**30 == pytest.approx(5.31, abs=0.01)
    # LoRA r=16 on all seven projections: 41.9M parameters (performance.md B2)
    assert lora.breakdown["adapter_weights"] / 4 == pytest.approx(41.9e6, rel=0.002)
