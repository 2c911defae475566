"""bf16 on the CPU: where a LoRA step's time goes, and what the frozen-head loss and bf16 GEMMs change.

Same model and micro-batches as bench/e2e_cpu.py (the llama3 demo model, the real 128,256-token
vocabulary, LoRA r 16 on every linear layer, dropout off, batches of 4 in seed-42 order, packed,
the fused chunked loss). Four ways of one forward + backward, rotated batch by batch so all of
them share every moment's load on a shared machine:

* logits: the chunked loss as it was: [261 x 128,256] fp32 logits per chunk, log-softmax, the
  gradient's second GEMM (``framework.loss.attention_applies`` patched off);
* attention: today's exact default for a frozen head (``training.cpu_bf16_head=off``): the loss
  and its gradient from torch's CPU flash-attention kernel, vocabulary tile by tile, no logits;
* attention-bf16: the same with bf16 GEMM operands and the head's bf16 copy made once
  (``training.cpu_bf16_head=auto`` on a CPU with AMX/AVX512-BF16): fp32 accumulation and loss;
* autocast: the whole step under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (the Trainer's
  ``bf16=True``): the decoder's matmuls in bf16 too.

Prints the CPU's bf16 flags, one profiled training step per way (forward, backward and a fused
AdamW step) split into head GEMMs / head elementwise (softmax, CE, copies) / head attention kernel
/ LoRA GEMMs / other decoder ops / optimizer / Python and waiting (the step's wall time minus the
ops' self time), then the wall/CPU seconds of every way and its largest loss difference per batch.

    python bench/cpu_bf16.py                              # 16 micro-batches, torch's thread count
    python bench/cpu_bf16.py --batches 24 --threads 1 --no-profile
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

from e2e_cpu import CUTOFF, TRAIN_SAMPLES, generate, lora_model, micro_batches  # noqa: E402
from plain_sft import tokenize  # noqa: E402


def bf16_flags() -> list[str]:
    """The CPU's bf16-related feature flags (AMX tiles, AVX-512 bf16), for the report's header."""
    from framework.hardware import cpu_flags

    return sorted(f for f in cpu_flags() if f.startswith("amx") or f in ("avx512_bf16", "avx512f"))


VOCAB = "128256"


def category(name: str, shapes: object) -> str:
    """Which part of a step an op's self time belongs to (from its name and input shapes)."""
    text = str(shapes)
    if VOCAB in text:
        if "flash_attention" in name:
            return "head attention kernel"
        if name in ("aten::mm", "aten::addmm"):
            return "head GEMMs"
        return "head elementwise (softmax, CE, copies)"
    if name in ("aten::mm", "aten::addmm", "aten::bmm") and ("16]" in text or "[16," in text):
        return "LoRA GEMMs"  # one operand has the rank (16) as a dimension
    return "other decoder ops"


