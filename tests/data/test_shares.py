"""JSON Lines prepared in shares (``framework.data.shares``): every process takes a run of lines
from JSON to tokens and this one judges their facts. Whatever the split, rows, labels, report and
errors must be those of one process reading every line in order."""

from __future__ import annotations

import json

import pytest

import framework.data.pipeline as pipeline
from framework.data.pipeline import prepare_sft
from framework.data.shares import plan_shares, share_lines, split_parts
from framework.errors import DataError


@pytest.fixture
def parts_run(monkeypatch):
    """Counts the preparations that went through shares."""
    calls: list[int] = []
    inner = pipeline.run_parts

    def counted(job, scratch):
        calls.append(len(job.plan.parts))
        return inner(job, scratch)

    monkeypatch.setattr(pipeline, "run_parts", counted)
    return calls


def _same(one, two) -> None:
    for split in ("train", "eval"):
        a, b = getattr(one, split), getattr(two, split)
        assert (a is None) == (b is None)
        if a is not None:
            assert a["input_ids"] == b["input_ids"] and a["labels"] == b["labels"]
    assert one.report == two.report
    assert one.sample_texts == two.sample_texts


def test_parts_cover_every_line_once_in_order_with_about_equal_bytes(kit):
    a_rows = [json.dumps(r, ensure_ascii=False) for r in kit.alpaca(90, "问题")]
    a_rows[40] = ""  # a blank line inside
    a = kit.text("a.jsonl", "\n".join(a_rows))  # no newline at the end
    b = kit.jsonl("b.jsonl", [{"instruction": "long " * (i % 17), "output": "x"} for i in range(1, 60)])
    plan = plan_shares([a, b], fmt=None, allowed=("alpaca",), task_system_prompts=None)
    assert plan is not None and plan.formats == ["alpaca", "alpaca"] and plan.size == a.stat().st_size + b.stat().st_size
    longest = max(len(line) + 1 for f in plan.files for line in f.raw[:].split(b"\n"))
    for parts in (2, 3, 7):
        split = split_parts(plan, parts)
        assert len(split) == parts
        for index, file in enumerate(plan.files):  # every byte once, in order, cut after a newline
            shares = [s for part in split for s in part if s.file == index]
            assert b"".join(file.raw[s.start : s.stop] for s in shares) == file.raw[:]
            assert all(s.start == 0 or file.raw[s.start - 1 : s.start] == b"\n" for s in shares)
            assert [share_lines(file, s)[1] for s in shares] == [file.raw[: s.start].count(b"\n") + 1 for s in shares]
        sizes = [sum(s.stop - s.start for s in part) for part in split]
        assert max(sizes) - min(sizes) <= 2 * longest
    lines = [line for part in split_parts(plan, 3) for s in part if s.file == 0
             for line in share_lines(plan.files[0], s)[0]]
    assert [line for line in lines if line] == [line for line in a_rows if line]
    plan.close()


def test_shares_equal_one_process_on_repeats_problems_and_a_mixture(kit, tokenizer, render, parts_run):
    """Repeats whose first copy is in another part, near repeats, records that cannot be
    converted, markup, samples over the cutoff and unused fields in every part, two sources."""
    rows = kit.alpaca(400)
    rows[300] = dict(rows[12])  # exact repeat of a sample in the first part
    rows[310] = {**rows[13], "output": rows[13]["output"].replace(" ", "  ")}  # near repeat
    rows[320] = {"instruction": "no reply here"}  # cannot be converted: no output
    rows[330]["output"] = "<div>scraped</div>"
    rows[340]["output"] = "x " * 200  # over the cutoff
    rows[20]["note"] = rows[350]["note"] = "kept for later"  # a field no converter reads
    rows[21]["output"] = ""
    a = kit.jsonl("a.jsonl", rows)
    b = kit.jsonl("b.jsonl", kit.alpaca(150, "b") + [kit.alpaca(150, "b")[3]])
    common = dict(cutoff_len=128, batch_size=40, val_size=0.1, mix_weights=[2.0, 1.0], seed=3)
    one = prepare_sft([a, b], tokenizer, render, num_proc=1, **common)
    for num_proc in (2, 3):
        _same(one, prepare_sft([a, b], tokenizer, render, num_proc=num_proc, **common))
    assert parts_run == [2, 3]
    assert one.report.dropped == {"duplicate": 2, "missing-field": 1, "html-or-control": 1, "too-long": 1,
                                  "empty-output": 1}
    assert any("near-duplicates" in n for n in one.report.notes)
    assert any("'note' in 2" in n for n in one.report.notes)
    near = dict(cutoff_len=128, batch_size=40, dedupe="near")
    _same(prepare_sft(a, tokenizer, render, num_proc=1, **near), prepare_sft(a, tokenizer, render, num_proc=2, **near))


@pytest.mark.parametrize("lines", [(250,), (20, 250)])
def test_strict_names_the_first_problem_in_file_order(kit, tokenizer, render, parts_run, lines):
    rows = kit.alpaca(300)
    for line in lines:
        rows[line - 1]["output"] = "<b>markup</b>"
    path = kit.jsonl("a.jsonl", rows)
    where = []
    for num_proc in (1, 2):
        with pytest.raises(DataError) as caught:
            prepare_sft(path, tokenizer, render, cutoff_len=128, strict=True, num_proc=num_proc)
        where.append(caught.value.where)
    assert where == [f"{path}:{lines[0]}"] * 2 and parts_run == [2]


