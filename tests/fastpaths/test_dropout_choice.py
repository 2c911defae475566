"""Which dropout the LoRA layers get (``framework.kernels.lora_dropout_choice``), shown by ``plan``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framework.cli import main
from framework.hookdata import HardwareFacts
from framework.kernels import lora_dropout_choice

CPU = HardwareFacts(device="cpu", bf16_supported=False)
GPU = HardwareFacts(device="cuda", bf16_supported=True)


def _config(**values: Any) -> Any:
    from framework.config import RunConfig

    lora = values.pop("lora", {})
    return RunConfig.model_validate({"method": values.pop("method", "lora"), "stage": values.pop("stage", "sft"),
                                     "lora": lora, **values})


def test_cpu_lora_sft_gets_the_bits_dropout_and_everything_else_says_why_not() -> None:
    kind, why = lora_dropout_choice(_config(), CPU)
    assert kind == "bits" and "lora.fast_dropout=off" in why and "dropped positions" in why
    assert "16-bit" in lora_dropout_choice(_config(lora={"dropout": 0.3}), CPU)[1]
    assert lora_dropout_choice(_config(stage="pt", method="qlora"), CPU)[0] == "bits"
    assert lora_dropout_choice(_config(lora={"fast_dropout": "off"}), CPU) == ("torch", "lora.fast_dropout=off")
    assert lora_dropout_choice(_config(), GPU)[0] == "torch"
    assert lora_dropout_choice(_config(stage="dpo"), CPU)[0] == "off"  # TRL's DPOConfig.disable_dropout
    assert lora_dropout_choice(_config(stage="grpo"), CPU)[0] == "bits"
    assert lora_dropout_choice(_config(method="hybrid"), CPU)[0] == "torch"
    assert lora_dropout_choice(_config(method="full"), CPU) is None
    assert lora_dropout_choice(_config(lora={"dropout": 0.0}), CPU) is None


def test_plan_shows_the_dropout_and_the_heads_dtype(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--model", str(tiny_model_dir), "--cutoff-len", "128", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["dropout"]["kind"] == "bits" and "dropped positions" in shown["dropout"]["why"]
    assert shown["loss"]["head_dtype"] in ("fp32", "bf16") and shown["loss"]["head_why"]
    assert main(["plan", "--model", str(tiny_model_dir), "--cutoff-len", "128", "--set", "lora.fast_dropout=off"]) == 0
    assert "dropout    torch  (lora.fast_dropout=off)" in capsys.readouterr().out
