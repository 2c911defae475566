"""Fixtures of the method tests: small data files and a one-call training run on the tiny model."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: Four samples and a micro-batch of four: every step trains the same batch, so a falling
#: loss is the method learning, not batch-to-batch noise.
SFT_ROWS = [{"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is."} for i in range(4)]
PREFERENCE_ROWS = [{"prompt": f"Say number {i}.", "chosen": f"Number {i} it is.", "rejected": f"No, I will not say {i}."}
                   for i in range(8)]
TEXT_ROWS = [{"text": f"Document {i}. The number {i} follows {i - 1} and comes before {i + 1}. Say number {i}, it is."}
             for i in range(12)]


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """Tiny matrices on a shared CPU: one thread avoids spin-waiting (about 4x faster here)."""
    import torch

    torch.set_num_threads(1)


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("method-data")
    return {"sft": _write(root / "sft.jsonl", SFT_ROWS), "dpo": _write(root / "pref.jsonl", PREFERENCE_ROWS),
            "pt": _write(root / "text.jsonl", TEXT_ROWS)}


@pytest.fixture(scope="session")
def wide_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model at hidden size 64: bitsandbytes' CPU 4-bit inference kernel (used in eval
    mode on CPUs with AVX512-BF16) needs in_features >= its block size of 64."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    directory = tmp_path_factory.mktemp("wide") / "tiny-wide"
    config = AutoConfig.from_pretrained(tiny_model_dir)
    config.hidden_size, config.intermediate_size, config.head_dim = 64, 128, 16
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(directory, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(directory)
    return directory


def run_args(**values: Any) -> argparse.Namespace:
    defaults: dict[str, Any] = {
        "config": None, "model": None, "data": None, "format": None, "method": None, "stage": None,
        "output": None, "plugin": None, "cutoff_len": None, "gpu": None, "seq_schedule": None, "set": None,
        "trust_remote_code": False, "allow_pickle": False, "no_packing": False, "strict": False,
        "overwrite_cache": False, "resume": False, "overwrite": False,
    }
    defaults.update(values)
    return argparse.Namespace(**defaults)


class Trained:
    """A finished run with everything it said."""

    def __init__(self, result: Any, said: list[str]) -> None:
        self.result = result
        self.said = said
        self.metrics = result.metrics
        self.output_dir: Path = result.output_dir
        self.model = result.model


@pytest.fixture(scope="session")
def run_plan(tiny_model_dir: Path, data_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """``run_plan(method=..., stage=..., sets=[...])``: the plan of a short run on the tiny model."""
    from framework.plugins import make_plugin_host
    from framework.run_plan import make_plan

    host = make_plugin_host()

    def plan(method: str = "lora", stage: str = "sft", sets: list[str] | None = None, model: Path | None = None,
             data: Path | None = None, **flags: Any) -> Any:
        out = tmp_path_factory.mktemp(f"{stage}-{method}") / "out"
        settings = ["training.max_steps=4", "training.micro_batch_size=4", "training.logging_steps=1",
                    "training.report_to=[]", "data.val_size=0", "training.warmup=0", "training.lr_scheduler=constant",
                    "lora.dropout=0"] + list(sets or [])
        args = run_args(model=str(model or tiny_model_dir), data=[str(data or data_files[stage])], output=str(out),
                        method=method, stage=stage, cutoff_len=128, set=settings, **flags)
        return make_plan(args, host, need_weights=True)

    return plan


@pytest.fixture(scope="session")
def train(run_plan: Callable[..., Any]) -> Callable[..., Trained]:
    """``train(method=..., stage=..., sets=[...])``: a short run on the tiny model, in-process."""
    from framework.training import run

    def start(**options: Any) -> Trained:
        said: list[str] = []
        return Trained(run(run_plan(**options), said.append), said)

    return start