@pytest.mark.parametrize("bad", [(260,), (30, 260)])
def test_a_line_that_is_not_json_stops_the_run_at_the_first_one(kit, tokenizer, render, parts_run, bad):
    lines = [json.dumps(r) for r in kit.alpaca(300)]
    for line in bad:
        lines[line - 1] = '{"instruction": "cut off'
    path = kit.text("a.jsonl", "\n".join(lines) + "\n")
    errors = []
    for num_proc in (1, 2):
        with pytest.raises(DataError) as caught:
            prepare_sft(path, tokenizer, render, cutoff_len=128, num_proc=num_proc)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and f"{path}:{bad[0]}:" in errors[0]


def test_reasoning_the_renderer_does_not_declare_is_refused_as_by_one_process(kit, tokenizer, render, parts_run):
    rows = [{"messages": [{"role": "user", "content": f"question {i}"},
                          {"role": "assistant", "content": f"answer {i}"}]} for i in range(300)]
    rows[270]["messages"][1]["reasoning_content"] = "let me think"
    path = kit.jsonl("a.jsonl", rows)
    errors = []
    for num_proc in (1, 2):
        with pytest.raises(DataError) as caught:
            prepare_sft(path, tokenizer, render, cutoff_len=128, num_proc=num_proc)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and f"{path}:271" in errors[0] and "reasoning" in errors[0]
    assert parts_run == [2]


def test_a_directory_of_json_lines_equals_one_process(kit, tokenizer, render, parts_run):
    folder = kit.path("dir")
    (folder / "sub").mkdir(parents=True)
    rows = kit.alpaca(300)
    (folder / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:120]), encoding="utf-8")
    messages = [{"messages": [{"role": "user", "content": r["instruction"]},
                              {"role": "assistant", "content": r["output"]}]} for r in rows[120:]]
    messages[50] = messages[2]  # a repeat within the directory's source, across its files
    (folder / "sub" / "b.jsonl").write_text("\n".join(json.dumps(r) for r in messages), encoding="utf-8")
    (folder / ".hidden.jsonl").write_text("not json", encoding="utf-8")  # skipped as data_files skips it
    single = kit.jsonl("c.jsonl", kit.alpaca(90, "c"))
    common = dict(cutoff_len=128, batch_size=40, val_size=0.1, mix_weights=[1.0, 1.0])
    one = prepare_sft([folder, single], tokenizer, render, num_proc=1, **common)
    _same(one, prepare_sft([folder, single], tokenizer, render, num_proc=2, **common))
    assert parts_run == [2] and one.report.format == "alpaca+messages" and one.report.dropped == {"duplicate": 1}


def test_data_shares_cannot_cover_goes_the_one_process_way(kit, tokenizer, render, parts_run):
    rows = kit.alpaca(200)
    as_json = kit.json("a.json", rows)
    folder = kit.path("dir")
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (folder / "notes.txt").write_text("a stray file", encoding="utf-8")
    jsonl = kit.jsonl("b.jsonl", rows)
    for data, extra in ((as_json, {}), (folder, {}), (jsonl, {"max_samples": 150}), (jsonl, {"num_proc": 1})):
        prepare_sft(data, tokenizer, render, cutoff_len=128, **{"num_proc": 2, **extra})
    assert parts_run == []
    prepare_sft(jsonl, tokenizer, render, cutoff_len=128, num_proc=2)
    assert parts_run == [2]


@pytest.mark.parametrize("case", ["bad-bytes-late", "bad-json-early-bad-bytes-late", "byte-order-mark", "blank-second-file"])
def test_reading_errors_and_oddities_are_those_of_one_process(kit, tokenizer, render, parts_run, case):
    lines = [json.dumps(r).encode() for r in kit.alpaca(300)]
    second = None
    if case.startswith("bad-json"):
        lines[20] = b'{"instruction": "cut off'
    if case.endswith("bad-bytes-late"):
        lines[280] = lines[280].replace(b"question", b"question \xff")  # not UTF-8
    raw = b"\n".join(lines) + b"\n"
    if case == "byte-order-mark":
        raw = b"\xef\xbb\xbf" + raw
    if case == "blank-second-file":
        second = kit.raw("b.jsonl", "\u3000\n\u3000\n".encode())  # only (ideographic) spaces
    paths = [kit.raw("a.jsonl", raw)] + ([second] if second else [])
    outcomes = []
    for num_proc in (1, 2):
        try:
            data = prepare_sft(paths, tokenizer, render, cutoff_len=128, num_proc=num_proc)
            outcomes.append((data.train["input_ids"], data.report))
        except DataError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]
    if case == "byte-order-mark":
        assert outcomes[0][1].kept == 300 and parts_run == [2]
    else:
        assert isinstance(outcomes[0], str) and ("UTF-8" in outcomes[0] or "empty" in outcomes[0])
