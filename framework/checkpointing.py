"""Checkpoints and final outputs that are either complete or absent, never half-written.

transformers writes a checkpoint file by file straight into ``OUTPUT/checkpoint-N`` and deletes
old checkpoints right after; a crash or a full disk in the middle leaves a directory that looks
like a checkpoint, and ``--resume`` (or transformers' own ``get_last_checkpoint``) would pick it.
Here every checkpoint is written into a hidden staging directory (``OUTPUT/.tmp-checkpoint-N``,
which no ``checkpoint-*`` glob matches), ``trainer_state.json`` last, flushed to disk, and only
then renamed into place in one ``rename``. Old checkpoints are rotated only after that rename, so
at every instant at least the previous complete checkpoint exists. The final outputs (adapter,
tokenizer, configs) go the same way: written into ``OUTPUT/.tmp-final-*`` and moved file by
file with ``training_config.json``, the marker ``framework chat/merge/eval`` read, moved last.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

from framework.errors import UserError

CHECKPOINT_PREFIX = "checkpoint"
STAGING_PREFIX = ".tmp-"
RETIRED_PREFIX = ".old-"
STATE_FILE = "trainer_state.json"
#: The file that makes a run output complete (read by merge/chat/eval); written last.
OUTPUT_MARKER = "training_config.json"


class CheckpointWriteError(UserError):
    """Writing a checkpoint or the final outputs failed (full disk, permissions, I/O error)."""


def checkpoint_step(path: Path) -> int | None:
    """The step of a ``checkpoint-N`` directory name, None for anything else."""
    prefix, _, step = path.name.rpartition("-")
    return int(step) if prefix == CHECKPOINT_PREFIX and step.isdigit() else None


def complete_checkpoints(directory: Path) -> list[Path]:
    """Checkpoints that hold their trainer state, oldest step first."""
    found = [p for p in directory.glob(f"{CHECKPOINT_PREFIX}-*") if p.is_dir() and checkpoint_step(p) is not None]
    return sorted((p for p in found if (p / STATE_FILE).is_file()), key=lambda p: checkpoint_step(p) or 0)


def remove_leftovers(directory: Path) -> list[Path]:
    """Delete staging and retired directories a crashed save left behind; returns what went."""
    removed = []
    if not directory.is_dir():
        return removed
    for path in directory.iterdir():
        if path.name.startswith((STAGING_PREFIX, RETIRED_PREFIX)):
            _remove(path)
            removed.append(path)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_path(path: Path) -> None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # some filesystems refuse to open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(directory: Path) -> None:
    """Flush every file and directory below ``directory`` so a rename publishes durable data."""
    for root, _, files in os.walk(directory):
        for name in files:
            _fsync_path(Path(root) / name)
        _fsync_path(Path(root))


def publish_directory(staging: Path, final: Path) -> None:
    """Rename a fully written ``staging`` directory to ``final``, replacing an older one safely."""
    retired = None
    if final.exists():
        retired = final.with_name(f"{RETIRED_PREFIX}{final.name}")
        _remove(retired)
        os.replace(final, retired)
    os.replace(staging, final)
    _fsync_path(final.parent)
    if retired is not None:
        _remove(retired)


#: How write failures read when they do not arrive as OSError: torch.save raises RuntimeError
#: ("PytorchStreamWriter failed writing file"), safetensors its own error ("I/O error: ...").
_WRITE_FAILURE_TEXT = ("No space left", "Disk quota", "I/O error", "failed writing", "Read-only file system")


def is_write_failure(exc: BaseException) -> bool:
    """True for errors of the storage (full disk, permissions), not of the program."""
    return isinstance(exc, OSError) or any(text in str(exc) for text in _WRITE_FAILURE_TEXT)


def write_failed(what: str, exc: BaseException, where: Path, intact: str) -> UserError:
    """The one-line error for a failed write: what failed, why, and what is still intact."""
    first_line = (str(exc).splitlines() or [""])[0][:200]
    reason = "the disk is full" if getattr(exc, "errno", None) == errno.ENOSPC else f"{type(exc).__name__}: {first_line}"
    return CheckpointWriteError(f"writing {what} failed ({reason}); {intact}", where=str(where),
                                hint="free disk space or fix the directory, then continue with --resume")


def save_checkpoint(trainer: Any, trial: Any = None) -> Path:
    """``Trainer._save_checkpoint`` written into a staging directory and renamed into place.

    The steps are transformers' own (model, optimizer and scheduler, scaler, RNG, trainer
    state with the stateful callbacks), in its order, with ``trainer_state.json`` last; what
    changes is where they are written and that rotation waits for the rename.
    """
    from transformers.trainer_callback import ExportableState
    from transformers.trainer_utils import SaveStrategy, rotate_checkpoints

    args = trainer.args
    state = trainer.state
    run_dir = Path(trainer._get_output_dir(trial=trial))
    name = f"{CHECKPOINT_PREFIX}-{state.global_step}"
    final = run_dir / name
    staging = run_dir / f"{STAGING_PREFIX}{name}"
    previous = complete_checkpoints(run_dir)
    if trainer.hp_search_backend is None and trial is None:
        trainer.store_flos()
    try:
        if args.should_save:
            _remove(staging)
        trainer.accelerator.wait_for_everyone()
        trainer.save_model(str(staging), _internal_call=True)
        if args.save_strategy in (SaveStrategy.STEPS, SaveStrategy.EPOCH, SaveStrategy.BEST) and state.best_global_step:
            best = run_dir / f"{CHECKPOINT_PREFIX}-{state.best_global_step}"
            if best.exists() or state.best_global_step == state.global_step:
                state.best_model_checkpoint = str(best)
        if not args.save_only_model:
            trainer._save_optimizer_and_scheduler(str(staging))
            trainer._save_scaler(str(staging))
            trainer._save_rng_state(str(staging))
        if args.should_save:
            for callback in [cb for cb in trainer.callback_handler.callbacks + [trainer.control]
                             if isinstance(cb, ExportableState)]:
                cb_name = callback.__class__.__name__
                if isinstance(state.stateful_callbacks.get(cb_name), list):
                    state.stateful_callbacks[cb_name].append(callback.state())
                else:
                    state.stateful_callbacks[cb_name] = callback.state()
            settings = getattr(trainer, "run_settings", None)
            if settings is not None:  # what --resume compares its own settings with
                (staging / SETTINGS_FILE).write_text(json.dumps(settings, default=str), encoding="utf-8")
            state.save_to_json(str(staging / STATE_FILE))  # the completeness marker: last file
        trainer.accelerator.wait_for_everyone()
        if args.should_save:
            fsync_tree(staging)
            publish_directory(staging, final)
        trainer.accelerator.wait_for_everyone()
    except Exception as exc:
        if args.should_save:
            _remove(staging)
        if not is_write_failure(exc):
            raise
        intact = f"{previous[-1].name} is intact" if previous else "no earlier checkpoint was touched"
        raise write_failed(name, exc, run_dir, intact) from exc
    except BaseException:  # KeyboardInterrupt, SystemExit: no half-written staging left behind
        if args.should_save:
            _remove(staging)
        raise
    if args.push_to_hub:
        trainer._push_from_checkpoint(str(final))
    if args.should_save:
        rotate_checkpoints(output_dir=str(run_dir), save_total_limit=args.save_total_limit,
                           best_model_checkpoint=state.best_model_checkpoint, use_mtime=False)
    return final


def save_outputs_atomically(output_dir: Path, write: Callable[[Path], None], *, last: Iterable[str] = (OUTPUT_MARKER,)) -> list[str]:
    """Let ``write`` fill a staging directory, then move its files into ``output_dir``.

    The files named in ``last`` (the completeness marker) are removed from ``output_dir``
    before anything moves and moved in after everything else, so a crash in between leaves a
    directory that no command takes for a finished run. Returns the names moved, in order.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = output_dir / f"{STAGING_PREFIX}final-{os.getpid()}"
    _remove(staging)
    staging.mkdir()
    try:
        write(staging)
        fsync_tree(staging)
        markers = [m for m in last if (staging / m).exists()]
        for marker in markers:
            (output_dir / marker).unlink(missing_ok=True)
        names = sorted(p.name for p in staging.iterdir() if p.name not in markers) + markers
        for name in names:
            target = output_dir / name
            if (staging / name).is_dir():
                publish_directory(staging / name, target)
            else:
                os.replace(staging / name, target)
        _fsync_path(output_dir)
        return names
    except Exception as exc:
        if not is_write_failure(exc):
            raise
        raise write_failed("the final outputs", exc, output_dir, "the checkpoints are intact") from exc
    finally:
        _remove(staging)


