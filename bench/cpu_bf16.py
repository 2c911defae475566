"""bf16 on the CPU: where a LoRA step's time goes, and what bf16 compute (AMX/avx512_bf16) changes.

Same model and micro-batches as bench/e2e_cpu.py (the llama3 demo model, the real 128,256-token
vocabulary, LoRA r 16 on every linear layer, dropout off, batches of 4 in seed-42 order, packed,
the fused chunked loss). Two ways of one forward + backward, alternating batch by batch so both
share every moment's load on a shared machine:

* fp32: what a CPU run does today;
* bf16-head: only the head/loss-chunk matmuls in bf16 (``chunked_causal_lm_loss(head_dtype=bf16)``),
  the decoder in fp32; the head is 95% of this model's FLOPs;
* bf16: the whole step under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (what the Trainer's
  ``bf16=True`` applies): matmuls of the frozen base and of the head/loss chunks in bf16 with fp32
  accumulation, LoRA weights, their gradients and the optimiser state stay fp32, softmax and loss
  in fp32 (framework.loss.LinearCrossEntropy).

Prints the CPU's bf16 flags, a ``torch.profiler`` table of one fp32 and one bf16 step (ops by
self CPU time), the wall/CPU seconds of both ways and the largest loss difference per batch.

    python bench/cpu_bf16.py                   # 20 micro-batches
    python bench/cpu_bf16.py --batches 40 --no-profile
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from e2e_cpu import CUTOFF, SEED, TRAIN_SAMPLES, generate  # noqa: E402
from plain_sft import tokenize  # noqa: E402


def cpu_flags() -> list[str]:
    """The CPU's bf16-related feature flags (AMX tiles, AVX-512 bf16)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if f.startswith("amx") or f in ("avx512_bf16", "avx512f"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoModelForCausalLM

    from framework.data.collate import PackingCollator
    from framework.loss import chunked_causal_lm_loss
    from framework_llama3.checkpoints import provide_demo_model
    from framework_llama3.tokenizer import build_llama3_tokenizer

    print(f"CPU flags: {' '.join(cpu_flags()) or 'none'}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(provide_demo_model(Path(tmp) / "models").path)
        tokenizer = build_llama3_tokenizer("3")
        samples = [tokenize(r, tokenizer, CUTOFF) for r in generate(TRAIN_SAMPLES, seed=0)]
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj"]))
    model.train()
    generator = torch.Generator()
    generator.manual_seed(SEED)
    order = torch.randperm(len(samples), generator=generator).tolist()
    batches = [PackingCollator()([samples[i] for i in order[k : k + 4]]) for k in range(0, len(order), 4)]
    batches = batches[: args.batches]

    def step(batch: dict, way: str) -> float:
        context = torch.autocast("cpu", dtype=torch.bfloat16) if way == "bf16" else nullcontext()
        with context:
            loss = chunked_causal_lm_loss(model, batch, head_dtype=torch.bfloat16 if way == "bf16-head" else None)
        loss.backward()
        model.zero_grad(set_to_none=True)
        return float(loss.detach())

    ways = ("fp32", "bf16-head", "bf16")
    for way in ways:  # warm-up: buffers, kernels
        step(batches[0], way)
    if not args.no_profile:
        for way in ways:
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                step(batches[1], way)
            print(f"\n### torch.profiler, one step, {way} (top ops by self CPU time)\n")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    wall_s = dict.fromkeys(ways, 0.0)
    cpu_s = dict.fromkeys(ways, 0.0)
    apart = dict.fromkeys(ways, 0.0)  # largest relative loss difference from fp32
    for k, batch in enumerate(batches):
        losses = {}
        for way in ways[k % 3:] + ways[: k % 3]:  # rotate who goes first
            wall, cpu = time.perf_counter(), time.process_time()
            losses[way] = step(batch, way)
            wall_s[way] += time.perf_counter() - wall
            cpu_s[way] += time.process_time() - cpu
        for way in ways:
            apart[way] = max(apart[way], abs(losses[way] - losses["fp32"]) / losses["fp32"])
    tokens = sum(int(b["input_ids"].numel()) for b in batches)
    print("\n| way | wall s | CPU s | tokens/s (fwd+bwd) | speed-up vs fp32 (wall / CPU) | largest loss difference |")
    print("|---|---|---|---|---|---|")
    for way in ways:
        print(f"| {way} | {wall_s[way]:.2f} | {cpu_s[way]:.2f} | {tokens / wall_s[way]:,.0f} | "
              f"{wall_s['fp32'] / wall_s[way]:.2f}x / {cpu_s['fp32'] / cpu_s[way]:.2f}x | {100 * apart[way]:.4f}% |")
    print(f"\n{len(batches)} micro-batches, {tokens:,} tokens, ways rotated batch by batch; load average after "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
