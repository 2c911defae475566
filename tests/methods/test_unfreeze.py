"""Progressive unfreezing: lower layers join on schedule, the optimizer holds state only for what
joined, the progress line and metrics.json show the trainable layers, and a resumed run follows
the same schedule to the same weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

SETS = ["training.learning_rate=3e-3", "training.max_steps=6", "training.save_steps=2",
        "training.save_total_limit=5", "unfreeze.schedule=1:0,all:0.5"]


@pytest.fixture(scope="module")
def unfrozen(train: Any) -> Any:
    return train(method="full", sets=SETS)


def _layer(weights: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
    return {k: v for k, v in weights.items() if f".layers.{index}." in k}


def test_layers_join_top_down_on_schedule(unfrozen: Any, tiny_model_dir: Path) -> None:
    m = unfrozen.metrics
    assert m["train_loss_last"] < m["train_loss_first"], m["train_history"]
    assert [tuple(x) for x in m["trainable_layers_history"]] == [(0, 1), (3, 2)]
    assert m["trainable_layers"] == 2 and m["total_layers"] == 2
    saved = json.loads((unfrozen.output_dir / "metrics.json").read_text())
    assert saved["trainable_layers_history"] == [[0, 1], [3, 2]] and saved["unfreeze_schedule"] == [[0, 1], [3, "all"]]
    assert any("layers 1/2 trainable" in line for line in unfrozen.said)
    assert any("layers 2/2 trainable" in line for line in unfrozen.said)
    base = load_file(tiny_model_dir / "model.safetensors")
    early = load_file(unfrozen.output_dir / "checkpoint-2" / "model.safetensors")
    final = load_file(unfrozen.output_dir / "model.safetensors")
    bottom, top = _layer(base, 0), _layer(base, 1)
    assert bottom and top
    assert all(torch.equal(early[k], v) for k, v in bottom.items())  # frozen for steps 1-2
    assert any(not torch.equal(early[k], v) for k, v in top.items())
    embed = next(k for k in base if "embed_tokens" in k)
    assert torch.equal(early[embed], base[embed]) and not torch.equal(final[embed], base[embed])
    assert any(not torch.equal(final[k], v) for k, v in bottom.items())  # joined at step 3


def test_the_optimizer_holds_state_only_for_joined_parameters(unfrozen: Any, tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    top_layer = sum(1 for name, _ in model.named_parameters() if ".layers.1." in name)
    every = sum(1 for _ in model.parameters())
    early = torch.load(unfrozen.output_dir / "checkpoint-2" / "optimizer.pt", weights_only=False)
    late = torch.load(unfrozen.output_dir / "checkpoint-6" / "optimizer.pt", weights_only=False)
    assert len(early["state"]) == top_layer < every
    assert len(late["state"]) == every


def test_resume_follows_the_same_schedule_to_the_same_weights(unfrozen: Any, tiny_model_dir: Path,
                                                              data_files: dict[str, Path], tmp_path: Path) -> None:
    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan
    from framework.training import run
    from tests.methods.conftest import run_args

    out = tmp_path / "out"
    out.mkdir()
    shutil.copytree(unfrozen.output_dir / "checkpoint-2", out / "checkpoint-2")  # as if killed after step 2
    settings = ["training.micro_batch_size=4", "training.logging_steps=1", "training.report_to=[]",
                "data.val_size=0", "training.warmup=0", "training.lr_scheduler=constant", "lora.dropout=0", *SETS]
    args = run_args(model=str(tiny_model_dir), data=[str(data_files["sft"])], output=str(out), method="full",
                    stage="sft", cutoff_len=128, set=settings, resume=True)
    said: list[str] = []
    result = run(make_plan(args, make_plugin_host(), need_weights=True), said.append)
    m = result.metrics
    assert m["resumed_from_step"] == 2 and m["steps"] == 6
    assert [tuple(x) for x in m["trainable_layers_history"]] == [(2, 1), (3, 2)]
    assert any("now 1 trainable at step 2" in line for line in said)
    expected, got = load_file(unfrozen.output_dir / "model.safetensors"), load_file(out / "model.safetensors")
    worst = max(float((expected[k] - got[k]).abs().max()) for k in expected)
    assert worst < 1e-5, worst


@pytest.mark.parametrize("schedule, total, steps, expected", [
    ("2:0,4:0.25,all:0.5", 8, 100, [(0, 2), (25, 4), (50, None)]),
    ("1:0,3:10", 3, 100, [(0, 1), (10, None)]),
    ("every:5", 3, 100, [(0, 1), (5, 2), (10, None)]),
    ("every:4:2", 6, 100, [(0, 2), (4, 4), (8, None)]),
])
def test_schedules_resolve_to_stages(schedule: str, total: int, steps: int, expected: list[Any]) -> None:
    from framework.unfreeze import stages

    assert [(s.step, s.layers) for s in stages(schedule, total, steps)] == expected


@pytest.mark.parametrize("schedule, message", [
    ("2:0.1,4:0.5", "must start at 0"),
    ("2:0,x:0.5", "is not layers:when"),
    ("2:0,1:0.5", "later and later"),
    ("2:0,4:0.5,6:0.3", "later and later"),
    ("2:0,9:0.5", "the model has 8"),
    ("every:0", "every:K"),
])
def test_bad_schedules_are_one_line(schedule: str, message: str) -> None:
    from framework.errors import ConfigError
    from framework.unfreeze import stages

    with pytest.raises(ConfigError, match=message) as caught:
        stages(schedule, 8, 100)
    assert "\n" not in caught.value.line() and "unfreeze.schedule" in caught.value.line()


def test_a_schedule_on_another_method_is_refused_while_planning(tiny_model_dir: Path, data_files: dict[str, Path],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from framework.cli import main

    code = main(["plan", "--model", str(tiny_model_dir), "--method", "lora", "--cutoff-len", "128",
                 "--set", "unfreeze.schedule=1:0,all:0.5"])
    assert code == 2
    assert "unfreeze.schedule applies to --method full" in capsys.readouterr().err


def test_plan_reports_start_and_peak_memory(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json as _json

    from framework.cli import main

    assert main(["plan", "--model", str(tiny_model_dir), "--method", "full", "--cutoff-len", "128", "--json",
                 "--set", "unfreeze.schedule=1:0,all:0.5"]) == 0
    plan = _json.loads(capsys.readouterr().out)
    unfreeze = plan["unfreeze"]
    assert unfreeze["start_layers"] == 1 and unfreeze["total_layers"] == 2
    assert unfreeze["start"] < unfreeze["peak"] == plan["memory"]["total"]
    assert main(["plan", "--model", str(tiny_model_dir), "--method", "full", "--cutoff-len", "128",
                 "--set", "unfreeze.schedule=every:3"]) == 0
    out = capsys.readouterr().out
    assert "progressive unfreezing starts at" in out and "(top 1 of 2 layers trainable)" in out


def test_start_estimate_is_freeze_and_peak_is_full_on_an_8b() -> None:
    """On Llama 3 8B the start (top 4 of 32 layers) needs far less than the full peak."""
    from framework.facts import facts_from_config
    from framework.planning.memory import estimate
    from framework.planning.unfreeze import unfreeze_memory

    config = json.loads((Path(__file__).resolve().parents[1] / "oracles" / "configs" /
                         "Meta-Llama-3-8B.config.json").read_text())
    facts = facts_from_config(config, "Meta-Llama-3-8B")
    found = unfreeze_memory(facts, "4:0,16:0.3,all:0.6", micro_batch=1, seq_len=2048)
    assert found.start == estimate(facts, method="freeze", freeze_trainable_layers=4, micro_batch=1, seq_len=2048)
    assert found.peak == estimate(facts, method="full", micro_batch=1, seq_len=2048)
    assert found.start.total < 0.5 * found.peak.total


def test_the_top_layers_train_under_gradient_checkpointing(train: Any) -> None:
    """Frozen embeddings feed checkpointed blocks: the top layer still gets gradients (the loss falls
    while it trains alone)."""
    run = train(method="full", sets=["training.learning_rate=3e-3", "training.max_steps=4",
                                     "unfreeze.schedule=1:0,all:2", "training.gradient_checkpointing=true"])
    history = dict(run.metrics["train_history"])
    assert [tuple(x) for x in run.metrics["trainable_layers_history"]] == [(0, 1), (2, 2)]
    assert history[2] < history[1] and history[4] < history[2]