# ── resuming: the checkpoint's settings against the command's ─────────────────────────────

#: Written into every checkpoint beside the trainer state: the resolved settings that trained it.
SETTINGS_FILE = "run_settings.json"

#: Keys that may differ on ``--resume``: how long to train on, logging and saving, speed-only
#: switches and where things run. Every other key shapes the weights, the optimizer state or the
#: data order, and a resumed run with a different value would crash on loading or silently train
#: something else. docs/reliability.md lists them.
RESUMABLE_KEYS = frozenset({
    "training.max_steps", "training.epochs", "training.logging_steps", "training.save_steps",
    "training.eval_steps", "training.save_total_limit", "training.report_to", "training.early_stopping_patience",
    "training.early_stopping_threshold", "training.gradient_checkpointing", "training.torch_compile",
    "training.loss_chunk_size", "training.cpu_bf16_head", "lora.fast_dropout", "output.dir", "output.overwrite", "output.resume",
    "data.num_proc", "data.fast_encoder", "data.overwrite_cache", "data.strict", "model.trust_remote_code",
    "model.allow_pickle", "plan.gpu",
    "distributed.master_addr", "distributed.master_port", "distributed.node_rank",
})


class RunComplete(Exception):
    """``--resume`` on a run that already reached its last step: nothing to train (exit 0)."""


