"""prepare_sft / prepare_pretrain / prepare_preference end to end on small files."""

from __future__ import annotations

import pytest

from framework.chat import IGNORE_INDEX
from framework.data.pipeline import prepare_preference, prepare_pretrain, prepare_sft
from framework.data.records import read_records
from framework.errors import ConfigError, DataError, ModelError


def trained_text(tokenizer, row):
    return tokenizer.decode([t for t in row["labels"] if t != IGNORE_INDEX])


def test_sft_labels_cover_assistant_reply_and_end_marker(kit, tokenizer, render):
    path = kit.jsonl("a.jsonl", kit.alpaca(4))
    data = prepare_sft(path, tokenizer, render, cutoff_len=128, seed=0)
    assert data.train.column_names == ["input_ids", "labels", "length"]
    assert data.eval is None
    for row in data.train:
        text = tokenizer.decode(row["input_ids"])
        assert text.startswith("<s><|start|>user\nq question number")
        assert trained_text(tokenizer, row).startswith("answer") and trained_text(tokenizer, row).endswith(".<|end|>")
        assert row["length"] == len(row["input_ids"]) == len(row["labels"])
    assert data.report.kept == 4 and data.report.format == "alpaca"
    assert len(data.sample_texts) == 8


def test_every_file_type_gives_the_same_tokens(kit, tokenizer, render):
    rows = kit.alpaca(3)
    paths = [
        kit.jsonl("a.jsonl", rows),
        kit.json("a.json", rows),
        kit.csv(
            "a.csv", ["instruction", "input", "output"], [[r["instruction"], r["input"], r["output"]] for r in rows]
        ),
        kit.parquet("a.parquet", rows),
    ]
    results = [sorted(prepare_sft(p, tokenizer, render, cutoff_len=128).train["input_ids"]) for p in paths]
    assert all(r == results[0] for r in results)


def test_directory_and_several_formats(kit, tokenizer, render):
    kit.jsonl("d/a.jsonl", kit.alpaca(2))
    kit.jsonl("d/b.jsonl", [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}])
    data = prepare_sft([kit.root / "d"], tokenizer, render, cutoff_len=128)
    assert data.report.read == 3 and data.report.kept == 3


def test_train_on_last_assistant_and_everything(kit, tokenizer, render):
    turns = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "first"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "second"},
    ]
    path = kit.jsonl("m.jsonl", [{"messages": turns}])
    every = prepare_sft(path, tokenizer, render, cutoff_len=128).train[0]
    last = prepare_sft(path, tokenizer, render, cutoff_len=128, train_on="last_assistant").train[0]
    full = prepare_sft(path, tokenizer, render, cutoff_len=128, train_on="everything").train[0]
    assert "first" in trained_text(tokenizer, every) and "second" in trained_text(tokenizer, every)
    assert "first" not in trained_text(tokenizer, last) and "second" in trained_text(tokenizer, last)
    assert full["labels"] == full["input_ids"]


def test_over_cutoff_dropped_or_truncated_and_counted(kit, tokenizer, render):
    rows = kit.alpaca(3) + [{"instruction": "long one", "output": "word " * 200}]
    path = kit.jsonl("a.jsonl", rows)
    dropped = prepare_sft(path, tokenizer, render, cutoff_len=64)
    assert len(dropped.train) == 3
    assert dropped.report.too_long == 1 and dropped.report.dropped == {"too-long": 1}
    assert dropped.report.examples[0].line == 4 and "over cutoff_len 64" in dropped.report.examples[0].message
    cut = prepare_sft(path, tokenizer, render, cutoff_len=64, truncation="truncate")
    assert len(cut.train) == 4 and cut.report.truncated == 1 and max(cut.train["length"]) == 64


def test_truncation_that_removes_every_trained_token(kit, tokenizer, render):
    path = kit.jsonl("a.jsonl", kit.alpaca(1) + [{"instruction": "word " * 100, "output": "late answer"}])
    data = prepare_sft(path, tokenizer, render, cutoff_len=32, truncation="truncate")
    assert data.report.dropped == {"no-trained-token": 1} and len(data.train) == 1


