"""The commands a demanding new user tries, across every method, on a tiny model (issue 12).

``check``, ``render``, a 2-step ``run``, ``--resume``, ``merge`` and ``eval`` run in-process
through ``framework.cli.main`` on data with a sample over the cutoff in the middle and a stray
``notes.txt`` beside the JSONL. Any "internal error" or traceback fails the test; every refusal
must be the one-line exit 2 a user can act on. docs/reliability.md lists the messages.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from framework.cli import main
from framework.config import ADAPTER_METHODS, PROMPT_METHODS, Method

METHODS = list(typing.get_args(Method))
CUTOFF = 128
CONTINUED = {"full", "lora", "qlora", "prefix"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 samples, the 6th over the cutoff, and a note the user left beside them."""
    root = tmp_path_factory.mktemp("sweep") / "data"
    root.mkdir()
    rows = [{"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is."} for i in range(12)]
    rows[5]["output"] = "far too long " * 100
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (root / "notes.txt").write_text("try a higher learning rate next time\n", encoding="utf-8")
    return root


def cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    """Run one command; a traceback or an internal error fails, whatever the exit code."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "internal error" not in text and "Traceback" not in text, text[-3000:]
    assert code in (0, 2), (argv, code, text[-3000:])
    if code == 2:
        errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, captured.err[-3000:]
    return code, text


def run_args(model: Path, data: Path, out: Path, method: str, *extra: str) -> list[str]:
    argv = ["--model", str(model), "--data", str(data), "--output", str(out), "--cutoff-len", str(CUTOFF),
            "--method", method]
    for pair in ("training.max_steps=2", "training.save_steps=2", "training.micro_batch_size=2",
                 "training.learning_rate=5e-2", "training.logging_steps=1", "data.val_size=0",
                 "training.report_to=[]", "prompt.num_virtual_tokens=4", *extra):
        argv += ["--set", pair]
    return argv


@pytest.mark.parametrize("method", METHODS)
def test_every_command_on_every_method(method: str, tiny_model_dir: Path, data_dir: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = run_args(tiny_model_dir, data_dir, out, method)

    code, text = cli(capsys, "run", *argv)
    assert code == 0
    assert "read 12, kept 11, dropped 1" in text and "notes.txt (text data)" in text
    assert (out / "training_config.json").is_file()

    code, text = cli(capsys, "run", *argv, "--resume")
    if method == "hybrid":
        assert code == 2 and "cannot be resumed" in text
    else:
        assert code == 0 and "already complete (step 2 of 2)" in text
        assert not (out / "checkpoint-3").exists()
        code, text = cli(capsys, "run", *argv, "--resume", "--set", "training.learning_rate=1e-3")
        assert code == 2 and "training.learning_rate 0.05 -> 0.001" in text
        if method in CONTINUED:  # raising max_steps continues (one of each kind: time)
            code, text = cli(capsys, "run", *argv, "--resume", "--set", "training.max_steps=3")
            assert code == 0 and "resuming at step 2" in text and (out / "checkpoint-3").is_dir()

    code, text = cli(capsys, "merge", out)
    if method in ADAPTER_METHODS:
        assert code == 0 and (out / "merged" / "config.json").is_file()
    elif method in PROMPT_METHODS:
        assert code == 2 and "adds virtual tokens" in text and "nothing to merge" in text
    elif method == "adapter":
        assert code == 2 and "add layers" in text and "nothing to merge" in text
    else:
        assert code == 2 and "full model" in text

    code, text = cli(capsys, "eval", out, "--data", data_dir / "train.jsonl")
    assert code == 0
    before, after = json.loads((out / "eval.json").read_text())["perplexity"]
    # before: the model the run started from (full runs load it); prompt learning: the virtual
    # tokens count (they were skipped, and before was after)
    assert before != after


@pytest.mark.parametrize("stage", ["pt", "dpo"])
def test_every_command_on_the_other_stages(stage: str, tiny_model_dir: Path, data_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / f"{stage}.jsonl"
    rows = ([{"text": f"Document {i} says the number {i} twice: {i}, {i}."} for i in range(10)] if stage == "pt" else
            [{"prompt": f"Say number {i}.", "chosen": f"Number {i} it is.", "rejected": f"No {i}."} for i in range(10)])
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    argv = [*run_args(tiny_model_dir, data, out, "lora"), "--stage", stage]
    at = argv.index("--output")
    assert cli(capsys, "check", *argv[:at], *argv[at + 2:])[0] == 0
    assert cli(capsys, "run", *argv)[0] == 0
    code, text = cli(capsys, "run", *argv, "--resume")
    assert code == 0 and "already complete (step 2 of 2)" in text
    code, text = cli(capsys, "run", *argv, "--resume", "--set", "training.max_steps=3")
    assert code == 0 and (out / "checkpoint-3").is_dir()
    assert cli(capsys, "merge", out)[0] == 0
    assert cli(capsys, "eval", out, "--data", data_dir / "train.jsonl")[0] == 0


def test_check_render_and_data_cases(tiny_model_dir: Path, data_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--model", str(tiny_model_dir), "--data", str(data_dir), "--cutoff-len", str(CUTOFF)]
    code, text = cli(capsys, "check", *base)
    assert code == 0 and "too-long 1" in text and "train.jsonl:6: too-long" in text
    code, text = cli(capsys, "render", *base, "--json", "--set", "data.val_size=0")
    rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert code == 0 and len(rows) == 11
    assert all(label in (-100, token) for row in rows for token, label in zip(row["input_ids"], row["labels"]))
    # a prompt alone over the cutoff with truncation: nothing trained is left, the sample goes
    code, text = cli(capsys, "check", *base, "--cutoff-len", "16", "--set", "data.truncation=truncate")
    assert code == 2 and "no usable samples" in text and "no-trained-token" in text

    other = tmp_path / "b.jsonl"
    other.write_text("".join(json.dumps({"instruction": f"Name colour {i}.", "input": "", "output": "Blue."}) + "\n"
                             for i in range(6)), encoding="utf-8")
    code, text = cli(capsys, "check", *base, "--data", other, "--set", "data.mix_weights=[1,1]",
                     "--set", "data.val_size=0.2", "--set", "data.max_samples=10")
    assert code == 0 and "read 10" in text and "mixture:" in text

    code, text = cli(capsys, "check", *base, "--seq-schedule", "8:0.5,128:1.0", "--set", "data.val_size=0")
    assert code == 2 and "the schedule starts at 8 tokens, but none of the 11 training samples" in text

    out = tmp_path / "out"
    code, text = cli(capsys, "run", *run_args(tiny_model_dir, data_dir, out, "lora"), "--resume", "--overwrite")
    assert code == 2 and "--resume and --overwrite contradict each other" in text

    code, text = cli(capsys, "plan", "--keys")
    assert code == 0 and "One of: all_assistant, last_assistant, everything." in text
