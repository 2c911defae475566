"""Which strategy a run gets, from the memory planner's per-GPU estimates, and what plan shows.

The model is an 8B decoder described by its config alone (hidden 4096, 32 layers, GQA 32/8,
MLP 14336, vocabulary 128256: the shapes of the public 8B checkpoints); planning reads no
weights. ``--plugin generic`` keeps the test independent of which family plugins are installed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from framework import distributed
from framework.cli import main
from framework.errors import ConfigError
from framework.plugins import make_plugin_host
from framework.run_plan import make_plan

CONFIG_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 8192, "rope_theta": 500000.0, "tie_word_embeddings": False, "rms_norm_eps": 1e-5,
    "hidden_act": "silu", "torch_dtype": "bfloat16",
}
LEAN = ["training.micro_batch_size=1", "training.gradient_checkpointing=true"]


@pytest.fixture(scope="module")
def model_8b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("shapes") / "decoder-8b"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(CONFIG_8B), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def host() -> object:
    return make_plugin_host()


@pytest.fixture(autouse=True)
def not_launched(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP"):
        monkeypatch.delenv(name, raising=False)


def _plan(host: object, model: Path, **values: object) -> object:
    args = dict(config=None, model=str(model), data=None, format=None, method="full", stage=None, output=None,
                plugin="generic", cutoff_len=2048, gpu="24GB", seq_schedule=None, set=list(LEAN),
                trust_remote_code=False, allow_pickle=False, no_packing=False, strict=False, overwrite_cache=False)
    args.update(values)
    return make_plan(argparse.Namespace(**args), host, need_weights=False)


def test_auto_takes_the_first_strategy_that_fits(host: object, model_8b: Path) -> None:
    plan = _plan(host, model_8b, nproc=8)
    dist = plan.distributed
    table = {name: total for name, total, _ in dist.table}
    usable = 24 * 2**30 * (1 - distributed.MARGIN)
    # full fine-tuning of 8B: replicas (DDP) and sharded states only (ZeRO-2) do not fit 24 GB
    assert table["ddp"] > usable and table["zero2"] > usable
    assert dist.strategy == "fsdp" and dist.fits and dist.per_gpu == table["fsdp"] <= usable
    assert dist.world_size == 8 and dist.sharded


def test_sharding_more_costs_less_per_gpu(host: object, model_8b: Path) -> None:
    from framework.planning import estimate

    plan = _plan(host, model_8b, nproc=8)
    table = {name: total for name, total, _ in plan.distributed.table}
    single = estimate(plan.facts, **distributed.estimate_arguments(plan, distributed=True))
    assert table["ddp"] > table["zero2"] > table["zero3"] > table["zero3-offload"]
    assert table["zero3"] == table["fsdp"], "the same sharding of weights, gradients and states"
    # one replica per GPU plus gradient buckets: more than the same step on one GPU
    assert table["ddp"] > single.total


def test_a_requested_strategy_is_kept_even_when_it_does_not_fit(host: object, model_8b: Path) -> None:
    dist = _plan(host, model_8b, nproc=8, distributed="ddp").distributed
    assert dist.strategy == "ddp" and dist.reason == "requested" and dist.fits is False


def test_one_process_and_no_gpu_size(host: object, model_8b: Path) -> None:
    assert _plan(host, model_8b, method="lora", set=[], cutoff_len=512, gpu="80GB").distributed.strategy is None
    dist = _plan(host, model_8b, nproc=2, gpu=None).distributed
    assert dist.strategy == "ddp" and "no GPU size known" in dist.reason


def test_one_gpu_too_small_suggests_how_many_gpus(host: object, model_8b: Path) -> None:
    dist = _plan(host, model_8b).distributed
    assert dist.strategy is None
    assert dist.suggestion.startswith("one 24.00 GiB GPU is not enough")
    assert "framework run --nproc " in dist.suggestion and "--distributed " in dist.suggestion


def test_plan_prints_the_strategy_and_memory_per_gpu(model_8b: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--model", str(model_8b), "--plugin", "generic", "--gpu", "24GB", "--method", "full",
                 "--nproc", "8", "--cutoff-len", "2048", "--set", LEAN[0], "--set", LEAN[1]])
    out = capsys.readouterr().out
    assert code == 0
    line = next(l for l in out.splitlines() if l.startswith("distributed "))
    assert line.startswith("distributed fsdp over 8 GPUs: ") and " GiB per GPU" in line
    for name in distributed.STRATEGIES:
        assert any(l.split()[:1] == [name] and "per GPU" in l for l in out.splitlines()), name
    code = main(["plan", "--model", str(model_8b), "--plugin", "generic", "--gpu", "24GB", "--method", "full",
                 "--nproc", "8", "--cutoff-len", "2048", "--set", LEAN[0], "--set", LEAN[1], "--json"])
    record = json.loads(capsys.readouterr().out)["distributed"]
    assert code == 0 and record["strategy"] == "fsdp" and record["world_size"] == 8
    assert {row["strategy"] for row in record["table"]} == set(distributed.STRATEGIES)


def test_engines_are_refused_where_they_cannot_run(host: object, model_8b: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _plan(host, model_8b, nproc=2, distributed="fsdp")
    assert plan.hardware.device != "cuda"  # the test machine: accelerate runs FSDP on GPUs only
    with pytest.raises(ConfigError, match="needs CUDA GPUs"):
        distributed.check_supported(plan)
    plan.hardware = plan.hardware.model_copy(update={"device": "cuda", "gpu_count": 1})
    with pytest.raises(ConfigError, match="--nproc 2 but this machine has 1 GPU"):
        distributed.check_supported(plan)
    # DeepSpeed missing: refused while the plan is made, with the extra that installs it
    monkeypatch.setattr("framework.extras.Extra.missing", lambda self: list(self.modules))
    with pytest.raises(ConfigError, match=r"--distributed zero3 needs deepspeed.*pip install 'framework\[deepspeed\]'"):
        _plan(host, model_8b, nproc=2, distributed="zero3")
    ddp = _plan(host, model_8b, nproc=2, distributed="ddp")
    distributed.check_supported(ddp)  # DDP over gloo runs on CPU


def test_an_accelerate_engine_config_is_left_alone(host: object, model_8b: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    plan = _plan(host, model_8b, nproc=8)
    assert "accelerate launch config chose deepspeed" in plan.distributed.reason
    assert distributed.trainer_arguments(plan) == {}