def test_strict_stops_on_sample_over_cutoff(kit, tokenizer, render):
    path = kit.jsonl("a.jsonl", kit.alpaca(2) + [{"instruction": "long", "output": "word " * 200}])
    with pytest.raises(DataError) as exc:
        prepare_sft(path, tokenizer, render, cutoff_len=64, strict=True)
    assert str(exc.value).startswith(f"{path}:3: too-long:") and "\n" not in str(exc.value)


def test_empty_after_filtering(kit, tokenizer, render):
    path = kit.jsonl("a.jsonl", [{"instruction": "q", "output": ""}, {"instruction": "q", "output": " "}])
    with pytest.raises(DataError, match="no usable samples: all 2 were dropped"):
        prepare_sft(path, tokenizer, render, cutoff_len=64)


def test_control_token_text_in_data_stays_plain_text(kit, tokenizer, render):
    path = kit.jsonl("a.jsonl", [{"instruction": "say <|end|> please", "output": "ok"}, *kit.alpaca(2)])
    data = prepare_sft(path, tokenizer, render, cutoff_len=128, seed=0)
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    counts = sorted(row["input_ids"].count(end_id) for row in data.train)
    assert counts == [2, 2, 2]  # the data's "<|end|>" is not the control token
    assert data.report.special_text == 1
    allowed = prepare_sft(path, tokenizer, render, cutoff_len=128, seed=0, allow_special_in_data=True)
    assert sorted(row["input_ids"].count(end_id) for row in allowed.train) == [2, 2, 3]


def test_val_split_is_seeded_and_disjoint(kit, tokenizer, render):
    path = kit.jsonl("a.jsonl", kit.alpaca(40))
    a = prepare_sft(path, tokenizer, render, cutoff_len=128, val_size=0.25, seed=1)
    b = prepare_sft(path, tokenizer, render, cutoff_len=128, val_size=0.25, seed=1)
    c = prepare_sft(path, tokenizer, render, cutoff_len=128, val_size=10, seed=2)
    assert (len(a.train), len(a.eval)) == (30, 10) and a.report.eval == 10
    assert a.train["input_ids"] == b.train["input_ids"] and a.eval["input_ids"] == b.eval["input_ids"]
    assert not {tuple(x) for x in a.train["input_ids"]} & {tuple(x) for x in a.eval["input_ids"]}
    assert len(c.eval) == 10 and c.train["input_ids"] != a.train["input_ids"]


@pytest.mark.parametrize("val_size", [-0.1, 2.5])
def test_bad_val_size(kit, tokenizer, render, val_size):
    with pytest.raises(ConfigError, match="val_size"):
        prepare_sft(kit.jsonl("a.jsonl", kit.alpaca(3)), tokenizer, render, cutoff_len=64, val_size=val_size)


def test_val_size_leaving_nothing_to_train(kit, tokenizer, render):
    with pytest.raises(DataError, match="leaves no training sample"):
        prepare_sft(kit.jsonl("a.jsonl", kit.alpaca(3)), tokenizer, render, cutoff_len=64, val_size=3)


def test_mixture_weights_set_the_share_of_each_source(kit, tokenizer, render):
    big = kit.jsonl("big.jsonl", kit.alpaca(30, prefix="big"))
    small = kit.jsonl("small.jsonl", kit.alpaca(10, prefix="small"))
    data = prepare_sft([big, small], tokenizer, render, cutoff_len=128, mix_weights=[1, 1], seed=3)
    texts = [tokenizer.decode(ids) for ids in data.train["input_ids"]]
    assert len(texts) == 40
    assert sum("small question" in t for t in texts) == 20  # the small source is repeated to half
    assert data.report.mixture == {str(big): 20, str(small): 20}
    with pytest.raises(ConfigError, match="2 mixture weights for 1 data sources"):
        prepare_sft([big], tokenizer, render, cutoff_len=128, mix_weights=[1, 2])


