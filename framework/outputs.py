"""What a run leaves behind, written so that a crash never leaves a half-written file.

Every file is written to a temporary name in the same directory and renamed into place
(atomic on POSIX), so a previous version stays intact until the new one is complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from framework.errors import ConfigError

RUN_MARKERS = ("training_config.json", "adapter_config.json", "model.safetensors", "metrics.json")


def write_atomic(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def holds_run(directory: Path) -> bool:
    return directory.is_dir() and (
        any((directory / m).exists() for m in RUN_MARKERS) or any(directory.glob("checkpoint-*"))
    )


def last_checkpoint(directory: Path) -> Path | None:
    checkpoints = [p for p in directory.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    complete = [p for p in checkpoints if (p / "trainer_state.json").exists()]
    return max(complete, key=lambda p: int(p.name.split("-")[-1])) if complete else None


def check_output_dir(directory: Path, *, overwrite: bool, resume: bool) -> Path | None:
    """Refuse to overwrite a previous run silently; return the checkpoint to resume from."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other", where=str(directory),
                          hint="pass --resume to continue the run there, or --overwrite to replace it, not both")
    if resume:
        checkpoint = last_checkpoint(directory)
        if checkpoint is None:
            raise ConfigError("--resume but the output directory holds no complete checkpoint", where=str(directory),
                              hint="drop --resume to start a new run, or point --output at the run to continue")
        return checkpoint
    if holds_run(directory) and not overwrite:
        raise ConfigError("the output directory already holds a run", where=str(directory),
                          hint="pass --resume to continue it, --overwrite to replace it, or choose another --output")
    return None


def plot_losses(path: Path, train: list[tuple[int, float]], evals: list[tuple[int, float]]) -> bool:
    """loss.png with train and validation curves (the seeds' plot_loss); False when nothing to plot."""
    if not train:
        return False
    return plot_curves(path, [("train loss", train, {}), ("validation loss", evals, {"marker": "o"})], "loss")


def plot_curves(path: Path, curves: list[tuple[str, list[tuple[int, float]], dict[str, Any]]], ylabel: str) -> bool:
    """A PNG of (label, (step, value) points, matplotlib style) curves against steps, written atomically.

    Empty curves are left out; False when every curve is empty.
    """
    if not any(points for _, points, _ in curves):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, points, style in curves:
        if points:
            ax.plot([s for s, _ in points], [v for _, v in points], label=label, **style)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return True
