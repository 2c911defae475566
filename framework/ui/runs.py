"""Runs started from the UI: ``framework run`` subprocesses, watched through their output directories.

A run is the same ``framework run`` the CLI starts, in its own session (``start_new_session``),
so closing or crashing the UI never stops training, and a run started here can be resumed
from a terminal with ``framework run ... --resume`` and the other way round. Stop sends
SIGINT, exactly the CLI's Ctrl-C: the run saves a checkpoint after the current step and exits.

Everything the UI shows about a run is read from its output directory, never from the UI's
memory, so runs started before the UI (or by another UI) are listed with the same status:
``progress.jsonl`` (step, loss, lr, tokens/s, ETA), ``ui-run.log`` (the run's own output when
the UI started it), ``metrics.json`` and ``training_config.json`` (finished), ``checkpoint-*``
(resumable).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework import progress_file
from framework.errors import ConfigError
from framework.outputs import holds_run, last_checkpoint
from framework.ui.form import Form

LOG_FILE = "ui-run.log"
#: What the UI records of a run it started: the arguments, so Resume repeats them with --resume.
LAUNCH_FILE = "ui-run.json"


#: Runs this process started, by pid: their exit is read through Popen (which also reaps them).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int | None) -> bool:
    """Whether ``pid`` is a live ``framework`` process (an old pid may belong to something else now)."""
    if not pid:
        return False
    if pid in _CHILDREN:
        return _CHILDREN[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return b"framework" in cmdline.read_bytes()
        except OSError:
            return False
    return True


@dataclass
class RunStatus:
    """One line of the runs table."""

    directory: Path
    status: str  # running, finished, stopped, failed, starting
    step: int
    max_steps: int
    loss: float | None
    pid: int | None

    def row(self) -> list[Any]:
        loss = "" if self.loss is None else f"{self.loss:.4f}"
        steps = f"{self.step}/{self.max_steps}" if self.max_steps else ""
        return [str(self.directory), self.status, steps, loss]


def run_status(directory: Path) -> RunStatus:
    """The status a directory tells, whoever started the run."""
    seen = progress_file.read(directory)
    launch = _read_json(directory / LAUNCH_FILE)
    pid = launch.get("pid") or seen.pid
    running = _alive(pid) and not (directory / "metrics.json").exists()
    if running:
        status = "running" if seen.started else "starting"
    elif (directory / "metrics.json").exists() and (directory / "training_config.json").exists():
        status = "finished"
    elif last_checkpoint(directory) is not None:
        status = "stopped (resumable)"
    else:
        status = "failed" if (directory / LOG_FILE).exists() or seen.started else "empty"
    return RunStatus(directory, status, seen.step, seen.max_steps, seen.loss, pid if running else None)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def log_tail(directory: Path, lines: int = 15) -> str:
    """The last lines the run printed (carriage-return progress redraws folded to their last state)."""
    try:
        text = (directory / LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    folded = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(folded[-lines:])


def error_line(directory: Path) -> str | None:
    """The CLI's one-line ``error: ...`` of a failed run, to show next to the Run button."""
    for line in reversed(log_tail(directory, 200).splitlines()):
        if line.startswith(("error: ", "internal error: ")):
            return line
    return None