def test_max_samples_per_source(kit, tokenizer, render):
    data = prepare_sft(kit.jsonl("a.jsonl", kit.alpaca(10)), tokenizer, render, cutoff_len=128, max_samples=4)
    assert data.report.read == 4 and len(data.train) == 4


def test_text_data_refused_for_sft(kit, tokenizer, render):
    with pytest.raises(DataError, match="text data cannot be used for stage sft"):
        prepare_sft(kit.jsonl("t.jsonl", [{"text": "doc"}]), tokenizer, render, cutoff_len=64)


def test_cache_is_reused_without_rendering(kit, tokenizer, counting_render, tmp_path):
    path = kit.jsonl("a.jsonl", kit.alpaca(12))
    cache = tmp_path / "cache"
    first = prepare_sft(
        path, tokenizer, counting_render, cutoff_len=128, val_size=2, cache_dir=cache, template_fingerprint="t1"
    )
    assert counting_render.calls == 12
    again = prepare_sft(
        path, tokenizer, counting_render, cutoff_len=128, val_size=2, cache_dir=cache, template_fingerprint="t1"
    )
    assert counting_render.calls == 12  # nothing rendered
    assert again.train["input_ids"] == first.train["input_ids"] and again.eval["labels"] == first.eval["labels"]
    assert again.report == first.report and again.sample_texts == first.sample_texts
    prepare_sft(
        path, tokenizer, counting_render, cutoff_len=128, val_size=2, cache_dir=cache, template_fingerprint="t2"
    )
    assert counting_render.calls == 24  # another template: rebuilt
    prepare_sft(
        path,
        tokenizer,
        counting_render,
        cutoff_len=128,
        val_size=2,
        cache_dir=cache,
        template_fingerprint="t1",
        overwrite_cache=True,
    )
    assert counting_render.calls == 36
    kit.jsonl("a.jsonl", kit.alpaca(13))  # the file changed
    changed = prepare_sft(
        path, tokenizer, counting_render, cutoff_len=128, val_size=2, cache_dir=cache, template_fingerprint="t1"
    )
    assert len(changed.train) == 11


def test_two_processes_give_the_same_rows(kit, tokenizer, render):
    path = kit.jsonl("a.jsonl", kit.alpaca(300))
    one = prepare_sft(path, tokenizer, render, cutoff_len=128, batch_size=50)
    two = prepare_sft(path, tokenizer, render, cutoff_len=128, batch_size=50, num_proc=2)
    assert one.train["input_ids"] == two.train["input_ids"] and one.train["labels"] == two.train["labels"]


def _refusing(render):
    """The test template, refusing any conversation that mentions 'boom' (a one-line template error)."""
    from framework.errors import DataError as TemplateError

    def refuse(messages, *rest):
        if any("boom" in m["content"] for m in messages):
            raise TemplateError("the template refuses this conversation", where="template:3")
        return render(messages, *rest)

    return refuse


@pytest.mark.parametrize("write", ["jsonl", "json"])
def test_workers_start_before_validation_and_change_nothing(kit, tokenizer, render, write):
    """With two processes every converted sample is tokenized while validation runs (a JSON
    array), or each process takes a share of the lines (JSON Lines); what validation drops
    (duplicates, HTML, empty replies, one the template would refuse) is dropped from the result,
    and rows, labels and report equal the one-process run's."""
    rows = kit.alpaca(300)
    rows[10] = dict(rows[3])  # exact duplicate
    rows[20]["output"] = ""  # empty reply
    rows[30]["output"] = "<div>boom</div>"  # scraped markup, and the template would refuse it
    rows[40]["output"] = "x " * 200  # over cutoff_len
    path = getattr(kit, write)(f"a.{write}", rows)
    common = dict(cutoff_len=128, batch_size=50, val_size=10)
    one = prepare_sft(path, tokenizer, _refusing(render), num_proc=1, **common)
    two = prepare_sft(path, tokenizer, _refusing(render), num_proc=2, **common)
    for split in ("train", "eval"):
        a, b = getattr(one, split), getattr(two, split)
        assert a["input_ids"] == b["input_ids"] and a["labels"] == b["labels"]
    assert one.report == two.report
    assert one.report.dropped == {"duplicate": 1, "empty-output": 1, "html-or-control": 1, "too-long": 1}


