"""The first command to run on a lent GPU: every method and stage for a few steps, then bench/gpu.py.

No GPU path of the project had run before this script existed; each case below is one
``framework run`` on the demo model (the tiny Llama-3-architecture model with the real
128,256-token vocabulary), packing on, ``--nproc 1``, a few optimizer steps, once with
flash-attention and once with SDPA. Each case prints one line, ``ok`` with its time and loss
or ``FAIL`` with the run's own one-line error, so a first GPU turns every remaining bug into a
visible line. Then ``bench/gpu.py`` measures the 8B-shape LoRA and QLoRA throughput (its table
is printed as it comes). The exit code is 1 when anything failed, else 0.

On a machine without CUDA it says so in one line and exits 0 without running anything.

    make gpu-smoke                                  # or: python bench/gpu_smoke.py
    python bench/gpu_smoke.py --list                # the cases, without running them
    python bench/gpu_smoke.py --only lora dpo --kernels sdpa --no-bench

The case list is data: a method is one entry of ``METHOD_CASES``, a stage one entry of
``STAGE_CASES``. A stage case runs only where the installed framework has that stage
(``RunConfig.stage``), so GRPO joins by itself once ``--stage grpo`` exists.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import typing
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: Attention kernels every case runs with, in this order (flash-attention first: the GPU-only path).
KERNELS = ("flash_attention_2", "sdpa")
#: Optimizer steps per case: enough for a switch (hybrid) and a logged loss, short enough for minutes.
STEPS = 4
#: name -> extra ``framework run`` arguments (SFT on the bundled example data). "demo" is the
#: no-argument run: its answers before and after training exercise generate on the GPU.
METHOD_CASES: dict[str, tuple[str, ...]] = {
    "demo": (),
    "lora": ("--method", "lora"),
    "qlora": ("--method", "qlora"),
    "dora": ("--method", "dora"),
    "full": ("--method", "full"),
    "hybrid": ("--method", "hybrid"),
}
#: stage -> (data kind, extra arguments). A stage the installed framework lacks is left out.
STAGE_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "pt": ("text", ("--stage", "pt", "--method", "lora")),
    "dpo": ("preference", ("--stage", "dpo", "--method", "lora")),
    "grpo": ("prompts", ("--stage", "grpo", "--method", "lora", "--reward", "exact_match", "--reward", "length:0.1")),
}
#: Settings of every case (the demo keeps its own learning rate and epochs; max_steps caps them).
COMMON_SETTINGS = (f"training.max_steps={STEPS}", "training.logging_steps=1", "training.report_to=[]",
                   "data.val_size=0")


@dataclass(frozen=True)
class Case:
    """One ``framework run``: ``argv`` without the output directory (shared with ``framework plan``)."""

    name: str
    kernel: str
    argv: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.name}/{self.kernel}"


def available_stages() -> tuple[str, ...]:
    """The stages ``RunConfig.stage`` accepts in this installation."""
    from framework.config import RunConfig

    return typing.get_args(RunConfig.model_fields["stage"].annotation)


def cases(model: str | None, data: dict[str, Path], *, stages: tuple[str, ...] | None = None,
          kernels: tuple[str, ...] = KERNELS) -> list[Case]:
    """Every case, flash-attention ones first. ``model`` None: the demo model for all of them."""
    stages = available_stages() if stages is None else stages
    chosen: list[tuple[str, tuple[str, ...]]] = []
    for name, extra in METHOD_CASES.items():
        model_args = () if name == "demo" or model is None else ("--model", model)
        data_args = () if name == "demo" else ("--data", str(data["sft"]))
        chosen.append((name, model_args + data_args + extra))
    for stage, (kind, extra) in STAGE_CASES.items():
        if stage in stages:
            model_args = () if model is None else ("--model", model)
            chosen.append((stage, model_args + ("--data", str(data[kind])) + extra))
    out = []
    for kernel in kernels:
        for name, argv in chosen:
            settings = [*COMMON_SETTINGS, f"model.attn_implementation={kernel}"]
            out.append(Case(name, kernel, (*argv, "--nproc", "1", *(a for s in settings for a in ("--set", s)))))
    return out


def write_data(directory: Path) -> dict[str, Path]:
    """The data of each kind: the bundled SFT example, and small preference, text and prompt files."""
    from framework.run_plan import EXAMPLE_DATA

    directory.mkdir(parents=True, exist_ok=True)
    rows = {
        "preference": [{"prompt": f"Say number {i}.", "chosen": f"Number {i} it is.",
                        "rejected": f"No, I will not say {i}."} for i in range(32)],
        "text": [{"text": f"Document {i}. The number {i} follows {i - 1} and comes before {i + 1}."} for i in range(64)],
        "prompts": [{"prompt": f"Say number {i}.", "answer": f"Number {i} it is."} for i in range(32)],
    }
    files = {"sft": EXAMPLE_DATA}
    for kind, records in rows.items():
        path = directory / f"{kind}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        files[kind] = path
    return files


def error_line(output: str) -> str:
    """The run's one-line error (``error: ...`` / ``internal error: ...``), else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("error:", "internal error:")):
            return line
    return lines[-1] if lines else "no output"


