"""GPU training throughput: the framework's fast path against the plain way, Llama-3-8B shape.

Run it on a CUDA machine (it exits with a message elsewhere). No download: a model with the
Llama 3 8B configuration (32 layers, hidden 4096, MLP 14336, 32 query / 8 KV heads, vocab
128,256, untied head) is built on the meta device, materialised on the GPU with random
weights (``to_empty`` + normal init, RoPE frequencies recomputed), and saved once to
``--workdir`` so both methods load it the way a run does (``framework.methods.load_model``:
bf16 for LoRA, bitsandbytes NF4 with double quantization for QLoRA).

Cases, each for LoRA bf16 and QLoRA (r 16 on all seven projections, alpha 32, no dropout, no
activation checkpointing, AdamW lr 1e-3, the same samples in the same order, both sides under the
bf16 autocast and TF32 a run's Trainer uses):

* framework: micro-batches packed padding-free up to ``--seq`` tokens (``PackingCollator``,
  with the flash-attention varlen keys when flash-attn is used), the fused chunked
  labelled-only loss (``chunked_causal_lm_loss``), ``use_cache=False``.
* plain: what tutorials write: ``--plain-batch`` samples padded to the longest, the model's
  own loss over full logits, ``use_cache`` left at its default.

Samples: lengths drawn from a right-skewed gamma (mean ``--seq``/4, 32..``--seq`` tokens),
tokens Zipf-distributed over the first 8,000 ids (so the loss can fall), the first 15-40% of
each sample masked as prompt. The plain micro-batch defaults to seq / mean length, so both
sides see about the same real tokens per step.

Reported per case: real (unpadded) tokens/s, model TFLOP/s and MFU, peak
``torch.cuda.max_memory_allocated``, first and last loss. Every case asserts a non-zero LoRA
gradient at every step and a falling loss (mean of the last three steps below the first three).

FLOPs (useful work per step, summed over the real samples; n = sample length):
    per token, frozen base: 4 * N   (forward 2N + activation gradients 2N; no weight gradients)
                 + 6 * P_lora       (forward 2P + both backward GEMMs 4P)
    per sample, attention: 6 * L * d_attn * n^2   (causal QK^T and PV: forward 2 L d n^2,
                                                    backward twice that; FA recompute not counted)
N counts every matmul weight of the decoder and the output head (embedding lookup excluded),
charged for every token as the usual convention does, although the framework runs the head
only at labelled positions (that saving shows up as more TFLOP/s). MFU divides by the bf16
matmul rate measured here (best of a few large ``torch.matmul`` shapes) and, for H100/H200
SXM, by the 989 TFLOP/s datasheet peak.

    python bench/gpu.py                         # both methods, both sides
    python bench/gpu.py --methods lora --steps 30 --json gpu.json
    python bench/gpu.py --smoke --device cpu    # 2 tiny layers: checks the script, not speed
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

LLAMA3_8B = dict(vocab_size=128_256, hidden_size=4096, intermediate_size=14_336, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                 rope_theta=500_000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                 bos_token_id=128_000, eos_token_id=128_001)
SMOKE = dict(LLAMA3_8B, hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2)
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DATASHEET_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0}  # dense bf16, SXM
PAD_ID = 128_004  # <|finetune_right_pad_id|>
ZIPF_IDS = 8000


@dataclass
class CaseResult:
    method: str
    side: str
    status: str = "ok"
    steps: int = 0
    real_tokens_per_step: float = 0.0
    padded_tokens_per_step: float = 0.0
    step_s: float = 0.0
    tokens_per_s: float = 0.0
    model_tflops: float = 0.0
    mfu_measured: float = 0.0
    mfu_datasheet: float | None = None
    peak_mem_gib: float = 0.0
    loss_first: float = math.nan
    loss_last: float = math.nan
    losses: list[float] = field(default_factory=list)


# ──────────────────────────────────────────────────────────────────────────────────────────
# Machine
# ──────────────────────────────────────────────────────────────────────────────────────────


def require_cuda(device: str, smoke: bool) -> None:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench/gpu.py needs a CUDA GPU (torch.cuda.is_available() is False here); "
                         "run it on a GPU machine, or `--smoke --device cpu` to check the script only")
    if device == "cpu" and not smoke:
        raise SystemExit("--device cpu is only for --smoke (a check of the script, not a measurement)")


def matmul_tflops(device: str) -> float:
    """The best bf16 ``torch.matmul`` rate over a few large shapes (TFLOP/s): the achievable peak."""
    import torch

    if device != "cuda":
        return math.nan
    best = 0.0
    for m, k, n in ((8192, 8192, 8192), (16384, 4096, 4096), (4096, 4096, 14336), (4096, 14336, 4096)):
        a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
        for _ in range(3):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        reps = 20
        start.record()
        for _ in range(reps):
            torch.matmul(a, b)
        end.record()
        torch.cuda.synchronize()
        seconds = start.elapsed_time(end) / 1000 / reps
        best = max(best, 2 * m * k * n / seconds / 1e12)
        del a, b
    torch.cuda.empty_cache()
    return best


def datasheet_tflops() -> float | None:
    import torch

    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    return next((peak for key, peak in DATASHEET_BF16_TFLOPS.items() if key in name), None)


# ──────────────────────────────────────────────────────────────────────────────────────────
# Model and data
# ──────────────────────────────────────────────────────────────────────────────────────────


def build_random_model(directory: Path, shape: dict[str, Any], device: str) -> Path:
    """Materialise the configuration with random bf16 weights on the device and save it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if (directory / "config.json").is_file():
        return directory
    config = LlamaConfig(**shape)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("meta"):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    model.to_empty(device=device)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            else:
                param.normal_(0.0, 0.02)
        for module in model.modules():  # buffers computed on the meta device hold nothing
            if hasattr(module, "inv_freq") and hasattr(module, "compute_default_rope_parameters"):
                inv_freq, _ = module.compute_default_rope_parameters(config)
                module.inv_freq = inv_freq.to(device)
                module.original_inv_freq = inv_freq.clone().to(device)
    model.config.dtype = torch.bfloat16
    model.save_pretrained(directory, safe_serialization=True)
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return directory


