"""The UI's handlers as plain functions (no browser): form, plan, data, serve rules, errors.

They call the same code as the CLI, so each is checked against what the CLI does with the
same input: the YAML the form writes resolves to the same settings as its command line, the
plan's sources are ``framework plan``'s, the rendered sample marks exactly the trained tokens.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from framework.config import load_yaml_layer, parse_set
from framework.errors import ConfigError
from framework.plugins import make_plugin_host
from framework.ui import handlers
from framework.ui.form import COMMON_KEYS, Form
from framework.ui.serve import LOOPBACK, check_port, choose_host, is_loopback

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "framework" / "resources" / "example" / "train.jsonl"


@pytest.fixture(scope="module")
def host():  # noqa: ANN201 - the plugin host the UI builds once
    return make_plugin_host()


def _form(model: Path, **common: object) -> Form:
    """The form for a tiny model (512 positions: the sequence length must fit)."""
    values = {"data.cutoff_len": "256", **common}
    return Form(model=str(model), data=[str(EXAMPLE)], common={k: values.get(k, "") for k in COMMON_KEYS})


def test_the_form_writes_one_command_and_a_yaml_file_that_mean_the_same(tmp_path: Path) -> None:
    form = Form(model="./m", data=["a.jsonl", "b.jsonl"], method="qlora", gpu="24GB",
                common={"training.learning_rate": "2e-4", "training.epochs": "", "lora.r": 16.0},
                advanced="# a comment\ntraining.warmup=0.1\n\ndata.train_on=last\n")
    assert form.command_line() == ("framework run --model ./m --data a.jsonl --data b.jsonl --method qlora --gpu 24GB "
                                   "--set training.learning_rate=2e-4 --set lora.r=16 --set training.warmup=0.1 "
                                   "--set data.train_on=last")
    path = tmp_path / "run.yaml"
    path.write_text(form.yaml_text(), encoding="utf-8")
    from_yaml = load_yaml_layer(path).values
    expected = {"model.name_or_path": "./m", "data.paths": ["a.jsonl", "b.jsonl"], "method": "qlora", "plan.gpu": "24GB",
                **parse_set(form.sets())}
    assert from_yaml == expected
    args = form.run_arguments(output="runs/x", resume=True)
    assert args[args.index("--output") + 1] == "runs/x" and args[-1] == "--resume"


def test_an_advanced_line_without_equals_is_one_line_naming_the_line() -> None:
    form = Form(advanced="training.warmup=0.1\nlearning rate 3\n")
    with pytest.raises(ConfigError) as caught:
        form.sets()
    line = handlers.error_text(caught.value)
    assert line.startswith("error: advanced settings, line 2: ") and "KEY=VALUE" in line and "\n" not in line


def test_the_plan_shows_each_value_with_its_source(host: object, tiny_model_dir: Path) -> None:
    summary, findings, memory, settings, error = handlers.show_plan(
        host, _form(tiny_model_dir, **{"training.learning_rate": "3e-4"}))
    assert error == ""
    assert "**plugin** generic" in summary and "**RoPE**" in summary and "**method** lora" in summary
    rows = {key: (value, source) for key, value, source in settings}
    assert rows["training.learning_rate"] == ("0.0003", "you")  # the form: "you", as plan's cli layer
    assert rows["training.seed"][1] == "core" and rows["method"] == ("lora", "core")
    assert any("generic fallback" in message for severity, message in findings if severity == "warning")
    assert memory and memory[-1][0] == "total" and memory[-1][1] > 0


def test_a_gpu_size_adds_the_planners_choice(host: object, tiny_model_dir: Path) -> None:
    form = _form(tiny_model_dir)
    form.gpu = "8GB"
    summary, _, memory, settings, error = handlers.show_plan(host, form)
    assert error == "" and "**GPU 8GB**" in summary
    assert dict((k, s) for k, _, s in settings)["method"] == "planner"
    assert any("on the GPU (fits)" in part for part, _ in memory)


def test_errors_are_the_clis_one_line_never_a_traceback(host: object, tmp_path: Path, tiny_model_dir: Path) -> None:
    _, _, _, _, error = handlers.show_plan(host, _form(tmp_path / "absent"))
    assert error.startswith("error: ") and "absent" in error and "\n" not in error and "Traceback" not in error
    bad = _form(tiny_model_dir, **{"lora.r": "0"})
    _, _, _, _, error = handlers.show_plan(host, bad)
    assert error.startswith("error: ") and "lora.r=0" in error
    assert handlers.error_text(RuntimeError("boom\nline two")) == "internal error: RuntimeError: boom line two"


def test_the_data_panel_reports_and_highlights_exactly_the_trained_tokens(host: object, tiny_model_dir: Path) -> None:
    line, report, findings, html_text, error = handlers.show_data(host, _form(tiny_model_dir))
    assert error == "" and line.startswith("**format** alpaca")
    assert "read 52, kept 52, dropped 0" in report and "train.jsonl" in report  # the data report, with its file
    assert html_text.count('class="fw-sample"') == 2
    first = html_text.split('class="fw-sample"')[1]
    trained = [part.split(">", 1)[1].split("</span>")[0] for part in first.split('<span class="fw-trained"')[1:]]
    assert trained and trained[-1].endswith("&lt;|im_end|&gt;")  # the reply and its end-of-turn token
    assert '<span class="fw-context"' in first and "Summarize" not in "".join(trained)


def test_missing_data_is_one_line_next_to_the_data_field(host: object, tiny_model_dir: Path, tmp_path: Path) -> None:
    form = _form(tiny_model_dir)
    form.data = [str(tmp_path / "nothing.jsonl")]
    *_, error = handlers.show_data(host, form)
    assert error.startswith("error: ") and "nothing.jsonl" in error and "\n" not in error


def test_uploads_join_the_data_field_and_settings_download_as_yaml(tmp_path: Path) -> None:
    assert handlers.add_uploads("a.jsonl\n", [str(tmp_path / "b.csv"), "a.jsonl"]) == f"a.jsonl\n{tmp_path / 'b.csv'}"
    line, text, path, error = handlers.export_settings(Form(method="dora"), tmp_path / "exports")
    assert error == "" and line == "framework run --method dora" and text == "method: dora\n"
    assert Path(path).read_text() == text


def test_the_ui_listens_on_loopback_unless_told_on_the_command_line() -> None:
    assert choose_host(None, {}) == (LOOPBACK, None)
    assert choose_host(None, {"GRADIO_SERVER_NAME": "127.0.0.1"}) == (LOOPBACK, None)
    with pytest.raises(ConfigError, match=r"GRADIO_SERVER_NAME=0.0.0.0 would make the UI reachable.*--host 0.0.0.0"):
        choose_host(None, {"GRADIO_SERVER_NAME": "0.0.0.0"})
    host, warning = choose_host("0.0.0.0", {})
    assert host == "0.0.0.0" and warning and "anyone who reaches this address can start runs" in warning
    assert choose_host("::1", {}) == ("::1", None) and is_loopback("localhost") and not is_loopback("10.0.0.2")


def test_a_taken_port_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"--port: cannot listen on 127.0.0.1:{port}.*pick another port"):
            check_port(LOOPBACK, port)


def test_without_gradio_framework_ui_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from framework.cli import main
    from framework.extras import Extra

    monkeypatch.setattr(Extra, "missing", lambda self: list(self.modules))
    assert main(["ui", "--port", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "framework ui needs ui" in err and "pip install 'framework[ui]'" in err


def test_framework_help_does_not_import_gradio() -> None:
    code = ("import sys\nfrom framework.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('gradio', 'framework.ui', 'pandas', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout
    assert re.search(r"^\s+ui\s+a local web app", out, re.M), out  # the command is listed
    assert json.loads(out.strip().splitlines()[-1].replace("'", '"')) == []
