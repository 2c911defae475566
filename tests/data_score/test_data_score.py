"""framework data score: planted bad samples rank below the good ones, for the reasons named.

The judge is a tiny Llama-architecture model first taught the good samples' language (a few
dozen optimizer steps on their rendered conversations), so its perplexity means something:
a reply of random letters is improbable under it, as under a real base model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.cli import main
from framework.data_score import score_data
from framework.data_score.diversity import near_duplicate_clusters, topic_clusters
from framework.data_score.text_signals import language_score, repetition
from framework.plugins import make_plugin_host

COLOURS = ["red", "blue", "green", "yellow", "black", "white", "orange", "purple"]


def _good() -> list[dict[str, str]]:
    rows = [{"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is, and that is the answer."}
            for i in range(12)]
    rows += [{"instruction": f"What colour is the {c} car?", "input": "", "output": f"The car is {c}, as the question says."}
             for c in COLOURS]
    return rows


#: (reply, what the report must say about it)
BAD = [
    ("", "empty reply"),
    ("#@!$ %^&* ~~^^ ||<> @@## $$%% ^^~~", "garbled"),
    ("qzv xkwj pfrt zzqm bvnx kjqw plmz", "improbable reply"),
    ("it is it is it is it is it is it is it is it is it is it is", "repetitive"),
]


@pytest.fixture(scope="module")
def judge(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model after learning the good samples' conversations (full weights, 60 steps)."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(shutil.copytree(tiny_model_dir, tmp_path_factory.mktemp("judge") / "judge"))
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    texts = [tok.apply_chat_template([{"role": "user", "content": r["instruction"]},
                                      {"role": "assistant", "content": r["output"]}], tokenize=False) for r in _good()]
    batch = tok(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    for _ in range(60):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert loss.item() < 1.5
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = _good()
    for n, (reply, _) in enumerate(BAD):
        rows.insert(3 + 4 * n, {"instruction": f"Say number {40 + n}.", "input": "", "output": reply})
    rows.append(dict(rows[1]))  # an exact copy of a good sample, at the end
    path = tmp_path_factory.mktemp("data") / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def scored(judge: Path, data_file: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    out = tmp_path_factory.mktemp("score")
    return score_data(str(judge), [str(data_file)], output_dir=out, host=make_plugin_host(), batch_size=4,
                      keep="top:20")


def _lines(data_file: Path) -> dict[str, int]:
    rows = [json.loads(x) for x in data_file.read_text(encoding="utf-8").splitlines()]
    bad = {reply: i + 1 for i, r in enumerate(rows) for reply, _ in BAD if r["output"] == reply and
           r["instruction"].startswith("Say number 4")}
    return {**{f"bad{n}": bad[reply] for n, (reply, _) in enumerate(BAD)}, "copy": len(rows), "original": 2}


def test_planted_bad_samples_rank_below_every_good_one(scored: object, data_file: Path) -> None:
    scores = scored.scores  # type: ignore[attr-defined]
    lines = _lines(data_file)
    by_line = {s.line: s for s in scores}
    bad_lines = {lines[f"bad{n}"] for n in range(len(BAD))} | {lines["copy"]}
    good = [s.score for s in scores if s.line not in bad_lines]
    worst_good = min(good)
    for n, (_reply, reason) in enumerate(BAD):
        s = by_line[lines[f"bad{n}"]]
        assert s.score < worst_good, (reason, s.score, worst_good)
        assert any(reason in r for r in s.reasons), (reason, s.reasons)
    copy = by_line[lines["copy"]]
    assert copy.score < worst_good and copy.duplicate_of == f"{data_file}:{lines['original']}"
    assert by_line[lines["original"]].duplicate_of is None  # the first occurrence keeps its score


def test_the_base_model_signals_are_real(scored: object, data_file: Path) -> None:
    by_line = {s.line: s for s in scored.scores}  # type: ignore[attr-defined]
    lines = _lines(data_file)
    gibberish = by_line[lines["bad2"]]
    good = by_line[1]
    assert gibberish.perplexity > 20 * good.perplexity
    assert good.ifd < 1.0  # the instruction makes the learned reply easier to predict
    assert by_line[lines["bad0"]].reply_tokens == 0 and by_line[lines["bad0"]].score == 0.0


def test_report_files_and_filtered_copy_with_provenance(scored: object, data_file: Path) -> None:
    out = scored.output_dir  # type: ignore[attr-defined]
    rows = [json.loads(x) for x in (out / "scores.jsonl").read_text(encoding="utf-8").splitlines()]
    total = len(data_file.read_text(encoding="utf-8").splitlines())
    assert [r["line"] for r in rows] == list(range(1, total + 1))  # file order, every sample
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert sum(c["count"] for c in report["topic_clusters"]) == total
    assert [f"{data_file}:2", f"{data_file}:{total}"] in report["near_duplicate_clusters"]
    assert report["throughput"]["samples_per_second"] > 0
    assert (out / "histograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    filtered = scored.filtered  # type: ignore[attr-defined]
    kept = [json.loads(x) for x in filtered.read_text(encoding="utf-8").splitlines()]
    assert len(kept) == 20
    assert not {r["output"] for r in kept} & {reply for reply, _ in BAD}
    provenance = json.loads((out / "mixed.filtered.provenance.json").read_text(encoding="utf-8"))
    assert provenance["rule"] == "--keep top:20" and provenance["of"] == total
    assert provenance["inputs"][0]["sha256"] and len(provenance["samples"]) == 20
    source = provenance["samples"][0]["from"].rsplit(":", 1)
    original = json.loads(data_file.read_text(encoding="utf-8").splitlines()[int(source[1]) - 1])
    assert kept[0] == original


def test_cli_min_score_and_bad_keep(judge: Path, data_file: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "score", "--model", str(judge), "--data", str(data_file), "--keep", "best:3",
                 "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--keep expects top:K" in err
    out = tmp_path / "y"
    assert main(["data", "score", "--model", str(judge), "--data", str(data_file), "--min-score", "0.5",
                 "--output", str(out)]) == 0
    said = capsys.readouterr().out
    assert "near-duplicate cluster" in said and "filtered" in said
    kept = [json.loads(x) for x in (out / "mixed.filtered.jsonl").read_text(encoding="utf-8").splitlines()]
    scores = [json.loads(x) for x in (out / "scores.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(kept) == sum(1 for s in scores if s["score"] >= 0.5) > 0


def test_text_signals_and_diversity_without_a_model() -> None:
    assert language_score("The car is red.")[0] == 1.0
    assert language_score("这辆车是红色的，GPU 很快。")[0] == 1.0  # Latin terms inside Chinese are normal
    assert language_score("Привет мир hello world")[0] < 0.7  # two scripts mixed
    assert repetition("la la la la la la la la la la la la") > 0.7 and repetition("one two three four five six") == 0
    texts = ["Say number 1. Number 1 it is.", "say  NUMBER 1. number 1 it is.", "What colour is the sky? Blue."]
    assert near_duplicate_clusters(texts) == [[0, 1]]
    topics = topic_clusters(["red car"] * 3 + ["小猫在睡觉"] * 3, k=2)
    assert sorted(topics.sizes) == [3, 3] and len(set(topics.labels[:3])) == 1


def test_batched_losses_equal_one_sample_at_a_time(tiny_model_dir: Path) -> None:
    """Left padding, explicit positions and logits_to_keep change nothing but the speed."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from framework.data_score.reply_loss import reply_losses

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompts = ["<|im_start|>user\nSay number 3.<|im_end|>\n<|im_start|>assistant\n",
               "<|im_start|>user\nWhat colour is the sky on a fine summer day, and why?<|im_end|>\n<|im_start|>assistant\n",
               "hi", "<|im_start|>user\nEmpty?<|im_end|>\n<|im_start|>assistant\n"]
    replies = ["Number 3 it is.", "Blue.", "a much longer reply than the others, with many more words in it", ""]
    one = reply_losses(model, tok, prompts, replies, cutoff_len=128, batch_size=1)
    many = reply_losses(model, tok, prompts, replies, cutoff_len=128, batch_size=4)
    for a, b in zip(one[:3], many[:3]):
        assert abs(a.conditional - b.conditional) < 1e-4 and abs(a.unconditional - b.unconditional) < 1e-4
        assert a.reply_tokens == b.reply_tokens > 0
    assert many[3].reply_tokens == 0 and many[3].conditional != many[3].conditional  # nan: nothing to score