class RunManager:
    """Starts, stops and resumes runs under ``root`` and lists what is there."""

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root = Path(root).resolve()  # the runs list and the run picker name runs by absolute path
        self.python = python
        self.children: dict[Path, subprocess.Popen[bytes]] = {}

    def new_directory(self, form: Form) -> Path:
        """The form's output directory, or ``ROOT/ui-<time>`` (never one that already holds a run)."""
        if form.output.strip():
            directory = Path(form.output.strip()).expanduser().resolve()
            if holds_run(directory):
                raise ConfigError("the output directory already holds a run", where=str(directory),
                                  hint="pick it in the runs list and press Resume, or choose another output directory")
            return directory
        stamp = time.strftime("%Y%m%d-%H%M%S")
        directory = self.root / f"ui-{stamp}"
        n = 1
        while directory.exists():
            n += 1
            directory = self.root / f"ui-{stamp}-{n}"
        return directory

    def start(self, form: Form) -> Path:
        """Start ``framework run`` for the form; return its output directory."""
        directory = self.new_directory(form)
        return self._launch(directory, form.run_arguments(output=str(directory)))

    def resume(self, directory: Path, settings: list[str] | tuple[str, ...] = ()) -> Path:
        """``framework run <same arguments> --resume`` on a stopped run.

        ``settings`` (``KEY=VALUE``) go after the recorded ones, e.g. a higher ``training.max_steps``
        to continue a finished run; ``--resume`` refuses any that would change the weights' meaning.
        """
        directory = Path(directory)
        status = run_status(directory)
        if status.status in ("running", "starting"):
            raise ConfigError("this run is still running", where=str(directory), hint="stop it first, or wait")
        if last_checkpoint(directory) is None:
            raise ConfigError("this run has no checkpoint to resume from", where=str(directory),
                              hint="start a new run instead")
        arguments = _read_json(directory / LAUNCH_FILE).get("arguments")
        if not arguments:
            arguments = _arguments_from_record(directory)
        arguments = [a for a in arguments if a not in ("--resume", "--overwrite")]
        for item in settings:
            arguments += ["--set", item]
        arguments.append("--resume")
        return self._launch(directory, arguments)

    def _launch(self, directory: Path, arguments: list[str]) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(directory / LOG_FILE, "ab") as log:
            child = subprocess.Popen([self.python, "-m", "framework", "run", *arguments], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        self.children[directory.resolve()] = child
        _CHILDREN[child.pid] = child
        (directory / LAUNCH_FILE).write_text(json.dumps({"pid": child.pid, "arguments": arguments,
                                                         "started": time.time()}, indent=2), encoding="utf-8")
        return directory

    def stop(self, directory: Path) -> str:
        """SIGINT, as Ctrl-C: the run saves a checkpoint after this step and exits."""
        status = run_status(Path(directory))
        if status.pid is None:
            raise ConfigError(f"this run is not running ({status.status})", where=str(directory),
                              hint="Resume continues a stopped run from its last checkpoint")
        os.kill(status.pid, signal.SIGINT)
        return f"stop requested: {directory} saves a checkpoint after the current step"

    def list_runs(self) -> list[RunStatus]:
        """Every run directory under the root (and the ones this UI started elsewhere), newest first."""
        found: set[Path] = set(self.children)
        if self.root.is_dir():
            for child in self.root.iterdir():
                if child.is_dir() and any((child / name).exists() for name in (
                        progress_file.PROGRESS_FILE, LAUNCH_FILE, "training_config.json")):
                    found.add(child.resolve())
        statuses = [run_status(d) for d in found]
        return sorted(statuses, key=lambda s: _mtime(s.directory), reverse=True)

    def wait(self, directory: Path, timeout: float | None = None) -> int | None:
        """The exit code of a run this UI started (for tests and shutdown)."""
        child = self.children.get(Path(directory).resolve())
        return None if child is None else child.wait(timeout)


def _mtime(directory: Path) -> float:
    try:
        return directory.stat().st_mtime
    except OSError:
        return 0.0


def _arguments_from_record(directory: Path) -> list[str]:
    """A run started from the CLI: the settings the user gave, read from its last checkpoint.

    ``run_settings.json`` keeps every value with its source; those the user set (on the command
    line or in a YAML file) are given again as ``--set``, so ``--resume``'s settings check agrees.
    """
    from framework.checkpointing import SETTINGS_FILE

    checkpoint = last_checkpoint(directory)
    saved = _read_json(checkpoint / SETTINGS_FILE) if checkpoint is not None else {}
    if not saved:
        raise ConfigError("this run's settings are not known here (no run_settings.json in its checkpoint)",
                          where=str(directory), hint="resume it from the terminal with the same command and --resume")
    arguments = ["--output", str(directory)]
    for key, entry in saved.items():
        source = str(entry.get("source", "core")) if isinstance(entry, dict) else "core"
        if key in ("output.dir", "output.resume", "output.overwrite") or not (
                source == "cli" or source.startswith("file:")):
            continue
        arguments += ["--set", f"{key}={json.dumps(entry.get('value'), ensure_ascii=False)}"]
    return arguments