@pytest.mark.parametrize("num_proc", [1, 2])
@pytest.mark.parametrize("write", ["jsonl", "json"])
def test_a_kept_sample_the_template_refuses_stops_the_run_with_its_line(kit, tokenizer, render, num_proc, write):
    rows = kit.alpaca(300)
    rows[120]["output"] = "boom"
    rows[200]["output"] = "boom again"
    path = getattr(kit, write)(f"a.{write}", rows)
    with pytest.raises(DataError) as caught:
        prepare_sft(path, tokenizer, _refusing(render), cutoff_len=128, batch_size=50, num_proc=num_proc)
    line = read_records(path)[120].line  # 121 in JSON Lines
    assert caught.value.where == f"{path}:{line}" and "template:3: the template refuses" in caught.value.what


def test_pretrain_packs_documents_into_blocks(kit, tokenizer):
    docs = [{"text": f"document number {i} " + "word " * (i % 7)} for i in range(20)]
    data = prepare_pretrain(kit.jsonl("t.jsonl", docs), tokenizer, cutoff_len=32, val_size=0.0)
    assert all(length == 32 for length in data.train["length"][:-1]) and 2 <= data.train["length"][-1] <= 32
    flat = [t for row in data.train["input_ids"] for t in row]
    assert flat.count(tokenizer.eos_token_id) == 20 and flat.count(tokenizer.bos_token_id) == 20
    assert data.train["labels"] == data.train["input_ids"]
    assert "position_ids" not in data.train.column_names


def test_pretrain_restart_positions(kit, tokenizer):
    docs = [{"text": "alpha beta gamma"}, {"text": "delta epsilon"}, {"text": "zeta eta theta iota"}]
    data = prepare_pretrain(kit.jsonl("t.jsonl", docs), tokenizer, cutoff_len=16, restart_positions=True, seed=0)
    for ids, labels, positions in zip(data.train["input_ids"], data.train["labels"], data.train["position_ids"]):
        assert positions[0] == 0
        for k in range(1, len(ids)):
            if ids[k] == tokenizer.bos_token_id:  # a document starts: positions restart, no loss across
                assert positions[k] == 0 and labels[k] == IGNORE_INDEX
            else:
                assert positions[k] == positions[k - 1] + 1 and labels[k] == ids[k]


def test_pretrain_eval_split_by_document(kit, tokenizer):
    docs = [{"text": f"doc {i} text"} for i in range(10)]
    data = prepare_pretrain(kit.jsonl("t.jsonl", docs), tokenizer, cutoff_len=64, val_size=0.2, seed=0)
    assert data.report.eval == 2
    assert sum(row.count(tokenizer.eos_token_id) for row in data.eval["input_ids"]) == 2


def test_pretrain_refuses_conversation_data(kit, tokenizer):
    with pytest.raises(DataError, match="alpaca data cannot be used for stage pt"):
        prepare_pretrain(kit.jsonl("a.jsonl", kit.alpaca(2)), tokenizer, cutoff_len=64)


def test_preference_strings(kit, tokenizer, render, render_prompt):
    rows = [
        {"prompt": "q", "chosen": "good answer", "rejected": "bad answer"},
        {"prompt": "q2", "chosen": "fine", "rejected": "poor"},
    ]
    data = prepare_preference(
        kit.jsonl("p.jsonl", rows), tokenizer, render, render_prompt=render_prompt, cutoff_len=128, seed=0
    )
    assert data.train.column_names == ["prompt", "chosen", "rejected"]
    row = next(r for r in data.train if r["chosen"].startswith("good"))
    assert row["prompt"] == "<s><|start|>user\nq<|end|>\n<|start|>assistant\n"
    assert row["chosen"] == "good answer<|end|>" and row["rejected"] == "bad answer<|end|>"  # no untrained "\n"
    without = prepare_preference(kit.jsonl("p.jsonl", rows), tokenizer, render, cutoff_len=128, seed=0)
    assert without.train["prompt"] == data.train["prompt"] and without.train["chosen"] == data.train["chosen"]


