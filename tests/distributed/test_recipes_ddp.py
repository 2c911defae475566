"""DPO and hybrid on two CPU processes (gloo): outputs written once, reloading to the logits of
a one-process run of the same global batch.

Both recipes end in the skeleton's ``finish`` (and hybrid saves its full-phase model through
``save_model_directory``), which gather on every process and write on the main one alone.
Every atomic output save is logged with the rank that made it (a ``sitecustomize`` on the
subprocesses' path wraps ``framework.checkpointing.save_outputs_atomically``), so a recipe
that wrote from every rank would show two writers.

Why the runs compute the same thing: see test_ddp_cpu.py. One process with micro batch 4 and
two with micro batch 2 see the same 4 samples per step; DPO's loss is a mean over pairs and
DDP averages gradients; hybrid draws its sample order up front and feeds it sequentially.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

IDS = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 12]])
COMMON = ["--cutoff-len", "64", "--set", "training.logging_steps=1", "--set", "training.warmup=0",
          "--set", "lora.dropout=0", "--set", "data.val_size=0", "--set", "training.report_to=[]",
          "--set", "training.seed=7", "--set", "training.save_steps=100"]
RECIPES = {
    "dpo": ["--stage", "dpo", "--method", "lora", "--set", "training.max_steps=3", "--set", "training.learning_rate=5e-2",
            "--set", "dpo.beta=0.1"],
    "hybrid": ["--method", "hybrid", "--set", "training.max_steps=4", "--set", "hybrid.switch_fraction=0.5",
               "--set", "training.learning_rate=1e-3"],
}

SITECUSTOMIZE = '''
import os

def _wrap():
    import framework.checkpointing as checkpointing

    original = checkpointing.save_outputs_atomically

    def logged(output_dir, write, **kwargs):
        with open(os.environ["FRAMEWORK_TEST_WRITES"], "a", encoding="utf-8") as log:
            log.write(f"{os.environ.get('RANK', '0')} {output_dir}\\n")
        return original(output_dir, write, **kwargs)

    checkpointing.save_outputs_atomically = logged

if os.environ.get("FRAMEWORK_TEST_WRITES"):
    _wrap()
'''


@pytest.fixture(scope="module")
def runs(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("recipes-ddp")
    sft = base / "sft.jsonl"
    sft.write_text("".join(json.dumps({"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is."})
                           + "\n" for i in range(24)), encoding="utf-8")
    pairs = base / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": f"Say number {i}.", "chosen": f"Number {i} it is.",
                                         "rejected": f"No, I will not say {i}."}) + "\n" for i in range(24)),
                     encoding="utf-8")
    hook = base / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PET_LOG_DIR=str(base / "logs"),
               PET_REDIRECTS="3", PYTHONPATH=os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])))
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(name, None)
    out: dict[str, Path] = {}
    for recipe, flags in RECIPES.items():
        data = pairs if recipe == "dpo" else sft
        args = ["run", "--model", str(tiny_model_dir), "--data", str(data), *COMMON, *flags]
        commands = {
            f"{recipe}-two": [*args, "--output", str(base / f"{recipe}-two"), "--nproc", "2",
                              "--set", "training.micro_batch_size=2"],
            f"{recipe}-one": [*args, "--output", str(base / f"{recipe}-one"), "--set", "training.micro_batch_size=4"],
        }
        processes = {name: subprocess.Popen([sys.executable, "-m", "framework", *cmd], cwd=base, text=True,
                                            env=dict(env, FRAMEWORK_TEST_WRITES=str(base / f"{name}.writes")),
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                     for name, cmd in commands.items()}
        outputs = {name: p.communicate(timeout=500)[0] for name, p in processes.items()}
        for name, process in processes.items():
            assert process.returncode == 0, f"{name}:\n{outputs[name][-4000:]}"
            out[name] = base / name
            out[f"{name}.writes"] = base / f"{name}.writes"
    return out


def _writes(runs: dict[str, Path], name: str) -> list[tuple[str, str]]:
    return [tuple(line.split(" ", 1)) for line in runs[f"{name}.writes"].read_text().splitlines()]  # type: ignore[misc]


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_two_processes_write_the_outputs_once(runs: dict[str, Path], recipe: str) -> None:
    out = runs[f"{recipe}-two"]
    writes = _writes(runs, f"{recipe}-two")
    expected = {str(out)} | ({str(out / "base")} if recipe == "hybrid" else set())
    assert sorted(d for _, d in writes) == sorted(expected), writes  # each output once
    assert {rank for rank, _ in writes} == {"0"}, "only the main process writes"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["strategy"] == "ddp"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "no staging left behind"


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_two_processes_reload_to_the_logits_of_one(runs: dict[str, Path], recipe: str, tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    from framework.inference import load_run

    one, two = load_run(runs[f"{recipe}-one"]).model.eval(), load_run(runs[f"{recipe}-two"]).model.eval()
    untrained = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        logits_one, logits_two = one(input_ids=IDS).logits, two(input_ids=IDS).logits
        moved = (untrained(input_ids=IDS).logits - logits_one).abs().max()
    # all-reduce sums in another order than one process does: fp32 rounding, amplified by Adam
    assert torch.allclose(logits_one, logits_two, atol=2e-3, rtol=1e-3), (logits_one - logits_two).abs().max()
    assert moved > 1e-2, "training moved the logits: the comparison sees the gradients"
    losses = {n: [v for _, v in json.loads((runs[f"{recipe}-{n}"] / "metrics.json").read_text())["train_history"]]
              for n in ("one", "two")}
    assert len(losses["one"]) == len(losses["two"]) > 1
    assert losses["two"] == pytest.approx(losses["one"], rel=1e-3, abs=1e-4)
