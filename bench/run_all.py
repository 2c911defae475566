"""Run every benchmark in bench/ one after another (``make bench``).

Benchmarks are found, not listed: every ``bench/*.py`` is one, except the helpers below that
another benchmark runs as its side. A new recipe's benchmark (``bench/grpo_cpu.py`` and the like)
therefore joins ``make bench`` by being added to the folder. The GPU benchmarks run only where
CUDA is available, and say so otherwise.

Each benchmark runs as its own process with its default arguments (plus any given with
``--args NAME="..."``); its output goes to ``LOGDIR/NAME.log``. The summary table gives each
one's exit code, wall seconds and the load average before it started (the machine may be
shared). The exit code is 1 when any benchmark failed.

    python bench/run_all.py                       # every benchmark
    python bench/run_all.py --list                # the benchmarks, without running them
    python bench/run_all.py --only preprocess e2e_cpu --args e2e_cpu="--rounds 2"
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

#: Not benchmarks: sides and helpers that a benchmark runs itself.
HELPERS = frozenset({"run_all", "plain_sft", "llamafactory_side"})
#: Benchmarks that need a CUDA GPU (gpu_smoke runs gpu.py itself at its end).
GPU_ONLY = frozenset({"gpu", "gpu_smoke"})
#: Run first: quick ones before the long end-to-end runs.
ORDER = ("cli_startup", "preprocess", "memory_peaks", "e2e_cpu")


def benchmarks() -> list[str]:
    """Every benchmark in bench/, quick ones first, then the rest by name."""
    names = sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in HELPERS and not p.stem.startswith("_"))
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n))


def has_cuda() -> bool:
    """Whether torch sees a CUDA GPU (asked in a child so this process stays light)."""
    probe = subprocess.run([sys.executable, "-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"],
                           capture_output=True, check=False)
    return probe.returncode == 0


def parse_args_option(items: list[str], known: list[str]) -> dict[str, list[str]]:
    """``NAME="--flag value"`` pairs; ValueError names the item that is not one."""
    extra: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in known:
            raise ValueError(f"--args {item!r}: expected NAME=\"ARGS\" with NAME one of {', '.join(known)}")
        extra[name] = shlex.split(value)
    return extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the benchmarks and exit")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these (names without .py)")
    parser.add_argument("--args", action="append", default=[], metavar='NAME="ARGS"',
                        help="extra arguments for one benchmark; may be repeated")
    parser.add_argument("--logdir", type=Path, default=REPO / "runs" / "bench", help="where each benchmark's log goes")
    args = parser.parse_args()

    known = benchmarks()
    if args.list:
        for name in known:
            print(f"{name}{' (CUDA only)' if name in GPU_ONLY else ''}")
        return 0
    unknown = [n for n in args.only or [] if n not in known]
    if unknown:
        print(f"error: --only {' '.join(unknown)}: no such benchmark in bench/; known: {', '.join(known)}",
              file=sys.stderr)
        return 2
    try:
        extra = parse_args_option(args.args, known)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    selected = [n for n in known if not args.only or n in args.only]
    cuda = has_cuda() if any(n in GPU_ONLY for n in selected) else False
    args.logdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    rows: list[tuple[str, str, float, float]] = []
    for name in selected:
        if name in GPU_ONLY and not cuda:
            print(f"{name}: skipped, no CUDA GPU here", flush=True)
            rows.append((name, "skipped (no CUDA)", 0.0, os.getloadavg()[0]))
            continue
        argv = [sys.executable, str(BENCH / f"{name}.py"), *extra.get(name, [])]
        log = args.logdir / f"{name}.log"
        load = os.getloadavg()[0]
        print(f"{name}: {shlex.join(argv[1:])} > {log}", flush=True)
        started = time.perf_counter()
        with log.open("w", encoding="utf-8") as out:
            code = subprocess.call(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
        rows.append((name, "ok" if code == 0 else f"FAILED (exit {code}, see {log})", seconds, load))
        print(f"  {rows[-1][1]} in {seconds:.0f} s", flush=True)
    print("\n| benchmark | result | wall s | load avg before |\n|---|---|---|---|")
    for name, result, seconds, load in rows:
        print(f"| {name} | {result} | {seconds:.0f} | {load:.2f} |")
    return 1 if any(r[1].startswith("FAILED") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