def _value(entry: Any) -> Any:
    value = entry.get("value") if isinstance(entry, dict) and "value" in entry else entry
    return json.loads(json.dumps(value, default=str))


#: Sections read only by some methods (or a stage): a change there does not touch another method's run.
_SECTION_USERS = {
    "lora": frozenset({"lora", "dora", "rslora", "qlora", "qlora8", "hybrid"}),
    "freeze": frozenset({"freeze"}),
    "adapter": frozenset({"adapter"}),
    "unfreeze": frozenset({"full"}),
    "hybrid": frozenset({"hybrid"}),
    "prompt": frozenset({"prefix", "prompt", "ptuning"}),
}


def _unused(key: str, method: Any, stage: Any) -> bool:
    section = key.partition(".")[0]
    if section == "dpo":
        return stage != "dpo"
    users = _SECTION_USERS.get(section)
    return users is not None and method not in users


def changed_settings(saved: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, checkpoint's value, this command's value) for keys that may not change on resume.

    Keys of a section the run's method does not read (``lora.*`` for ``full``) are not compared.
    """
    method, stage = _value(saved.get("method")), _value(saved.get("stage"))
    changed = []
    for key in sorted(set(saved) | set(current)):
        if key in RESUMABLE_KEYS or (_value(current.get("method")) == method and _unused(key, method, stage)):
            continue
        before, after = _value(saved.get(key)), _value(current.get(key))
        if before != after:
            changed.append((key, before, after))
    return changed


def check_resume(checkpoint: Path, settings: dict[str, Any]) -> None:
    """Before anything loads: refuse settings the checkpoint was not trained with, and a run
    that is already complete.

    Args:
        checkpoint: the ``checkpoint-N`` that ``--resume`` would continue from.
        settings: this command's resolved settings (``Resolved.to_json()``).

    Raises:
        ConfigError: keys outside ``RESUMABLE_KEYS`` differ (each named with both values), or
            the last checkpoint is the final step but the final outputs were never written.
        RunComplete: the checkpoint is the run's last step and the final outputs exist, and
            neither ``training.max_steps`` nor ``training.epochs`` was raised.
    """
    from framework.errors import ConfigError

    saved_path = checkpoint / SETTINGS_FILE
    saved = json.loads(saved_path.read_text(encoding="utf-8")) if saved_path.is_file() else None
    if saved is not None:
        changed = changed_settings(saved, settings)
        if changed:
            listed = ", ".join(f"{k} {before!r} -> {after!r}" for k, before, after in changed)
            raise ConfigError(
                f"--resume with {len(changed)} setting(s) that differ from {checkpoint.name}: {listed}",
                where=str(checkpoint.parent),
                hint="use the checkpoint's values (they shape the weights, the optimizer state or the data order), "
                     "or start a new run with --overwrite or another --output; docs/reliability.md lists the keys "
                     "that may change on resume",
            )
    state = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
    step, last = int(state.get("global_step") or 0), int(state.get("max_steps") or 0)
    if not last or step < last or _raised(saved, settings, last):
        return
    if not (checkpoint.parent / OUTPUT_MARKER).is_file():
        raise ConfigError(
            f"{checkpoint.name} is the last step ({step} of {last}) but the run's final outputs were never written",
            where=str(checkpoint.parent),
            hint=f"load the weights from {checkpoint} directly, or raise training.max_steps to train on and write them",
        )
    raise RunComplete(f"the run in {checkpoint.parent} is already complete (step {step} of {last}); nothing to "
                      f"train. raise training.max_steps or training.epochs to train further, or pass --overwrite "
                      f"to start again")


def _raised(saved: dict[str, Any] | None, current: dict[str, Any], last: int) -> bool:
    """Whether this command asks for more steps than the checkpointed run had."""
    steps = _value(current.get("training.max_steps"))
    if isinstance(steps, int) and steps > 0:
        return steps > last
    if saved is None:
        return False
    epochs, before = _value(current.get("training.epochs")), _value(saved.get("training.epochs"))
    return _value(saved.get("training.max_steps")) in (None, -1, 0) and isinstance(epochs, (int, float)) \
        and isinstance(before, (int, float)) and epochs > before
