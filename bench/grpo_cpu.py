"""GRPO on the CPU: ``framework run --stage grpo`` next to plain TRL ``GRPOTrainer``, same model, data, settings.

The model is the llama3 plugin's demo model (tiny Llama 3 architecture, real 128,256-token
vocabulary). The data are 32 prompts ("Say number i.") with an ``answer`` column; the reward is
the same function on both sides, the share of ASCII letters in a completion (verifiable,
dense, rises within a few dozen steps). Both sides: LoRA r=16 alpha=32 dropout 0 on the seven
linear projections, AdamW (fused), learning rate 5e-3 constant, no warm-up, micro batch 8, 4
completions per prompt, 16 completion tokens, beta 0, loss dapo, seed 42, the Llama 3 chat
prompt, generation stopping at ``<|eot_id|>``; transformers ``generate`` (no vLLM on CPU).

The plain side (``--plain``, a child process) imports nothing from ``framework``: it is the
TRL quick-start with the same settings. Each side runs in its own child process, alternating
(framework, plain, plain, framework, ...); steps/s come from the trainer's ``train_runtime``,
peak RSS from the child's rusage, the reward curve from the trainer's log.

    python bench/grpo_cpu.py [--steps 20] [--rounds 2]     # prints a Markdown table

Overhead = plain steps/s / framework steps/s - 1 (target ≤ 5%).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SETTINGS = {"lora.r": 16, "lora.alpha": 32, "lora.dropout": 0.0, "training.learning_rate": 5e-3,
            "training.warmup": 0, "training.lr_scheduler": "constant", "training.micro_batch_size": 8,
            "training.grad_accum": 1, "training.logging_steps": 1, "training.report_to": "[none]",
            "training.save_steps": 100000, "training.optim": "adamw_torch_fused", "grpo.num_generations": 4,
            "grpo.max_completion_length": 16, "grpo.beta": 0.0, "grpo.loss_type": "dapo"}


def ascii_share(prompts: list[str], completions: list[str], **kwargs: Any) -> list[float]:
    """Share of ASCII letters in each completion (the reward of both sides)."""
    return [sum(ch.isascii() and ch.isalpha() for ch in c) / max(1, len(c)) for c in completions]


def write_data(path: Path) -> None:
    path.write_text("".join(json.dumps({"prompt": f"Say number {i}.", "answer": str(i)}) + "\n" for i in range(32)),
                    encoding="utf-8")


def plain(model_dir: str, data: str, output: str, steps: int) -> None:
    """TRL's GRPOTrainer as its documentation writes it; nothing from framework."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    torch.manual_seed(42)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    header = "<|start_header_id|>{}<|end_header_id|>\n\n"
    dataset = load_dataset("json", data_files=data, split="train").map(
        lambda r: {"prompt": f"{header.format('user')}{r['prompt']}<|eot_id|>{header.format('assistant')}"})
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eot_id|>")]
    args = GRPOConfig(output_dir=output, per_device_train_batch_size=8, gradient_accumulation_steps=1,
                      learning_rate=5e-3, lr_scheduler_type="constant", warmup_steps=0, max_steps=steps,
                      logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, seed=42,
                      optim="adamw_torch_fused", num_generations=4, max_completion_length=16, beta=0.0,
                      loss_type="dapo", weight_decay=0.0, max_grad_norm=1.0)
    trainer = GRPOTrainer(model=model, reward_funcs=[ascii_share], args=args, train_dataset=dataset,
                          processing_class=tokenizer,
                          peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LINEAR,
                                                 task_type="CAUSAL_LM"))
    result = trainer.train()
    rewards = [(e["step"], e["reward"]) for e in trainer.state.log_history if "reward" in e]
    Path(output, "metrics.json").write_text(json.dumps({"train_runtime_s": result.metrics["train_runtime"],
                                                        "steps": result.global_step, "reward_history": rewards}))


def _child(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process."""
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{argv[:3]} failed, see {log}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def run_side(side: str, model: Path, data: Path, work: Path, tag: str, steps: int) -> dict[str, Any]:
    out = work / f"{side}-{tag}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    (work / "ascii_reward.py").write_text(
        "def ascii_share(prompts, completions, **kwargs):\n"
        "    return [sum(ch.isascii() and ch.isalpha() for ch in c) / max(1, len(c)) for c in completions]\n")
    if side == "framework":
        argv = [sys.executable, "-m", "framework", "run", "--model", str(model), "--data", str(data), "--output",
                str(out), "--overwrite", "--stage", "grpo", "--method", "lora", "--reward", "ascii_reward:ascii_share",
                "--cutoff-len", "128", "--set", f"training.max_steps={steps}"]
        for key, value in SETTINGS.items():
            argv += ["--set", f"{key}={value}"]
    else:
        argv = [sys.executable, str(Path(__file__).resolve()), "--plain", str(model), str(data), str(out), str(steps)]
    wall, rss = _child(argv, env, work / f"{side}-{tag}.log")
    metrics = json.loads((out / "metrics.json").read_text())
    runtime = metrics["train_runtime_s"]
    return {"side": side, "tag": tag, "wall_s": wall, "train_runtime_s": runtime,
            "steps_per_s": metrics["steps"] / runtime, "peak_rss_mib": rss,
            "rewards": [round(v, 3) for _, v in metrics["reward_history"]]}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--plain":
        plain(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "plugins" / "llama3"))
    from framework_llama3.checkpoints import provide_demo_model

    import platformdirs

    model = Path(provide_demo_model(Path(platformdirs.user_cache_dir("framework"))).path)
    work = Path(tempfile.mkdtemp(prefix="grpo-bench-"))
    data = work / "prompts.jsonl"
    write_data(data)
    rows = []
    for index in range(args.rounds):
        order = ("framework", "plain") if index % 2 == 0 else ("plain", "framework")
        for side in order:
            rows.append(run_side(side, model, data, work, str(index), args.steps))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| side | round | steps/s | train s | peak RSS MiB | reward first -> last |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['side']} | {r['tag']} | {r['steps_per_s']:.3f} | {r['train_runtime_s']:.1f} | "
              f"{r['peak_rss_mib']:,.0f} | {r['rewards'][0]:.3f} -> {r['rewards'][-1]:.3f} |")
    import statistics

    med = {s: statistics.median(r["steps_per_s"] for r in rows if r["side"] == s) for s in ("framework", "plain")}
    rss = {s: statistics.median(r["peak_rss_mib"] for r in rows if r["side"] == s) for s in ("framework", "plain")}
    print(f"\nmedian steps/s: framework {med['framework']:.3f}, plain {med['plain']:.3f}; overhead "
          f"{(med['plain'] / med['framework'] - 1) * 100:+.1f}%; peak RSS framework {rss['framework']:,.0f} MiB, "
          f"plain {rss['plain']:,.0f} MiB")


if __name__ == "__main__":
    main()
