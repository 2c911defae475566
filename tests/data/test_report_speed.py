"""The data report says how fast the data was prepared (samples/s); a copy loaded from the cache does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framework.data.pipeline import prepare_sft


def test_data_report_says_samples_per_second_and_the_cached_copy_does_not(tmp_path: Path, tokenizer: Any,
                                                                          render: Any) -> None:
    path = tmp_path / "rate.jsonl"
    path.write_text("".join(json.dumps({"instruction": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(30)))
    fresh = prepare_sft(path, tokenizer, render, cutoff_len=128, cache_dir=tmp_path / "cache")
    assert fresh.report.read == 30 and fresh.report.prepared_s is not None and fresh.report.prepared_s > 0
    rate = [line for line in fresh.report.lines() if "samples/s" in line]
    assert len(rate) == 1 and "prepared in " in rate[0] and "(data.num_proc 1)" in rate[0]
    assert f"{30 / fresh.report.prepared_s:,.0f} samples/s" in rate[0]
    again = prepare_sft(path, tokenizer, render, cutoff_len=128, cache_dir=tmp_path / "cache")
    assert again.report == fresh.report  # the rate is not part of equality
    assert again.report.prepared_s is None and not any("samples/s" in line for line in again.report.lines())
