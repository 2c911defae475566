"""Wall time of the light ``framework`` commands, hyperfine-style: median of N fresh processes.

Commands: ``framework --help``, ``framework plugins`` and ``framework plan --model DIR`` on a
local tiny model (the llama3 plugin's demo model, built once into a temporary directory, or
``--model``). Each command runs ``--runs`` times after one warm-up run (so the OS file cache
and Python's bytecode cache are warm, as they are for a user typing the command twice); min, median and max are printed
with the target. ``--importtime`` adds the slowest imports of each command
(``python -X importtime``), which is where a missed target is found.

    python bench/cli_startup.py
    python bench/cli_startup.py --runs 20 --importtime
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"--help": 0.3, "plugins": 0.5}


def _command() -> list[str]:
    """The installed console script when there is one (what users run), else ``python -m framework``."""
    script = Path(sys.executable).parent / "framework"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "framework"]


_ENV: dict[str, str] = {}


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", **_ENV}


def use_bytecode_cache(directory: Path | None) -> None:
    """Let Python cache compiled modules (in ``directory``, outside the repository), as an
    installed package does; ``None`` keeps the environment's setting.

    Some environments (this project's CI machines among them) set PYTHONDONTWRITEBYTECODE, so
    every start compiles the framework and its plugins from source: ~30 ms more per command.
    """
    if directory is None:
        return
    _ENV["PYTHONPYCACHEPREFIX"] = str(directory)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def time_command(argv: list[str], runs: int) -> list[float]:
    """Seconds per run (one untimed warm-up first); fails loudly if the command fails."""
    seconds = []
    for i in range(runs + 1):
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        if i:
            seconds.append(elapsed)
    return seconds


def slowest_imports(args: list[str], top: int) -> list[tuple[float, str]]:
    """(cumulative ms, module) of the top-level imports of one command, slowest first."""
    code = f"from framework.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPO, env=_env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if name.startswith(" ") and name[1:2] != " ":  # top level: one space after the bar
            try:
                rows.append((int(cumulative) / 1000, name.strip()))
            except ValueError:
                continue
    return sorted(rows, reverse=True)[:top]


def demo_model(directory: Path) -> Path:
    from framework_llama3.checkpoints import provide_demo_model

    return Path(provide_demo_model(directory).path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--model", type=Path, default=None, help="model directory for `plan` (default: the demo model)")
    parser.add_argument("--importtime", action="store_true", help="also list the slowest imports of each command")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="keep the environment's PYTHONDONTWRITEBYTECODE (compile every module at every start)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cli-startup-"))
    use_bytecode_cache(None if args.no_bytecode_cache else tmp / "pycache")
    cached = "off (PYTHONDONTWRITEBYTECODE)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    try:
        model = args.model or demo_model(tmp)
        base = _command()
        cases = {"--help": ["--help"], "plugins": ["plugins"], "plan --model": ["plan", "--model", str(model)]}
        baseline = statistics.median(time_command([sys.executable, "-c", "pass"], args.runs))
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; `python -c pass` median {baseline:.3f} s; "
              f"command: {' '.join(Path(b).name for b in base)}; bytecode cache {cached}; {args.runs} runs each after one "
              "warm-up\n")
        print("| command | min s | median s | max s | target | met |")
        print("|---|---|---|---|---|---|")
        for label, argv in cases.items():
            seconds = time_command(base + argv, args.runs)
            median = statistics.median(seconds)
            target = TARGETS.get(label)
            met = "-" if target is None else ("yes" if median < target else "no")
            print(f"| framework {label} | {min(seconds):.3f} | {median:.3f} | {max(seconds):.3f} | "
                  f"{'< ' + str(target) + ' s' if target else '-'} | {met} |", flush=True)
        if args.importtime:
            for label, argv in cases.items():
                print(f"\nslowest top-level imports of `framework {label}` (cumulative ms):")
                for ms, name in slowest_imports(argv, 8):
                    print(f"  {ms:8.1f}  {name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
