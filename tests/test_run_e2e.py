"""One real fine-tuning run end to end on a tiny model: loss falls, outputs reload exactly."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from framework.cli import main
from framework.plugins import make_plugin_host
from framework.run_plan import make_plan
from framework.training import run


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> object:
    out = tmp_path_factory.mktemp("run") / "out"
    data = out.parent / "train.jsonl"
    rows = [{"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is."} for i in range(24)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = argparse.Namespace(
        model=str(tiny_model_dir), data=[str(data)], output=str(out), cutoff_len=128,
        set=["training.epochs=6", "training.learning_rate=3e-2", "training.logging_steps=1",
             "training.report_to=[]", "lora.r=8", "lora.alpha=32"])
    plan = make_plan(args, make_plugin_host(), need_weights=True)
    return run(plan, lambda _: None)


def test_loss_falls(trained: object) -> None:
    m = trained.metrics  # type: ignore[attr-defined]
    # a random tiny model with frozen embeddings and head learns slowly: a clear, seeded drop
    assert m["train_loss_last"] < m["train_loss_first"] - 0.2
    assert m["eval_loss"] is not None and m["steps"] > 0


def test_outputs_are_complete(trained: object) -> None:
    out = trained.output_dir  # type: ignore[attr-defined]
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "training_config.json",
                 "metrics.json", "generation_config.json", "loss.png"):
        assert (out / name).exists(), name
    record = json.loads((out / "training_config.json").read_text())
    assert record["plugin"]["name"] == "generic"
    assert record["config"]["training.learning_rate"] == {"value": 3e-2, "source": "cli"}
    assert "torch" in record["versions"] and "transformers" in record["versions"]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_adapter_reloads_and_reproduces_trained_logits(trained: object, tiny_model_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = trained.model  # type: ignore[attr-defined]
    model.eval()
    ids = torch.tensor([[5, 17, 42, 99, 7, 3]])
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
        reloaded = PeftModel.from_pretrained(base, trained.output_dir).eval()  # type: ignore[attr-defined]
        got = reloaded(input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-5)


def test_refuses_to_overwrite_a_run(trained: object, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = trained.output_dir  # type: ignore[attr-defined]
    before = (out / "adapter_model.safetensors").read_bytes()
    code = main(["run", "--model", str(tiny_model_dir), "--output", str(out), "--cutoff-len", "128"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already holds a run" in err and "--resume" in err
    assert (out / "adapter_model.safetensors").read_bytes() == before
