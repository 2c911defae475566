"""Optional features: one table (framework/extras.py), one plan-time refusal naming the extra.

A setting that asks for a feature whose package is missing is refused while the plan is
made: one line, exit 2, ``pip install 'framework[extra]'``, before any data file is read or
weights are loaded.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from framework.cli import main
from framework.errors import ConfigError
from framework.extras import EXTRAS, Extra, require, requested_features

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _pyproject_extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _dist_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_feature_names_an_extra_of_the_distribution_that_installs_it() -> None:
    extras = _pyproject_extras()
    for extra in EXTRAS.values():
        assert extra.extra in extras, f"{extra.feature}: no [{extra.extra}] extra in pyproject.toml"
        assert extras[extra.extra], extra.extra
        assert extra.modules and extra.alternative, extra.feature


@pytest.mark.parametrize(("setting", "feature", "extra"), [
    ("model.attn_implementation=flash_attention_2", "flash-attn", "cuda"),
    ("training.liger_kernels=true", "liger", "liger"),
    ("distributed.strategy=zero2", "deepspeed", "deepspeed"),
    ("training.report_to=[wandb]", "wandb", "wandb"),
    ("training.report_to=[tensorboard,mlflow]", "mlflow", "mlflow"),
])
def test_a_missing_feature_is_refused_before_data_or_weights(
    setting: str, feature: str, extra: str, tiny_model_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import framework.hardware as hardware
    from framework.hookdata import HardwareFacts

    monkeypatch.setattr(Extra, "missing", lambda self: list(self.modules))
    # a CUDA machine where flash-attn does not import (DeepSpeed and Liger need CUDA too)
    monkeypatch.setattr(hardware, "detect_hardware", lambda: HardwareFacts(
        device="cuda", bf16_supported=True, gpu_name="NVIDIA H100 80GB HBM3", gpu_memory_bytes=80 * 2**30, gpu_count=1))
    out = tmp_path / "out"
    # the data path does not exist: had the data been read first, that would be the error
    code = main(["run", "--model", str(tiny_model_dir), "--data", str(tmp_path / "absent.jsonl"),
                 "--output", str(out), "--set", setting])
    err = capsys.readouterr().err.strip()
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    line = errors[0]
    assert f"needs {feature}, which is not installed" in line and f"pip install 'framework[{extra}]'" in line
    assert "absent.jsonl" not in line and not out.exists()


def test_features_are_read_from_settings_alone() -> None:
    from framework.config import RunConfig

    plain = RunConfig.model_validate({})
    assert requested_features(plain) == []  # the defaults ask for nothing optional
    from framework.hookdata import HardwareFacts

    flash = RunConfig.model_validate({"model": {"attn_implementation": "flash_attention_2"}})
    with_flash = HardwareFacts(device="cuda", bf16_supported=True, flash_attn_version="2.8.3")
    assert requested_features(flash, with_flash) == []  # flash-attn imports on this machine
    assert requested_features(flash, HardwareFacts(device="cpu", bf16_supported=False)) == []  # the kernel choice says why not
    busy = RunConfig.model_validate({"model": {"attn_implementation": "flash_attention_2"},
                                     "training": {"liger_kernels": True, "report_to": ["wandb", "none"]},
                                     "distributed": {"strategy": "zero3"}})
    assert [f for f, _ in requested_features(busy)] == ["flash-attn", "liger", "deepspeed", "wandb"]


def test_require_passes_when_installed_and_names_the_module_when_not(monkeypatch: pytest.MonkeyPatch) -> None:
    require("eval", asked_by="framework eval --generate")  # sacrebleu and rouge-score are test dependencies
    monkeypatch.setattr(Extra, "missing", lambda self: ["rouge_score"])
    with pytest.raises(ConfigError) as caught:
        require("eval", asked_by="framework eval --generate")
    line = caught.value.line()
    assert "\n" not in line and "no module 'rouge_score'" in line and "pip install 'framework[eval]'" in line


def test_no_install_hint_for_an_extra_is_written_outside_the_table() -> None:
    """The scattered checks are gone: only framework/extras.py writes ``pip install 'framework[extra]'``
    (a help text may still name the extra a command needs)."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "framework").rglob("*.py")
                 if p.name != "extras.py" and re.search(r"pip install\W+framework\[", p.read_text())]
    assert offenders == []
