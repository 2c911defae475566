"""Automatic method choice: --gpu (or the detected accelerator) and no --method -> the planner decides.

The 8B model is a published hub id answered from the llama3 plugin's ``known_model_configs``
with HF_HUB_OFFLINE=1 (set by the root conftest): planning never downloads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from framework.cli import main
from framework.plugins import make_plugin_host
from framework.run_plan import make_plan

HUB_ID = "meta-llama/Meta-Llama-3-8B"


def _plan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["plan", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("gpu", "method", "micro_batch", "grad_accum"), [("24GB", "lora", 4, 1), ("12GB", "qlora", 1, 4)])
def test_planner_picks_the_method_for_the_gpu_offline(gpu: str, method: str, micro_batch: int, grad_accum: int,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    report = _plan_json(capsys, "--model", HUB_ID, "--gpu", gpu)
    assert report["model"]["origin"] == "published facts (llama3)"
    settings = report["settings"]
    assert settings["method"] == {"value": method, "source": "planner"}
    assert settings["training.micro_batch_size"] == {"value": micro_batch, "source": "planner"}
    assert settings["training.grad_accum"] == {"value": grad_accum, "source": "planner"}
    assert settings["training.gradient_checkpointing"] == {"value": True, "source": "planner"}
    assert report["gpu_choice"]["method"] == method and report["gpu_choice"]["fits"] is True
    assert report["memory"]["total"] <= 0.9 * int(gpu[:-2]) * 2**30


def test_plan_text_shows_the_planner_as_source_and_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--model", HUB_ID, "--gpu", "24GB"]) == 0
    out = capsys.readouterr().out
    assert "'lora'" in out and "<- planner" in out
    assert "gpu 24GB: lora (micro batch 4, grad accum 1, checkpointing on) - lora fits" in out
    assert "full needs" in out


def test_the_users_method_and_values_win_over_the_planner(capsys: pytest.CaptureFixture[str]) -> None:
    report = _plan_json(capsys, "--model", HUB_ID, "--gpu", "24GB", "--method", "full")
    assert report["settings"]["method"] == {"value": "full", "source": "cli"}
    assert report["settings"]["training.micro_batch_size"]["source"] != "planner"
    assert report["gpu_choice"]["method"] == "lora"  # still shown as the recommendation
    report = _plan_json(capsys, "--model", HUB_ID, "--gpu", "24GB", "--set", "training.micro_batch_size=2")
    assert report["settings"]["method"] == {"value": "lora", "source": "planner"}
    assert report["settings"]["training.micro_batch_size"] == {"value": 2, "source": "cli"}


def test_nothing_fits_is_a_warning_that_says_what_would(capsys: pytest.CaptureFixture[str]) -> None:
    report = _plan_json(capsys, "--model", HUB_ID, "--gpu", "4GB")
    assert report["gpu_choice"]["fits"] is False
    assert any(w.startswith("planner: nothing fits in 4.00 GiB") for w in report["warnings"])


def test_run_plans_with_the_same_choice(tiny_model_dir: Path) -> None:
    args = argparse.Namespace(config=None, model=str(tiny_model_dir), data=None, format=None, method=None, stage=None,
                              output=None, plugin=None, cutoff_len=128, gpu="1GB", seq_schedule=None, set=None,
                              trust_remote_code=False, allow_pickle=False, no_packing=False, strict=False,
                              overwrite_cache=False, resume=False, overwrite=False)
    plan = make_plan(args, make_plugin_host(), need_weights=True)
    assert plan.config.method == "full" and plan.resolved.sources["method"] == "planner"
    assert plan.method_choice is not None and plan.method_choice.fits
