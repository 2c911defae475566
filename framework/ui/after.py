"""After training: chat, perplexity before/after, merge and export, through the commands' own code.

``chat`` uses ``framework.inference`` (the family's template and the saved stop tokens, as
``framework chat``), ``evaluate`` is ``framework eval``'s ``evaluate_run``, ``merge`` is
``framework merge``. A loaded run is kept while its ``training_config.json`` is unchanged, so
a conversation does not reload the model for every message.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from framework.errors import ConfigError

_LOADED: dict[Path, tuple[float, Any]] = {}


def _run(directory: Path) -> Any:
    from framework.inference import load_run, read_record

    directory = Path(directory).resolve()
    read_record(directory)  # a one-line error when this is not a finished run
    stamp = (directory / "training_config.json").stat().st_mtime
    cached = _LOADED.get(directory)
    if cached is None or cached[0] != stamp:
        _LOADED.clear()  # one model in memory at a time
        _LOADED[directory] = (stamp, load_run(directory))
    return _LOADED[directory][1]


def chat(directory: Path, history: list[dict[str, Any]], message: str, *, system: str = "",
         max_new_tokens: int = 64) -> list[dict[str, Any]]:
    """The history with the user's message and the model's reply appended (Gradio's messages format)."""
    from framework.data.messages import reply_message
    from framework.inference import generate

    if not message.strip():
        raise ConfigError("the message is empty", where="chat", hint="type a prompt")
    run = _run(directory)
    turns = [{"role": m["role"], "content": _text(m.get("content"))} for m in history
             if m.get("role") in ("user", "assistant")]
    conversation = ([{"role": "system", "content": system}] if system.strip() else []) + turns
    conversation.append({"role": "user", "content": message})
    reply = reply_message(generate(run, conversation, max_new_tokens))
    return turns + [{"role": "user", "content": message}, {"role": "assistant", "content": reply["content"]}]


def _text(content: Any) -> str:
    """Gradio may hand back content as a list of parts; the template wants text."""
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def evaluate(directory: Path, data: list[str], limit: int = 50) -> list[list[Any]]:
    """[metric, before, after] rows: perplexity of the starting model and the trained one."""
    from framework.evaluate import evaluate_run

    if not [d for d in data if d]:
        raise ConfigError("no held-out data to evaluate on", where="evaluation data",
                          hint="pick or upload a data file")
    report = evaluate_run(Path(directory), [d for d in data if d], limit=limit)
    return [[metric, round(before, 4), round(after, 4)] for metric, (before, after) in report.items()]


def merge(directory: Path) -> str:
    """``framework merge``: the adapter folded into its base, written to ``OUTPUT/merged``."""
    from framework.inference import merge as merge_run

    path = merge_run(Path(directory), None)
    return f"merged model written to {path}"


def export(directory: Path) -> Path:
    """A zip of the run's final files (adapter or model, tokenizer, config, metrics), checkpoints left out."""
    from framework.inference import read_record

    directory = Path(directory)
    read_record(directory)
    staging = directory / ".export"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    keep = staging / directory.name
    keep.mkdir()
    for item in directory.iterdir():
        if item.name.startswith((".", "checkpoint-")) or item.name in ("merged",):
            continue
        if item.is_file():
            shutil.copy2(item, keep / item.name)
    archive = shutil.make_archive(str(staging / directory.name), "zip", root_dir=staging, base_dir=directory.name)
    shutil.rmtree(keep)
    return Path(archive)
