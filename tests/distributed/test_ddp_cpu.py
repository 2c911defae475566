"""`framework run --nproc 2` on CPU (gloo): the same training as one process, written once.

Why the two runs are the same computation: one process with micro batch 4 and two processes
with micro batch 2 each see the same 4 samples per optimizer step. transformers samples with a
seeded sampler and accelerate hands consecutive micro batches of that order to the ranks, so
rank 0 gets samples 0-1 and rank 1 samples 2-3 of the one-process batch. Packing puts each
rank's samples into one row with restarted positions, so a sample's loss does not depend on its
row mates. The loss is the sum over labelled tokens divided by the labelled tokens of the whole
global batch (transformers counts them across ranks), and DDP averages the gradients, so every
step computes the same gradient in both runs up to float summation order. LoRA dropout is off
(its masks would differ) and the learning rate is high, so a wrong gradient would show at once.
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

STEPS = 3
COMMON = ["--cutoff-len", "64", "--set", f"training.max_steps={STEPS}", "--set", "training.logging_steps=1",
          "--set", "training.learning_rate=5e-2", "--set", "training.warmup=0", "--set", "lora.dropout=0",
          "--set", "data.val_size=0", "--set", "training.report_to=[]", "--set", "training.seed=7",
          # exact fp32 on both sides: the one-process run would otherwise take the CPU's bf16 head loss,
          # which DDP (no chunked loss) does not, and the comparison is about DDP, not about bf16
          "--set", "training.cpu_bf16_head=off"]


@pytest.fixture(scope="module")
def runs(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A two-process run and a one-process run of the same global batch, started together."""
    base = tmp_path_factory.mktemp("ddp")
    data = base / "train.jsonl"
    rows = [{"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is."} for i in range(24)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["run", "--model", str(tiny_model_dir), "--data", str(data), *COMMON]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               PET_LOG_DIR=str(base / "logs"), PET_REDIRECTS="3")  # torchrun: each rank's output to a file
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(name, None)
    commands = {
        "two": [*args, "--output", str(base / "two"), "--nproc", "2", "--set", "training.micro_batch_size=2"],
        "one": [*args, "--output", str(base / "one"), "--set", "training.micro_batch_size=4"],
    }
    processes = {name: subprocess.Popen([sys.executable, "-m", "framework", *cmd], env=env, cwd=base,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for name, cmd in commands.items()}
    outputs = {name: p.communicate(timeout=400)[0] for name, p in processes.items()}
    for name, process in processes.items():
        assert process.returncode == 0, f"{name}:\n{outputs[name][-4000:]}"
    return {"one": base / "one", "two": base / "two", "logs": base / "logs", "launcher": outputs["two"]}


def _metrics(directory: Path) -> dict:
    return json.loads((directory / "metrics.json").read_text())


def test_two_processes_train_like_one_with_the_same_global_batch(runs: dict) -> None:
    one, two = _metrics(runs["one"]), _metrics(runs["two"])
    assert two["world_size"] == 2 and two["strategy"] == "ddp" and one["world_size"] == 1
    assert [s for s, _ in two["train_history"]] == list(range(1, STEPS + 1))
    losses_one = [loss for _, loss in one["train_history"]]
    losses_two = [loss for _, loss in two["train_history"]]
    assert losses_two == pytest.approx(losses_one, rel=1e-4, abs=1e-5)
    assert abs(losses_one[-1] - losses_one[0]) > 1e-3, "the weights moved: the comparison sees the gradients"


def test_the_adapters_end_up_the_same(runs: dict) -> None:
    from safetensors.torch import load_file

    one = load_file(runs["one"] / "adapter_model.safetensors")
    two = load_file(runs["two"] / "adapter_model.safetensors")
    assert one.keys() == two.keys() and one
    for key in one:
        # all-reduce sums in another order than one process does: fp32 rounding, amplified by Adam
        assert torch.allclose(one[key], two[key], atol=1e-4, rtol=1e-3), key
    assert any(t.abs().sum() > 0 for k, t in two.items() if "lora_B" in k), "lora_B starts at zero: it trained"


def test_outputs_are_written_once_and_load(runs: dict, tiny_model_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = runs["two"]
    names = {p.name for p in out.iterdir()}
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "training_config.json",
                 "metrics.json", "loss.png", "generation_config.json", f"checkpoint-{STEPS}"):
        assert name in names, name
    assert not [n for n in names if n.startswith(".")], "no staging left behind"
    record = json.loads((out / "training_config.json").read_text())
    assert record["distributed"]["strategy"] == "ddp" and record["distributed"]["world_size"] == 2
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, out).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[5, 17, 42, 99]])).logits
    assert torch.isfinite(logits).all()


def test_only_the_first_process_speaks(runs: dict) -> None:
    logs = {int(p.parent.name): p.read_text() for p in runs["logs"].rglob("stdout.log")}
    assert set(logs) == {0, 1}
    assert "── result" in logs[0] and "plugin generic" in logs[0] and "step 3/3" in logs[0]
    for line in ("── result", "plugin ", "model ", "step 1/", "output "):
        assert line not in logs[1], line
    assert "launching 2 process(es) per machine with torchrun, strategy ddp" in runs["launcher"]