def test_preference_problems_and_length(kit, tokenizer, render):
    rows = [
        {"prompt": "q", "chosen": "good"},
        {"prompt": "q2", "chosen": "fine", "rejected": "poor"},
        {"prompt": "q3", "chosen": "word " * 100, "rejected": "no"},
    ]
    data = prepare_preference(kit.jsonl("p.jsonl", rows), tokenizer, render, cutoff_len=48)
    assert len(data.train) == 1 and data.report.dropped == {"missing-rejected": 1, "too-long": 1}
    with pytest.raises(DataError, match=r":1: missing-rejected"):
        prepare_preference(kit.jsonl("p.jsonl", rows), tokenizer, render, cutoff_len=48, strict=True)


def test_csv_missing_output_column(kit, tokenizer, render):
    path = kit.csv("a.csv", ["instruction", "input"], [["q1", ""], ["q2", "x"]])
    with pytest.raises(DataError) as exc:
        prepare_sft(path, tokenizer, render, cutoff_len=64)
    message = str(exc.value)
    assert "\n" not in message and "all 2 were dropped (missing-field 2)" in message
    assert f"first problem: {path}:2: missing-field: field 'output' is missing" in message


def test_csv_without_known_columns(kit, tokenizer, render):
    path = kit.csv("a.csv", ["frage", "antwort"], [["q1", "a1"]])
    with pytest.raises(DataError, match=r":2: cannot tell the data format from the fields \['antwort', 'frage'\]"):
        prepare_sft(path, tokenizer, render, cutoff_len=64)


def test_missing_data_path(tmp_path, tokenizer, render):
    with pytest.raises(DataError, match="data path does not exist"):
        prepare_sft(tmp_path / "nope.jsonl", tokenizer, render, cutoff_len=64, cache_dir=tmp_path / "cache")


def test_slow_tokenizer_is_refused(kit, render):
    class Slow:
        is_fast = False

    with pytest.raises(ModelError, match="not a fast tokenizer"):
        prepare_sft(kit.jsonl("a.jsonl", kit.alpaca(2)), Slow(), render, cutoff_len=64)


# ── issue 12: samples dropped in the middle, mixtures, max_samples in all, stray files ──────


@pytest.mark.parametrize("position", [0, 5, 11])
@pytest.mark.parametrize("truncation", ["drop", "truncate"])
def test_a_sample_dropped_anywhere_leaves_the_others(kit, tokenizer, render, position, truncation):
    """A sample over the cutoff (drop) or a prompt alone over it (truncate: nothing trained is
    left) at any position; the rest is trained, the dropped one is counted."""
    rows = kit.alpaca(12)
    if truncation == "drop":
        rows[position]["output"] = "long " * 200
    else:
        rows[position]["instruction"] = "long " * 200
    path = kit.jsonl("a.jsonl", rows)
    data = prepare_sft(path, tokenizer, render, cutoff_len=128, truncation=truncation, val_size=2, seed=4)
    assert len(data.train) + len(data.eval) == 11 == data.report.kept
    assert data.report.dropped_total == 1 and data.report.read == 12
    texts = [tokenizer.decode(ids) for ids in list(data.train["input_ids"]) + list(data.eval["input_ids"])]
    assert not any("long long" in t for t in texts)
    assert sum(f"question number {i}?" in " ".join(texts) for i in range(12)) == 11


