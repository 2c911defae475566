"""Liger kernels: refused in one line where they cannot run; Liger's fused loss and the chunked
loss decided together, once the strategy is known, so that exactly one fused loss runs where one can."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from framework.errors import ConfigError
from framework.kernels import apply_liger, check_liger, choose_loss, liger_settings


def test_cpu_is_refused_with_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        check_liger("cpu")
    line = caught.value.line()
    assert "\n" not in line and "CUDA" in line and "training.liger_kernels" in line


def test_apply_refuses_before_touching_the_model() -> None:
    with pytest.raises(ConfigError):
        apply_liger(object(), device="cpu", fused_loss=False)


@pytest.mark.skipif(importlib.util.find_spec("liger_kernel") is not None, reason="liger-kernel is installed here")
def test_cuda_without_the_package_says_how_to_install() -> None:
    with pytest.raises(ConfigError) as caught:
        check_liger("cuda")
    assert "pip install 'framework[liger]'" in caught.value.line()


def test_liger_switches_follow_the_loss_choice() -> None:
    assert liger_settings(fused_linear_cross_entropy=False)["fused_linear_cross_entropy"] is False
    assert liger_settings(fused_linear_cross_entropy=True)["fused_linear_cross_entropy"] is True
    assert not liger_settings(True)["cross_entropy"]  # FLCE already covers the loss
    assert all(liger_settings(True)[k] for k in ("rope", "rms_norm", "swiglu"))


def _config(**sets: Any) -> Any:
    from framework.config import RunConfig

    data: dict[str, Any] = {}
    for key, value in sets.items():
        section, _, name = key.partition("__")
        if name:
            data.setdefault(section, {})[name] = value
        else:
            data[section] = value
    return RunConfig.model_validate(data)


def test_one_process_runs_the_chunked_loss_and_no_liger_loss() -> None:
    choice = choose_loss(_config(training__liger_kernels=True))
    assert choice.chunked and not choice.liger_fused


@pytest.mark.parametrize("where", [dict(strategy="ddp", world_size=2), dict(strategy="zero3", world_size=1),
                                   dict(strategy="fsdp", world_size=4), dict(engine="deepspeed")])
def test_under_an_engine_liger_takes_over_the_loss(where: dict[str, Any]) -> None:
    # the chunked loss cannot run inside DDP/DeepSpeed/FSDP: Liger's fused loss must, not neither
    choice = choose_loss(_config(training__liger_kernels=True), **where)
    assert choice.liger_fused and not choice.chunked
    assert "drives the model" in choice.reason
    plain = choose_loss(_config(), **where)
    assert plain.kind == "model" and "training.liger_kernels=true" in plain.reason


def test_models_the_chunked_loss_cannot_run_get_liger_or_say_why() -> None:
    scaled = choose_loss(_config(training__liger_kernels=True), raw_config={"logit_scale": 0.0625})
    assert scaled.liger_fused and "logit_scale=0.0625" in scaled.reason
    prompt = choose_loss(_config(method="prompt"))
    assert prompt.kind == "model" and "virtual tokens" in prompt.reason
    off = choose_loss(_config(training__liger_kernels=True, training__chunked_loss=False))
    assert off.liger_fused and "training.chunked_loss=false" in off.reason
    assert choose_loss(_config(stage="dpo", training__liger_kernels=True)).kind == "model"


def test_plan_shows_the_loss_decision_for_the_strategy(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import framework.hardware as hardware
    from framework.cli import main
    from framework.hookdata import HardwareFacts

    monkeypatch.setattr(hardware, "detect_hardware", lambda: HardwareFacts(
        device="cuda", bf16_supported=True, flash_attn_version="2.8.3", gpu_name="NVIDIA H100 80GB HBM3",
        gpu_memory_bytes=80 * 2**30, gpu_count=2))
    monkeypatch.setattr("framework.extras.Extra.missing", lambda self: [])  # the pretended GPU machine has liger
    common = ["plan", "--model", "meta-llama/Meta-Llama-3-8B", "--method", "lora", "--set", "training.liger_kernels=true"]
    assert main([*common, "--nproc", "2", "--distributed", "ddp"]) == 0
    out = capsys.readouterr().out
    assert "loss       Liger fused linear cross-entropy  (instead of the chunked loss: ddp drives the model" in out
    assert main(common) == 0
    assert "loss       chunked labelled-only" in capsys.readouterr().out
