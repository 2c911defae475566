"""Every CLI command: output, exit codes, one-line errors, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from framework.cli import main


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "framework", *argv], capture_output=True, text=True, env=full_env,
                          timeout=300)


@pytest.mark.parametrize("argv", [["--help"], ["plugins"], ["plugins", "--json"]])
def test_light_commands_import_neither_torch_nor_transformers(argv: list[str]) -> None:
    code = (
        "import sys\nfrom framework.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules]\n"
        "print('HEAVY', heavy)" % (argv,)
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in proc.stdout, proc.stdout[-500:] + proc.stderr[-500:]


def test_plugins_json_lists_builtins_with_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    listing = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert listing["generic"]["builtin"] and "render_chat" in listing["generic"]["hooks"]
    assert all(p["status"] in {"loaded", "failed", "incompatible", "blocked"} for p in listing.values())


def test_plan_json_shows_plugin_sources_and_decisions(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--model", str(tiny_model_dir), "--cutoff-len", "256", "--set", "lora.r=4", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["plugin"]["name"] == "generic"
    assert plan["settings"]["lora.r"] == {"value": 4, "source": "cli"}
    assert plan["settings"]["training.seed"]["source"] == "core"
    assert plan["attention"]["implementation"] in {"sdpa", "eager"}
    assert plan["rope"]["action"] == "native"
    assert any("generic fallback" in w for w in plan["warnings"])


def test_plan_text(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--model", str(tiny_model_dir), "--cutoff-len", "256"]) == 0
    out = capsys.readouterr().out
    assert "plugin     generic" in out and "<- cli" in out and "attention" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["plan", "--model", "/nonexistent/dir"], "does not exist"),
        (["plan", "--model", "nobody-here/not-cached-model"], "not in the local Hugging Face cache"),
        (["plan", "--model", "{model}", "--method", "lorra"], "method='lorra'"),
        (["plan", "--model", "{model}", "--set", "training.lr=1"], "did you mean"),
        (["plan", "--model", "{model}", "--plugin", "nope"], "installed plugins"),
        (["plan", "--model", "{model}"], "beyond what this model can reach"),
    ],
)
def test_user_errors_exit_2_with_one_line(argv: list[str], expected: str, tiny_model_dir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{model}", str(tiny_model_dir)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and expected in err
    assert "Traceback" not in err


def test_missing_config_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m").mkdir()
    assert main(["plan", "--model", str(tmp_path / "m")]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_debug_shows_traceback(tmp_path: Path) -> None:
    proc = _run("--debug", "plan", "--model", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def test_plan_keys_lists_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--keys"]) == 0
    assert "training.learning_rate" in capsys.readouterr().out


def test_render_json_is_ids_and_labels_only(tiny_model_dir: Path, alpaca_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--model", str(tiny_model_dir), "--data", str(alpaca_file), "--cutoff-len", "256",
                 "--json", "--set", "data.val_size=0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 24
    for number, line in enumerate(lines, start=1):
        row = json.loads(line)
        assert set(row) == {"source", "split", "input_ids", "labels", "spans"}
        assert row["source"] == f"{alpaca_file}:{number}" and row["split"] == "train"
        assert len(row["input_ids"]) == len(row["labels"])
        assert [s["kind"] for s in row["spans"]] == ["text"] * len(row["spans"])
        trained = [t for t, l in zip(row["input_ids"], row["labels"]) if l != -100]
        assert trained and all(l in (-100, t) for t, l in zip(row["input_ids"], row["labels"]))


def test_render_text_marks_trained_spans(tiny_model_dir: Path, alpaca_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--model", str(tiny_model_dir), "--data", str(alpaca_file), "--cutoff-len", "256",
                 "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "⟦Number" in out and "<|im_end|>⟧" in out and f"── {alpaca_file}:2 (" in out


def test_render_follows_the_file_and_names_each_sample_s_split(tiny_model_dir: Path, alpaca_file: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Sample 3 of the file is the third one shown, headed by file:line, wherever the split put it."""
    import re

    assert main(["render", "--model", str(tiny_model_dir), "--data", str(alpaca_file), "--cutoff-len", "256",
                 "--set", "data.val_size=0.25"]) == 0
    out = capsys.readouterr().out
    heads = re.findall(r"── (.+):(\d+) \((train|eval), \d+ tokens\)", out)
    assert [int(line) for _, line, _ in heads] == list(range(1, 25))
    assert sum(split == "eval" for _, _, split in heads) == 6
    bodies = re.split(r"── .+:\d+ \((?:train|eval), \d+ tokens\) ─+\n", out)[1:]
    assert all(f"Say number {i}." in body for i, body in enumerate(bodies))


def test_check_prints_findings(tiny_model_dir: Path, alpaca_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--model", str(tiny_model_dir), "--data", str(alpaca_file), "--cutoff-len", "256"]) == 0
    out = capsys.readouterr().out
    assert "plugin generic" in out and "chars-per-token" in out


def test_cached_hub_id_works_like_a_directory(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    cache = tmp_path / "hub"
    snapshot = cache / "models--someorg--tiny" / "snapshots" / "0123abcd"
    shutil.copytree(tiny_model_dir, snapshot)
    (cache / "models--someorg--tiny" / "refs").mkdir(parents=True)
    (cache / "models--someorg--tiny" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert main(["plan", "--model", "someorg/tiny", "--cutoff-len", "256", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["model"] == {"name_or_path": "someorg/tiny", "origin": "cache"}


def test_generic_render_keeps_template_control_tokens(tiny_model_dir: Path, alpaca_file: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    start, end = tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    assert main(["render", "--model", str(tiny_model_dir), "--data", str(alpaca_file), "--cutoff-len", "256",
                 "--json", "--limit", "1"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["input_ids"].count(start) == 2 and row["input_ids"].count(end) == 2
