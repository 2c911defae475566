"""data.dedupe through the pipeline: within a source, before mixing; every mixture message names its file."""

from __future__ import annotations

import pytest

from framework.data.pipeline import prepare_sft
from framework.errors import ConfigError, DataError


def test_a_copied_file_upweights_its_source(kit, tokenizer, render):
    """The issue's case: identity data copied to weight it 1:3 used to end in 'no usable sample left'."""
    a = kit.jsonl("a.jsonl", kit.alpaca(8, prefix="aaa"))
    b = kit.jsonl("b.jsonl", kit.alpaca(8, prefix="aaa"))  # the same samples
    data = prepare_sft([a, b], tokenizer, render, cutoff_len=128, mix_weights=[1, 3], seed=2)
    assert data.report.dropped == {}
    assert data.report.mixture == {str(a): 4, str(b): 12}
    assert any(f"repeated across sources kept: 8 (e.g. {b}:1 repeats {a}:1;" in n for n in data.report.notes)


def test_repeats_inside_one_file_follow_data_dedupe(kit, tokenizer, render):
    rows = kit.alpaca(4, prefix="id") + kit.alpaca(4, prefix="id")  # identity data repeated on purpose
    rows.append({"instruction": "id  question number 0?", "input": "", "output": "answer 0 is 0."})
    path = kit.jsonl("identity.jsonl", rows)
    default = prepare_sft(path, tokenizer, render, cutoff_len=128, overwrite_cache=True)
    assert len(default.train) == 5 and default.report.dropped == {"duplicate": 4}
    assert any("near-duplicates" in n and "identity.jsonl:9 repeats" in n for n in default.report.notes)
    near = prepare_sft(path, tokenizer, render, cutoff_len=128, dedupe="near")
    assert len(near.train) == 4 and near.report.dropped == {"duplicate": 4, "near-duplicate": 1}
    off = prepare_sft(path, tokenizer, render, cutoff_len=128, dedupe="off")
    assert len(off.train) == 9 and off.report.dropped == {}


def test_a_source_with_nothing_left_is_named_with_the_reason(kit, tokenizer, render):
    a = kit.jsonl("a.jsonl", kit.alpaca(6, prefix="aaa"))
    b = kit.jsonl("empty-replies.jsonl", [{"instruction": f"q{i}", "input": "", "output": ""} for i in range(3)])
    with pytest.raises(DataError) as caught:
        prepare_sft([a, b], tokenizer, render, cutoff_len=128, mix_weights=[1, 1])
    line = str(caught.value)
    assert "\n" not in line
    assert f"data source 2 ({b}) has no usable sample left" in line and "empty-output 3" in line


def test_weight_messages_name_the_files(kit, tokenizer, render):
    a = kit.jsonl("a.jsonl", kit.alpaca(4, prefix="aaa"))
    b = kit.jsonl("b.jsonl", kit.alpaca(4, prefix="bbb"))
    with pytest.raises(ConfigError, match=f"data source 2 \\({b}\\) has 0"):
        prepare_sft([a, b], tokenizer, render, cutoff_len=128, mix_weights=[1, 0])
    with pytest.raises(ConfigError, match=f"3 mixture weights for 2 data sources \\({a}, {b}\\)"):
        prepare_sft([a, b], tokenizer, render, cutoff_len=128, mix_weights=[1, 1, 1])


def test_render_rows_keep_file_order_and_source(kit, tokenizer, render):
    path = kit.jsonl("a.jsonl", kit.alpaca(10))
    data = prepare_sft(path, tokenizer, render, cutoff_len=128, val_size=3, seed=5, with_kinds=True)
    places = sorted(list(data.train["source"]) + list(data.eval["source"]), key=lambda s: int(s.rsplit(":", 1)[1]))
    assert places == [f"{path}:{i}" for i in range(1, 11)]
    for row in data.train:
        i = int(row["source"].rsplit(":", 1)[1]) - 1
        assert f"question number {i}?" in tokenizer.decode(row["input_ids"])
