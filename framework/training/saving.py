"""Trainer -> outputs: the output directory before training and the run's files after it.

Built in once for every recipe: the weights are gathered from FSDP/ZeRO-3 shards by every
process, written by the main process alone, into a staging directory moved into place with
``training_config.json`` last (``framework.checkpointing``), and the processes leave together.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from framework import distributed
from framework.fixes import FixReport
from framework.outputs import plot_losses, write_json
from framework.run_plan import library_versions

if TYPE_CHECKING:
    from framework.run_plan import RunPlan

#: Adds a recipe's own entries to the ``training_config.json`` record (in place).
RecordEdit = Callable[[dict[str, Any]], None]


def clear_output_dir(output_dir: Path, resume_from: Path | None, *, overwrite: bool) -> None:
    """Just before training: drop what a crashed save left, and with --overwrite the old checkpoints.

    Done this late so that a run refused for bad data or a bad model never touches the directory.
    """
    import shutil

    from framework.checkpointing import remove_leftovers

    remove_leftovers(output_dir)
    if overwrite and resume_from is None and output_dir.is_dir():
        for old in output_dir.glob("checkpoint-*"):
            if old.is_dir():
                shutil.rmtree(old)


def save_outputs(plan: RunPlan, model: Any, tokenizer: Any, fixes: FixReport, output_dir: Path, *,
                 state_dict: dict[str, Any] | None = None, record: RecordEdit | None = None) -> None:
    """Adapter (or model), tokenizer, generation config with stop tokens, resolved config.

    Written into a staging directory and moved into ``output_dir`` with ``training_config.json``
    last, so a crash never leaves something ``merge``/``chat``/``eval`` take for a finished run.
    ``record`` adds a recipe's own entries to ``training_config.json`` before it is moved.
    """
    from framework.checkpointing import save_outputs_atomically

    save_outputs_atomically(output_dir, lambda staging: write_outputs(plan, model, tokenizer, fixes, staging,
                                                                        state_dict, record))


def write_outputs(plan: RunPlan, model: Any, tokenizer: Any, fixes: FixReport, output_dir: Path,
                  state_dict: dict[str, Any] | None = None, record: RecordEdit | None = None) -> None:
    from transformers import GenerationConfig

    # state_dict: the weights gathered from FSDP/ZeRO-3 shards (framework.distributed.full_state_dict)
    from framework.bottleneck import has_adapters, save_adapters

    if has_adapters(model):  # bottleneck adapters: their own files, not a whole model
        save_adapters(model, output_dir, state_dict)
    else:
        model.save_pretrained(output_dir, safe_serialization=True, state_dict=state_dict)
    tokenizer.save_pretrained(output_dir)
    stop_ids = [tokenizer.convert_tokens_to_ids(t) for t in fixes.stop_tokens]
    gen = GenerationConfig(eos_token_id=[i for i in stop_ids if isinstance(i, int) and i >= 0],
                           pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    gen.save_pretrained(output_dir)
    written = {
        "config": plan.resolved.to_json(),
        "plugin": plan.plugin_record(),
        "model": {"name_or_path": plan.facts.name_or_path, "origin": plan.source.origin,
                  "directory": str(plan.source.directory)},
        "attention": {"implementation": plan.attention[0], "why": plan.attention[1]},
        "dtype": {"dtype": plan.dtype[0], "why": plan.dtype[1]},
        "rope": plan.rope.model_dump(),
        "distributed": plan.distributed.record() if plan.distributed is not None else None,
        "fixes": {"findings": [f.model_dump() for f in fixes.findings], "applied": fixes.applied,
                  "stop_tokens": fixes.stop_tokens},
        "versions": library_versions(),
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    if record is not None:
        record(written)
    write_json(output_dir / "training_config.json", written)


def finish(plan: RunPlan, trainer: Any, model: Any, tokenizer: Any, fixes: FixReport, output_dir: Path,
           metrics: dict[str, Any], train_history: list[tuple[int, float]], eval_history: list[tuple[int, float]], *,
           record: RecordEdit | None = None) -> None:
    """The end of every recipe, a collective: every process helps gather sharded weights, the
    main process alone writes the outputs (atomically), ``metrics.json`` and ``loss.png``, and
    no process returns before they exist."""
    from framework.heap import release_freed_memory

    release_freed_memory()  # the steps' activations: saving and plotting start from the live set, not above it
    state_dict = distributed.full_state_dict(trainer)
    if distributed.is_main_process():
        save_outputs(plan, model, tokenizer, fixes, output_dir, state_dict=state_dict, record=record)
        write_json(output_dir / "metrics.json", metrics)
        plot_losses(output_dir / "loss.png", train_history, eval_history)
    distributed.barrier()


def save_model_directory(trainer: Any, model: Any, tokenizer: Any, directory: Path) -> None:
    """A whole model and its tokenizer in ``directory`` (a recipe's intermediate model), written
    like the final outputs: gathered on every process, written once, atomically."""
    from framework.checkpointing import save_outputs_atomically

    state_dict = distributed.full_state_dict(trainer)
    if distributed.is_main_process():
        def write(staging: Path) -> None:
            model.save_pretrained(staging, safe_serialization=True, state_dict=state_dict)
            tokenizer.save_pretrained(staging)

        save_outputs_atomically(directory, write, last=("config.json",))
    distributed.barrier()

