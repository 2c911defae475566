"""Quality checks (seed 003 §3.2 checklist plus duplicates): drop and count, or stop with strict."""

from __future__ import annotations

import time

import pytest

from framework.data.formats import to_examples
from framework.data.problems import Problem
from framework.data.records import Record
from framework.data.validate import DataReport, validate
from framework.errors import DataError


def examples(*pairs):
    rows = [Record({"instruction": q, "output": a}, "d.jsonl", i) for i, (q, a) in enumerate(pairs, start=1)]
    return to_examples(rows, "alpaca")[0]


def dropped(*pairs):
    kept, report = validate(examples(("anchor", "kept"), *pairs), strict=False)
    return report


@pytest.mark.parametrize(
    ("pair", "code", "field"),
    [
        (("q", ""), "empty-output", "output"),
        (("q", "  \n "), "empty-output", "output"),
        (("", "a"), "empty-prompt", "instruction"),
        (("q", "<div class='x'>scraped</div>"), "html-or-control", "output"),
        (("q", "a&nbsp;b"), "html-or-control", "output"),
        (("q\x00", "a"), "html-or-control", "instruction"),
        (("q", "garbled \ufffd text"), "html-or-control", "output"),
    ],
)
def test_rules(pair, code, field):
    report = dropped(pair)
    assert report.dropped == {code: 1}
    (problem,) = report.examples
    assert problem.line == 2 and f"'{field}'" in problem.message and problem.hint


def test_html_inside_code_is_kept():
    report = dropped(("how do I break a line in HTML?", "Use `<br>` or:\n```html\n<p>one<br>two</p>\n```"))
    assert report.dropped == {}


def test_exact_and_near_duplicates_with_dedupe_near():
    pairs = [("anchor", "kept"), ("What is ML?", "A branch of AI."), ("What is ML?", "A branch of AI."),
             ("What  is ML? ", "A branch\u200b of AI.")]
    kept, report = validate(examples(*pairs), strict=False, dedupe="near")
    assert report.dropped == {"duplicate": 1, "near-duplicate": 1}
    assert "repeats d.jsonl:2" in report.examples[0].message
    assert report.kept == 2


def test_near_duplicate_folds_unicode_width_and_cjk_spacing():
    pairs = [("如何退货？", "在订单页面申请。"), ("如何退货?", "在订单 页面申请。")]  # full-width ？ is ?
    kept, report = validate(examples(*pairs), strict=False, dedupe="near")
    assert report.dropped == {"near-duplicate": 1}


@pytest.mark.parametrize("first, second", [
    (("Punctuate: Let's eat Grandma", "Let's eat, Grandma!"), ("Punctuate: Let's eat Grandma", "Let's eat Grandma!")),
    (("HELLO", "hello"), ("Hello", "hello")),
    (("如何退货？", "在订单页面申请。"), ("如何退货", "在订单页面申请")),
])
def test_case_and_punctuation_make_different_samples(first, second):
    """Samples that differ in meaning are never merged, even with dedupe=near."""
    kept, report = validate(examples(first, second), strict=False, dedupe="near")
    assert report.dropped == {} and len(kept) == 2
    assert not any("near-duplicates" in note for note in report.notes)


def test_default_keeps_near_duplicates_and_reports_them():
    pairs = [("What is ML?", "A branch of AI."), ("What is ML?", "A branch of AI."),
             ("What  is ML?", "A branch of  AI.")]
    kept, report = validate(examples(*pairs), strict=False)
    assert report.dropped == {"duplicate": 1} and len(kept) == 2
    (note,) = [n for n in report.notes if "near-duplicates" in n]
    assert "1 (e.g. d.jsonl:3 repeats d.jsonl:1)" in note and "data.dedupe=near" in note
    assert "data.dedupe=off" in report.examples[0].hint


def test_dedupe_off_keeps_repeats_on_purpose_and_says_so():
    pairs = [("Who are you?", "I am Nova."), ("Who are you?", "I am Nova."), ("Who are you?", "I am Nova.")]
    kept, report = validate(examples(*pairs), strict=False, dedupe="off")
    assert len(kept) == 3 and report.dropped == {}
    assert any(n.startswith("exact duplicates kept within a source: 2 (e.g. d.jsonl:2 repeats d.jsonl:1)")
               for n in report.notes)


def test_duplicates_are_looked_for_within_a_source_only():
    both = examples(("q1", "a1"), ("q2", "a2"), ("q1", "a1"), ("q2", "a2"))
    kept, report = validate(both, strict=False, sources=[0, 0, 1, 1])
    assert len(kept) == 4 and report.dropped == {}
    assert any("repeated across sources kept: 2" in n for n in report.notes)
    kept, report = validate(examples(("q1", "a1"), ("q1", "a1")), strict=False, sources=[1, 1])
    assert len(kept) == 1 and report.dropped == {"duplicate": 1}


def test_different_samples_are_not_duplicates():
    report = dropped(("q", "answer one"), ("q", "answer two"))
    assert report.dropped == {}


def test_strict_raises_first_problem_in_one_line():
    with pytest.raises(DataError) as exc:
        validate(examples(("q", "a"), ("q", "")), strict=True)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith("d.jsonl:2: empty-output: field 'output' is empty")
    assert "without strict checking" in message


def test_strict_raises_conversion_problems_first():
    problem = Problem("wrong-type", "field 'output' is a number, not text", "d.jsonl", 7, "write it as a string")
    with pytest.raises(DataError, match=r"^d.jsonl:7: wrong-type"):
        validate(examples(("q", "")), strict=True, problems=[problem])


def test_empty_after_filtering_says_why():
    with pytest.raises(DataError) as exc:
        validate(examples(("q", ""), ("q2", "")), strict=False)
    message = str(exc.value)
    assert "\n" not in message
    assert "no usable samples: all 2 were dropped (empty-output 2)" in message
    assert "first problem: d.jsonl:1: empty-output" in message


def test_report_lines_and_round_trip():
    report = dropped(("q", ""), ("q", ""), ("anchor", "kept"))
    report.truncated, report.cutoff_len = 3, 512
    lines = report.lines()
    assert lines[0].startswith("data:") and "kept 1" in lines[0]
    assert any("dropped: empty-output 2, duplicate 1" in line for line in lines)
    assert any("truncated to 512 tokens: 3" in line for line in lines)
    assert DataReport.from_dict(report.to_dict()) == report


def test_checks_scale_to_100k_samples():
    rows = [
        Record({"instruction": f"question {i} about refunds", "output": f"answer {i}: " + "x y z " * 10}, "d", i)
        for i in range(100_000)
    ]
    converted, _ = to_examples(rows, "alpaca")
    start = time.process_time()
    kept, report = validate(converted, strict=False)
    assert len(kept) == 100_000
    assert time.process_time() - start < 5.0  # about 1 s on one slow core