def test_mixture_counts_are_the_training_set_after_drops(kit, tokenizer, render):
    a_rows = kit.alpaca(12, prefix="aaa")
    for i in (2, 5, 6):
        a_rows[i]["output"] = "long " * 200
    a = kit.jsonl("a.jsonl", a_rows)
    b = kit.jsonl("b.jsonl", kit.alpaca(8, prefix="bbb"))
    for weights in (None, [1, 1], [3, 1]):
        data = prepare_sft([a, b], tokenizer, render, cutoff_len=128, mix_weights=weights, val_size=3, seed=1)
        texts = [tokenizer.decode(ids) for ids in data.train["input_ids"]]
        held = [tokenizer.decode(ids) for ids in data.eval["input_ids"]]
        actual = {str(a): sum("aaa question" in t for t in texts), str(b): sum("bbb question" in t for t in texts)}
        assert data.report.mixture == actual, weights
        assert sum(actual.values()) == len(texts)
        if weights is None:  # nothing resampled: every kept sample is on exactly one side
            assert len(texts) + len(held) == 9 + 8


def test_max_samples_is_a_total_shared_by_the_mixture(kit, tokenizer, render):
    a = kit.jsonl("a.jsonl", kit.alpaca(30, prefix="aaa"))
    b = kit.jsonl("b.jsonl", kit.alpaca(10, prefix="bbb"))
    by_size = prepare_sft([a, b], tokenizer, render, cutoff_len=128, max_samples=8)
    assert by_size.report.read == 8 and len(by_size.train) == 8
    assert by_size.report.mixture == {str(a): 6, str(b): 2}  # 30:10
    by_weight = prepare_sft([a, b], tokenizer, render, cutoff_len=128, max_samples=8, mix_weights=[1, 3])
    assert by_weight.report.read == 8 and by_weight.report.mixture == {str(a): 2, str(b): 6}
    small = prepare_sft([a, b], tokenizer, render, cutoff_len=128, max_samples=36, mix_weights=[1, 3])
    assert small.report.read == 36  # b holds 10 of its 27: the other 26 come from a


def test_sample_limits_sum_to_the_total_and_fit_each_source():
    from framework.data.sources import sample_limits

    assert sample_limits([5, 5], None) == [5, 5]
    assert sample_limits([5, 5], 20) == [5, 5]
    assert sample_limits([30, 10], 8) == [6, 2]
    assert sample_limits([30, 10], 8, [1, 3]) == [2, 6]
    assert sample_limits([30, 2, 0], 9, [1, 1, 1]) == [7, 2, 0]
    assert sample_limits([3, 3, 3], 7) == [3, 2, 2]


def test_a_stray_file_in_a_directory_is_skipped_and_named(kit, tokenizer, render):
    kit.jsonl("d/a.jsonl", kit.alpaca(4))
    kit.jsonl("d/b.jsonl", kit.alpaca(3, prefix="b"))
    kit.text("d/notes.txt", "remember to check the learning rate\n")
    data = prepare_sft([kit.root / "d"], tokenizer, render, cutoff_len=128)
    assert len(data.train) == 7 and data.report.read == 7
    assert any("skipped 1 file(s) stage sft does not read" in n and "notes.txt (text data)" in n
               for n in data.report.notes)
    assert any("notes.txt" in line for line in data.report.lines())


def test_a_directory_with_no_file_for_the_stage_names_one(kit, tokenizer, render):
    kit.text("d/notes.txt", "only notes\n")
    with pytest.raises(DataError, match=r"notes\.txt: text data cannot be used for stage sft"):
        prepare_sft([kit.root / "d"], tokenizer, render, cutoff_len=128)


def test_workers_use_the_temporary_directory_when_shared_memory_is_small(kit, tokenizer, render, monkeypatch):
    """A container's 64 MiB /dev/shm cannot hold the tables of a big set: the workers then write to
    the system's temporary directory, with the same result."""
    import os

    import framework.data.pipeline as pipeline

    class Tiny:
        f_bavail, f_frsize = 10, 4096

    path = kit.jsonl("a.jsonl", kit.alpaca(300))
    expected = prepare_sft(path, tokenizer, render, cutoff_len=128, batch_size=50, num_proc=1)
    assert pipeline._scratch(0) in ("/dev/shm", None)
    monkeypatch.setattr(os, "statvfs", lambda _: Tiny())
    assert pipeline._scratch(0) is None
    two = prepare_sft(path, tokenizer, render, cutoff_len=128, batch_size=50, num_proc=2)
    assert two.train["input_ids"] == expected.train["input_ids"]


