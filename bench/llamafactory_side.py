"""LLaMA-Factory as a contender in bench/e2e_cpu.py, installed and run the way a new user would.

Its own virtual environment is created by the bench under the cache directory
(``~/.cache/framework-bench/llamafactory-VERSION/venv``, or under ``$FRAMEWORK_BENCH_CACHE``), with ``pip install llamafactory==VERSION``
and the torch build pinned by this repository's constraints.txt (the CPU build on a machine
without CUDA, as a CPU user installs it). Optional heavy imports that do not load on a
CPU-only machine (a torchvision or torchaudio build made for another torch) are uninstalled,
which is what a user does when ``llamafactory-cli`` fails on them. Nothing of LLaMA-Factory is
kept in this repository.

The run's YAML is generated from the same settings as the other sides (alpaca data with a
``dataset_info.json``, template llama3, cutoff 512, LoRA r 16 / alpha 32 / dropout 0.05 on
every linear layer, micro-batch 4, one epoch, AdamW lr 1e-4, cosine, 10% warm-up, weight decay
0.01, seed 42, fp32). Before timing, LLaMA-Factory writes its tokenized dataset once
(``tokenized_path``), so the bench can check that it trains on the same token ids and labels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

VERSION = "0.9.5"
REPO = Path(__file__).resolve().parent.parent


def home(version: str = VERSION) -> Path:
    """Where the contender's environment lives (kept between bench runs)."""
    base = Path(os.environ.get("FRAMEWORK_BENCH_CACHE", Path.home() / ".cache" / "framework-bench"))
    return base / f"llamafactory-{version}"


def ensure_venv(version: str = VERSION) -> Path:
    """The environment's python, created and installed on first use."""
    root = home(version)
    python = root / "venv" / "bin" / "python"
    marker = root / "venv" / ".installed"
    if marker.exists():
        return python
    root.mkdir(parents=True, exist_ok=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    print(f"installing llamafactory=={version} into {root / 'venv'} (once)", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints.txt"),
                    f"llamafactory=={version}"], check=True)
    fix_optional_imports(python)
    # what ``llamafactory-cli train`` imports, so a broken optional import shows here, not mid-bench
    subprocess.run([str(python), "-c", "import llamafactory.train.tuner"], check=True, capture_output=True)
    marker.write_text(version)
    return python


def _loads(python: Path, module: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, check=False).returncode == 0


def _installed(python: Path, name: str) -> bool:
    return subprocess.run([str(python), "-m", "pip", "show", "-q", name], capture_output=True, check=False).returncode == 0


def fix_optional_imports(python: Path) -> None:
    """What a CPU user does when torchvision/torchaudio wheels were built for another torch.

    pip resolves them to the newest release, built against another torch than the CPU build
    pinned here; their compiled extensions then fail to load and so does every import of them.
    torchvision is optional for transformers and for LLaMA-Factory's text training: uninstalled.
    torchaudio is imported unconditionally by ``llamafactory/data/mm_plugin.py``, but its compiled
    part serves only audio: its compiled libraries are removed, and torchaudio then imports as
    Python (it looks for the library file and runs without it).
    """
    if _installed(python, "torchvision") and not _loads(python, "torchvision"):
        print("  torchvision does not load with this torch (built for another): uninstalled", flush=True)
        subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "torchvision"], check=True)
    if _installed(python, "torchaudio") and not _loads(python, "torchaudio"):
        where = "import importlib.util as u; print(u.find_spec('torchaudio').submodule_search_locations[0])"
        site = subprocess.run([str(python), "-c", where], capture_output=True, text=True, check=True).stdout.strip()
        removed = sorted((Path(site) / "lib").glob("*.so"))
        for library in removed:
            library.unlink()
        print(f"  torchaudio's compiled libraries do not load with this torch: removed {len(removed)} "
              f"({', '.join(p.name for p in removed)}); torchaudio loads: {_loads(python, 'torchaudio')}", flush=True)


def versions(python: Path) -> dict[str, str]:
    """Versions of the contender's main libraries, for the report."""
    code = ("import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in "
            "('llamafactory', 'torch', 'transformers', 'peft', 'datasets')}))")
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


def write_config(work: Path, tag: str, model: Path, train_file: Path, *, cutoff: int, seed: int,
                 tokenized: Path | None = None, max_steps: int = -1) -> tuple[Path, Path]:
    """The YAML and its dataset folder; returns (config path, output dir).

    ``tokenized``: also save the tokenized dataset there (LLaMA-Factory 0.9.5 then goes on to
    train: the caller sets ``max_steps``). Real (non-padding) tokens are counted by the Trainer.
    """
    data_dir = work / f"llamafactory-data-{tag}"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "train.jsonl").write_bytes(train_file.read_bytes())
    (data_dir / "dataset_info.json").write_text(json.dumps({"bench_train": {"file_name": "train.jsonl"}}))
    out = work / f"llamafactory-{tag}"
    settings: dict[str, Any] = {
        "model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.05, "lora_target": "all",
        "dataset": "bench_train", "dataset_dir": str(data_dir), "template": "llama3", "cutoff_len": cutoff,
        "overwrite_cache": True, "output_dir": str(out), "overwrite_output_dir": True, "logging_steps": 10,
        "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 1.0e-4,
        "num_train_epochs": 1.0, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "weight_decay": 0.01,
        "max_grad_norm": 1.0, "seed": seed, "bf16": False, "fp16": False, "report_to": "none",
        "include_num_input_tokens_seen": "non_padding", "max_steps": max_steps,
    }
    if tokenized is not None:
        settings["tokenized_path"] = str(tokenized)
    config = work / f"llamafactory-{tag}.yaml"
    config.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()), encoding="utf-8")
    return config, out


def command(python: Path, config: Path) -> list[str]:
    return [str(python.parent / "llamafactory-cli"), "train", str(config)]


def tokenized_rows(path: Path) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(input_ids, labels) of the training split LLaMA-Factory saved with ``tokenized_path``."""
    import pyarrow as pa

    files = sorted(path.rglob("*.arrow"))
    if not files:
        raise SystemExit(f"LLaMA-Factory wrote no tokenized dataset under {path}")
    rows: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    for file in files:
        with pa.memory_map(str(file)) as source:
            table = pa.ipc.open_stream(source).read_all()
        rows += list(zip((tuple(x) for x in table.column("input_ids").to_pylist()),
                         (tuple(x) for x in table.column("labels").to_pylist())))
    return rows


def metrics(out: Path) -> dict[str, Any]:
    """The Trainer's own numbers from the output folder: runtime, steps, real tokens trained on."""
    results = json.loads((out / "train_results.json").read_text())
    state = json.loads((out / "trainer_state.json").read_text()) if (out / "trainer_state.json").exists() else {}
    tokens = results.get("num_input_tokens_seen", state.get("num_input_tokens_seen"))
    return {"train_runtime_s": float(results["train_runtime"]), "steps": int(state.get("global_step", 0)),
            "tokens": int(tokens) if tokens is not None else None}