def split(prof: object, wall_us: float) -> dict[str, float]:
    """Seconds of one profiled step per ``category``, the optimizer's own, and Python/waiting."""
    parts: dict[str, float] = {}
    optimizer_us = 0.0
    for event in prof.events():  # type: ignore[attr-defined]
        if event.name == "OPTIMIZER":
            optimizer_us += event.cpu_time_total
            continue
        if not event.name.startswith("aten::"):
            continue
        parent, inside = event.cpu_parent, False
        while parent is not None and not inside:
            inside, parent = parent.name == "OPTIMIZER", parent.cpu_parent
        if not inside:
            key = category(event.name, event.input_shapes)
            parts[key] = parts.get(key, 0.0) + event.self_cpu_time_total
    parts["optimizer (fused AdamW)"] = optimizer_us
    parts["Python, dispatch and waiting"] = max(0.0, wall_us - sum(parts.values()))
    return {key: value / 1e6 for key, value in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()

    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    import framework.loss as loss_module
    from framework.data.collate import PackingCollator
    from framework.loss import chunked_causal_lm_loss
    from framework_llama3.checkpoints import provide_demo_model
    from framework_llama3.tokenizer import build_llama3_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU flags: {' '.join(bf16_flags()) or 'none'}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(provide_demo_model(Path(tmp) / "models").path)
        tokenizer = build_llama3_tokenizer("3")
        samples = [tokenize(r, tokenizer, CUTOFF) for r in generate(TRAIN_SAMPLES, seed=0)]
        model = lora_model(model_dir)
    batches = [PackingCollator()(group) for group in micro_batches(samples)[: args.batches]]
    attention_applies = loss_module.attention_applies
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=0.0, fused=True)  # lr 0: every way sees the same weights

    def step(batch: dict, way: str, with_optimizer: bool = False) -> float:
        loss_module.attention_applies = (lambda *_: False) if way == "logits" else attention_applies
        context = torch.autocast("cpu", dtype=torch.bfloat16) if way == "autocast" else nullcontext()
        with context:
            loss = chunked_causal_lm_loss(model, batch,
                                          frozen_head_dtype=torch.bfloat16 if way == "attention-bf16" else None)
        loss.backward()
        if with_optimizer:
            with record_function("OPTIMIZER"):
                optimizer.step()
        model.zero_grad(set_to_none=True)
        return float(loss.detach())

    ways = ("logits", "attention", "attention-bf16", "autocast")
    for way in ways:  # warm-up: buffers, kernels, the head's bf16 copy
        step(batches[0], way, with_optimizer=True)
    if not args.no_profile:
        table: dict[str, dict[str, float]] = {}
        for way in ways:
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                wall = time.perf_counter()
                step(batches[1], way, with_optimizer=True)
                wall_us = (time.perf_counter() - wall) * 1e6
            table[way] = split(prof, wall_us)
            table[way]["wall (profiled step)"] = wall_us / 1e6
        print(f"\n### torch.profiler, one training step (batch 1, {int(batches[1]['input_ids'].numel())} tokens), s\n")
        keys = sorted({k for parts in table.values() for k in parts}, key=lambda k: (k.startswith("wall"), k))
        print("| part | " + " | ".join(ways) + " |")
        print("|---" * (len(ways) + 1) + "|")
        for key in keys:
            print(f"| {key} | " + " | ".join(f"{table[w].get(key, 0.0):.3f}" for w in ways) + " |")
    wall_s = dict.fromkeys(ways, 0.0)
    cpu_s = dict.fromkeys(ways, 0.0)
    apart = dict.fromkeys(ways, 0.0)  # largest relative loss difference from the logits path
    for k, batch in enumerate(batches):
        losses = {}
        for way in ways[k % len(ways):] + ways[: k % len(ways)]:  # rotate who goes first
            wall, cpu = time.perf_counter(), time.process_time()
            losses[way] = step(batch, way)
            wall_s[way] += time.perf_counter() - wall
            cpu_s[way] += time.process_time() - cpu
        for way in ways:
            apart[way] = max(apart[way], abs(losses[way] - losses["logits"]) / losses["logits"])
    loss_module.attention_applies = attention_applies
    tokens = sum(int(b["input_ids"].numel()) for b in batches)
    print("\n| way | wall s | CPU s | tokens/s (fwd+bwd) | speed-up vs logits (wall / CPU) | largest loss difference |")
    print("|---|---|---|---|---|---|")
    for way in ways:
        print(f"| {way} | {wall_s[way]:.2f} | {cpu_s[way]:.2f} | {tokens / wall_s[way]:,.0f} | "
              f"{wall_s['logits'] / wall_s[way]:.2f}x / {cpu_s['logits'] / cpu_s[way]:.2f}x | "
              f"{100 * apart[way]:.5f}% |")
    print(f"\n{len(batches)} micro-batches, {tokens:,} tokens, ways rotated batch by batch; load average after "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
