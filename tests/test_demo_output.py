"""What ``framework run`` with no arguments (the demo, ``make run``) shows a newcomer: the run's own
lines, no transformers loading bar, no note about fields of the bundled data, and info findings
in one short line, while ``framework check`` still prints them in full."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Iterator

import pytest

from framework.cli import main
from framework.finding_lines import BRIEF_WIDTH, finding_line
from framework.hookdata import Finding
from framework.run_plan import EXAMPLE_DATA


@pytest.fixture(scope="module")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo model is built into a temporary cache, never the user's."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        yield cache


@pytest.fixture(scope="module")
def demo_run(demo_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """The demo run, cut to two optimizer steps: (stdout, stderr, output directory)."""
    out = tmp_path_factory.mktemp("demo") / "run"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["run", "--output", str(out), "--set", "training.max_steps=2"])
    assert code == 0, stderr.getvalue()[-2000:]
    return stdout.getvalue(), stderr.getvalue(), out


def test_the_bundled_data_has_only_fields_the_converter_reads() -> None:
    records = [json.loads(line) for line in EXAMPLE_DATA.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 52
    assert all(set(r) <= {"instruction", "input", "output"} for r in records), [set(r) for r in records][:3]


def test_demo_prints_no_loading_bar_and_no_unused_field_note(demo_run: tuple[str, str, Path]) -> None:
    out, err, output_dir = demo_run
    assert "data: " in out and "(alpaca): read 52, kept 52" in out  # the data report is still there
    assert "fields not used" not in out + err
    assert "Loading weights" not in out + err
    assert "── result" in out and (output_dir / "adapter_model.safetensors").is_file()


def test_demo_info_findings_are_one_short_line(demo_run: tuple[str, str, Path]) -> None:
    out, _, _ = demo_run
    info = [line for line in out.splitlines() if line.startswith("[info]")]
    assert any(line.startswith("[info] bos-added-on-encode: ") for line in info), out
    assert all(len(line) <= BRIEF_WIDTH for line in info), info


def test_check_prints_the_info_finding_in_full(demo_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    full = [line for line in out.splitlines() if line.startswith("[info] bos-added-on-encode: ")]
    assert full and len(full[0]) > BRIEF_WIDTH and "add_special_tokens=False" in full[0], out


@pytest.mark.parametrize("severity", ["warning", "error"])
def test_warnings_and_errors_are_never_clipped(severity: str) -> None:
    finding = Finding(code="x", severity=severity, message="word " * 60)
    assert finding_line(finding, brief=True) == f"[{severity}] x: {finding.message}"


def test_a_clipped_info_line_ends_after_a_clause_or_word() -> None:
    message = ("tokenizer efficiency on your data: CJK 1.00 chars/token over 400 texts; other 6.04 chars/token "
               "over 400 texts, which is fine")
    line = finding_line(Finding(code="chars-per-token", severity="info", message=message), brief=True)
    assert line == "[info] chars-per-token: tokenizer efficiency on your data: CJK 1.00 chars/token over 400 texts…"
    short = Finding(code="c", severity="info", message="fits")
    assert finding_line(short, brief=True) == "[info] c: fits"