def test_two_processes_equal_one_on_a_mixture_of_sources_formats_and_limits(kit, tokenizer, render):
    """Several sources (a directory of two formats, a file), a sample limit shared by weights, a
    JSON array with two elements on one line, a record that cannot be converted and task system
    prompts: the workers see exactly the samples this process keeps."""
    folder = kit.path("dir")
    folder.mkdir()
    kit.jsonl("dir/a.jsonl", kit.alpaca(150, "a") + [{"instruction": 3, "output": "not a text"}])
    sharegpt = [{"conversations": [{"from": "human", "value": f"s question {i}?"},
                                   {"from": "gpt", "value": f"s answer {i}."}], "task": "t"} for i in range(120)]
    kit.json("dir/b.json", sharegpt)
    one_line = kit.path("c.json")
    one_line.write_text("[" + ", ".join(__import__("json").dumps(r) for r in kit.alpaca(160, "c")) + "]",
                        encoding="utf-8")
    common = dict(cutoff_len=128, batch_size=40, val_size=0.1, max_samples=360, mix_weights=[2.0, 1.0],
                  task_system_prompts={"t": "You answer tersely."})
    one = prepare_sft([folder, one_line], tokenizer, render, num_proc=1, **common)
    two = prepare_sft([folder, one_line], tokenizer, render, num_proc=2, **common)
    for split in ("train", "eval"):
        a, b = getattr(one, split), getattr(two, split)
        assert a["input_ids"] == b["input_ids"] and a["labels"] == b["labels"]
    assert one.report == two.report and one.report.dropped and one.report.mixture


def test_an_error_that_cannot_be_pickled_still_comes_back_from_a_worker(kit, tokenizer, render):
    class Odd(Exception):
        def __init__(self) -> None:
            super().__init__("the template broke")
            self.handle = lambda: None  # a lambda: no pickle

    def breaking(messages, *rest):
        if any("boom" in m["content"] for m in messages):
            raise Odd()
        return render(messages, *rest)

    rows = kit.alpaca(300)
    rows[280]["output"] = "boom"  # in the second half of the lines: the forked worker's part
    with pytest.raises(RuntimeError, match="Odd: the template broke"):
        prepare_sft(kit.jsonl("a.jsonl", rows), tokenizer, breaking, cutoff_len=128, batch_size=50, num_proc=2)


def test_without_fork_two_processes_prepare_here_after_validation(kit, tokenizer, render, monkeypatch):
    """Where workers cannot be forked (Windows) num_proc 2 prepares in this process, only what validation kept."""
    import framework.data.pipeline as pipeline

    monkeypatch.setattr(pipeline, "_can_fork", lambda: False)
    rows = kit.alpaca(300)
    rows[30]["output"] = "boom"  # the template refuses it, and validation keeps it: the run stops here
    rows[31]["output"] = ""  # validation drops it before rendering
    replies: list[str] = []

    def counting(messages, *rest):
        replies.append(messages[-1]["content"])
        return _refusing(render)(messages, *rest)

    with pytest.raises(DataError):
        prepare_sft(kit.jsonl("a.jsonl", rows), tokenizer, counting, cutoff_len=128, batch_size=50, num_proc=2)
    rows[30]["output"] = "fine"
    replies.clear()
    data = prepare_sft(kit.jsonl("b.jsonl", rows), tokenizer, counting, cutoff_len=128, batch_size=50, num_proc=2)
    assert data.report.kept == 299 and data.report.num_proc == 2
    assert "" not in replies and "fine" in replies  # the dropped sample was never rendered