def run_case(case: Case, output: Path, timeout: float) -> tuple[bool, str]:
    """Run one case in its own process; (ok, the line to print after the label)."""
    command = [sys.executable, "-m", "framework", "run", *case.argv, "--output", str(output), "--overwrite"]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return False, f"{seconds:.0f} s, exit {done.returncode}: {error_line(done.stderr + done.stdout)}"
    metrics_file = output / "metrics.json"
    if not metrics_file.is_file():
        return False, f"{seconds:.0f} s: exit 0 but no metrics.json in {output}"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    first, last = metrics.get("train_loss_first"), metrics.get("train_loss_last")
    speed = metrics.get("tokens_per_second")
    loss = f"loss {first:.3f} -> {last:.3f}" if first is not None and last is not None else "no loss logged"
    return True, f"{seconds:.0f} s, {metrics.get('steps')} steps, {loss}" + (f", {speed:,.0f} tok/s" if speed else "")


def flash_attn_importable() -> bool:
    from framework.hardware import flash_attn_version

    return flash_attn_version() is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the cases and exit (any machine)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these cases (e.g. lora dpo)")
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=list(KERNELS))
    parser.add_argument("--model", default=None, help="model directory (default: the demo model)")
    parser.add_argument("--case-timeout", type=float, default=600.0, help="seconds per case")
    parser.add_argument("--no-bench", action="store_true", help="skip bench/gpu.py")
    parser.add_argument("--bench-args", default="--steps 12 --warmup 3", help="arguments for bench/gpu.py")
    parser.add_argument("--workdir", type=Path, default=None, help="keep outputs here (default: a temporary dir)")
    parser.add_argument("--json", type=Path, default=REPO / "runs" / "gpu-smoke" / "gpu.json",
                        help="where bench/gpu.py writes its numbers (kept after the run)")
    args = parser.parse_args(argv)

    if args.list:
        for case in cases(args.model, {k: Path(k) for k in ("sft", "preference", "text", "prompts")},
                          kernels=tuple(args.kernels)):
            print(f"{case.label:<28} framework run {' '.join(case.argv)}")
        return 0
    import torch

    if not torch.cuda.is_available():
        print("gpu-smoke: no CUDA GPU on this machine (torch.cuda.is_available() is False); nothing was run")
        return 0

    failures = 0
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-") as tmp:
        root = args.workdir or Path(tmp)
        data = write_data(root / "data")
        print(f"gpu-smoke on {torch.cuda.get_device_name(0)}; torch {torch.__version__}; stages "
              f"{', '.join(available_stages())}; outputs in {root}", flush=True)
        for case in cases(args.model, data, kernels=tuple(args.kernels)):
            if args.only and case.name not in args.only:
                continue
            if case.kernel.startswith("flash") and not flash_attn_importable():
                print(f"skip  {case.label:<28} flash-attn is not importable here (pip install flash-attn)", flush=True)
                continue
            ok, line = run_case(case, root / "runs" / case.label.replace("/", "-"), args.case_timeout)
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'}  {case.label:<28} {line}", flush=True)
        if not args.no_bench:
            command = [sys.executable, str(REPO / "bench" / "gpu.py"), *args.bench_args.split(),
                       "--workdir", str(root / "bench-model"), "--json", str(args.json)]
            args.json.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            done = subprocess.run(command, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
            print(done.stdout, end="", flush=True)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                failures += 1
                print(f"FAIL  bench/gpu.py {seconds:.0f} s, exit {done.returncode}: {error_line(done.stdout)}")
            else:
                print(f"ok    bench/gpu.py {seconds:.0f} s (numbers in {args.json})")
    print(f"gpu-smoke: {failures} failure{'s' if failures != 1 else ''}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