def make_samples(count: int, seq: int, seed: int) -> list[dict[str, list[int]]]:
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(ZIPF_IDS)]
    mean = seq / 4
    samples = []
    for _ in range(count):
        n = int(min(seq, max(32, rng.gammavariate(1.7, mean / 1.7))))
        ids = rng.choices(range(ZIPF_IDS), weights=weights, k=n)
        ids[0] = 128_000
        prompt = max(1, int(n * rng.uniform(0.15, 0.4)))
        samples.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return samples


def packed_groups(samples: list[dict[str, list[int]]], seq: int) -> list[list[dict[str, list[int]]]]:
    """Consecutive samples, as many as fit in ``seq`` tokens (a micro-batch of one packed row)."""
    groups: list[list[dict[str, list[int]]]] = [[]]
    used = 0
    for sample in samples:
        n = len(sample["input_ids"])
        if groups[-1] and used + n > seq:
            groups.append([])
            used = 0
        groups[-1].append(sample)
        used += n
    return groups


def padded_batch(group: list[dict[str, list[int]]]) -> dict[str, Any]:
    """The plain way: right-pad to the longest, attention mask, -100 labels on padding."""
    import torch

    width = max(len(s["input_ids"]) for s in group)
    ids = torch.full((len(group), width), PAD_ID, dtype=torch.long)
    labels = torch.full((len(group), width), -100, dtype=torch.long)
    mask = torch.zeros((len(group), width), dtype=torch.long)
    for row, sample in enumerate(group):
        n = len(sample["input_ids"])
        ids[row, :n] = torch.tensor(sample["input_ids"])
        labels[row, :n] = torch.tensor(sample["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def step_flops(group: list[dict[str, list[int]]], shape: dict[str, Any], n_matmul: int, p_lora: int) -> float:
    """Useful training FLOPs of one micro-batch (see the module docstring)."""
    d_attn = shape["num_attention_heads"] * (shape["hidden_size"] // shape["num_attention_heads"])
    total = 0.0
    for sample in group:
        n = len(sample["input_ids"])
        total += n * (4 * n_matmul + 6 * p_lora) + 6 * shape["num_hidden_layers"] * d_attn * n * n
    return total


def matmul_parameters(model: Any) -> int:
    """Weights of every Linear (decoder projections and the head; 4-bit ones at their logical size)."""
    import torch

    return sum(module.in_features * module.out_features for name, module in model.named_modules()
               if isinstance(module, torch.nn.Linear) and "lora_" not in name)


# ──────────────────────────────────────────────────────────────────────────────────────────
# Cases
# ──────────────────────────────────────────────────────────────────────────────────────────


def _run_config(method: str) -> Any:
    from framework.config import RunConfig

    return RunConfig.model_validate({"method": method, "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
                                     "training": {"gradient_checkpointing": False}})


def load(model_dir: Path, method: str, attn: str, device: str) -> Any:
    """The base model as ``framework run`` loads it (bf16, or NF4 for QLoRA)."""
    from framework.methods import load_model

    dtype = "bf16" if device == "cuda" else "fp32"
    model = load_model(model_dir, _run_config(method), dtype=dtype, attn=attn, rope=None, trust_remote_code=False)
    if device != "cuda" or method != "qlora":  # bitsandbytes places the quantized model itself
        model.to(device)
    return model


def attach_lora(model: Any, method: str) -> Any:
    from framework.hookdata import LoraTargets
    from framework.methods import apply_method

    return apply_method(model, _run_config(method), LoraTargets(target_modules=TARGETS))


def run_case(base: Any, method: str, side: str, groups: list[list[dict[str, list[int]]]], shape: dict[str, Any],
             attn: str, device: str, warmup: int, peaks: tuple[float, float | None]) -> tuple[CaseResult, Any]:
    """Train ``len(groups)`` steps on one side; returns the result and the base model (adapter removed)."""
    import torch

    from framework.data.collate import PackingCollator
    from framework.loss import chunked_causal_lm_loss

    result = CaseResult(method, side)
    n_matmul = matmul_parameters(base)
    base.config.use_cache = False if side == "framework" else True  # the plain way keeps the default
    model = attach_lora(base, method)
    lora_params = [p for n, p in model.named_parameters() if p.requires_grad]
    p_lora = sum(p.numel() for p in lora_params)
    optimizer = torch.optim.AdamW(lora_params, lr=1e-3, weight_decay=0.0)
    collate = PackingCollator(flash_kwargs=attn.startswith("flash"))
    model.train()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    timed_seconds = timed_flops = timed_real = timed_padded = 0.0
    try:
        for step, group in enumerate(groups):
            batch = collate(group) if side == "framework" else padded_batch(group)
            batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            # both sides under the bf16 autocast the Trainer applies (bf16=True): QLoRA's upcast
            # fp32 head and norms would otherwise run their GEMMs in fp32
            with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
                if side == "framework":
                    loss = chunked_causal_lm_loss(model, batch, chunk_size=1024)
                else:
                    loss = model(**batch).loss
            loss.backward()
            grad_norm = torch.stack([p.grad.float().norm() for p in lora_params if p.grad is not None]).norm()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach())  # synchronises
            if device == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            if not float(grad_norm) > 0.0 or not math.isfinite(float(grad_norm)):
                raise AssertionError(f"{method}/{side} step {step}: LoRA gradient norm is {float(grad_norm)}")
            result.losses.append(value)
            if step >= warmup:
                timed_seconds += seconds
                timed_flops += step_flops(group, shape, n_matmul, p_lora)
                timed_real += sum(len(s["input_ids"]) for s in group)
                timed_padded += int(batch["input_ids"].numel())
    except torch.cuda.OutOfMemoryError:
        result.status = "out of memory"
    finally:
        del optimizer
        base = model.unload()  # the LoRA layers out, the base modules back
        del model
        gc.collect()
    timed_steps = len(result.losses) - warmup
    if result.status == "ok" and timed_steps > 0:
        result.steps = timed_steps
        result.step_s = timed_seconds / timed_steps
        result.real_tokens_per_step = timed_real / timed_steps
        result.padded_tokens_per_step = timed_padded / timed_steps
        result.tokens_per_s = timed_real / timed_seconds
        result.model_tflops = timed_flops / timed_seconds / 1e12
        result.mfu_measured = result.model_tflops / peaks[0] if peaks[0] == peaks[0] else math.nan
        result.mfu_datasheet = result.model_tflops / peaks[1] if peaks[1] else None
        result.loss_first, result.loss_last = result.losses[0], result.losses[-1]
        head, tail = result.losses[:3], result.losses[-3:]
        if not sum(tail) / len(tail) < sum(head) / len(head):
            raise AssertionError(f"{method}/{side}: the loss did not fall: {result.losses}")
    if device == "cuda":
        result.peak_mem_gib = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.empty_cache()
    return result, base


def attention_implementation(requested: str, device: str) -> str:
    if requested != "auto":
        return requested
    try:
        import flash_attn  # noqa: F401

        return "flash_attention_2" if device == "cuda" else "sdpa"
    except ImportError:
        return "sdpa"


def table(results: list[CaseResult]) -> list[str]:
    lines = ["| method | side | tokens/s | step s | real / padded tokens per step | model TFLOP/s | MFU (measured peak) "
             "| MFU (datasheet) | peak memory GiB | loss first -> last |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.status != "ok":
            lines.append(f"| {r.method} | {r.side} | {r.status} | | | | | | {r.peak_mem_gib:.1f} | |")
            continue
        sheet = f"{100 * r.mfu_datasheet:.1f}%" if r.mfu_datasheet is not None else "-"
        lines.append(f"| {r.method} | {r.side} | {r.tokens_per_s:,.0f} | {r.step_s:.3f} | {r.real_tokens_per_step:,.0f} / "
                     f"{r.padded_tokens_per_step:,.0f} | {r.model_tflops:.1f} | {100 * r.mfu_measured:.1f}% | {sheet} | "
                     f"{r.peak_mem_gib:.1f} | {r.loss_first:.3f} -> {r.loss_last:.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["lora", "qlora"], choices=["lora", "qlora"])
    parser.add_argument("--seq", type=int, default=2048, help="packed micro-batch length (tokens)")
    parser.add_argument("--steps", type=int, default=20, help="steps per case, warm-up included")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps")
    parser.add_argument("--plain-batch", type=int, default=None, help="plain micro-batch (default: seq / mean length)")
    parser.add_argument("--attn", default="auto", help="auto (flash_attention_2 if installed, else sdpa), sdpa, ...")
    parser.add_argument("--workdir", type=Path, default=None, help="where the random model is saved (16 GB)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--smoke", action="store_true", help="2 tiny layers, 4 steps: checks the script runs")
    args = parser.parse_args()
    require_cuda(args.device, args.smoke)
    if args.smoke:
        args.seq, args.steps, args.warmup = min(args.seq, 256), min(args.steps, 6), 1
        if args.device == "cpu":
            args.methods = [m for m in args.methods if m == "lora"]  # bitsandbytes NF4 training needs CUDA

    import torch

    shape = SMOKE if args.smoke else LLAMA3_8B
    if args.device == "cuda":  # as the Trainer's tf32=True does for a run (framework.hardware.use_tf32)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    attn = attention_implementation(args.attn, args.device)
    started = time.perf_counter()
    peak = matmul_tflops(args.device)
    sheet = datasheet_tflops() if args.device == "cuda" else None
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(f"device {name}; torch {torch.__version__}; measured bf16 matmul peak {peak:.1f} TFLOP/s"
          + (f"; datasheet {sheet:.0f}" if sheet else "") + f"; attention {attn}", flush=True)

    samples = make_samples(4000, args.seq, seed=0)
    groups = packed_groups(samples, args.seq)[: args.steps]
    used = sum(len(g) for g in groups)
    mean_len = sum(len(s["input_ids"]) for s in samples[:used]) / used
    plain_batch = args.plain_batch or max(1, round(args.seq / mean_len))
    plain_groups = [samples[i : i + plain_batch] for i in range(0, used, plain_batch)][: args.steps]
    print(f"{used} samples, mean {mean_len:.0f} tokens; framework: {len(groups)} packed rows of <= {args.seq}; "
          f"plain: micro-batch {plain_batch} padded", flush=True)

    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        model_dir = build_random_model((args.workdir or Path(tmp)) / ("smoke" if args.smoke else "llama3-8b-shape"),
                                       shape, args.device)
        print(f"random model ready in {time.perf_counter() - started:.0f} s", flush=True)
        results: list[CaseResult] = []
        for method in args.methods:
            base = load(model_dir, method, attn, args.device)
            for side in ("framework", "plain"):
                side_groups = groups if side == "framework" else plain_groups
                result, base = run_case(base, method, side, side_groups, shape, attn, args.device, args.warmup, (peak, sheet))
                results.append(result)
                print(f"  {method:<5} {side:<9} {result.status}: {result.tokens_per_s:,.0f} tok/s, "
                      f"{result.model_tflops:.1f} TFLOP/s, peak {result.peak_mem_gib:.1f} GiB, "
                      f"loss {result.loss_first:.3f} -> {result.loss_last:.3f}", flush=True)
            del base
            gc.collect()
            if args.device == "cuda":
                torch.cuda.empty_cache()
    print()
    print("\n".join(table(results)))
    for method in args.methods:
        pair = {r.side: r for r in results if r.method == method and r.status == "ok"}
        if len(pair) == 2:
            f, p = pair["framework"], pair["plain"]
            print(f"{method}: framework {f.tokens_per_s / p.tokens_per_s:.2f}x the plain tokens/s, "
                  f"{f.peak_mem_gib / p.peak_mem_gib:.2f}x its peak memory" if p.peak_mem_gib else "")
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"device": name, "matmul_peak_tflops": peak, "datasheet_tflops": sheet,
                                         "attention": attn, "seq": args.seq, "plain_batch": plain_batch,
                                         "results": [asdict(r) for r in results]}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
