"""A prepared dataset stored on disk, found again by a hash of everything that shaped it.

The key covers the data files (path, size, modification time), the tokenizer (its full
serialised definition, not its name: a local tokenizer edited in place keeps its name), the
chat template (a fingerprint the caller passes, or a probe render), every setting, and the
pipeline version. Any change gives a new key, so a stale cache is never reused; an
unchanged rerun skips reading, rendering and tokenizing altogether.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from framework.data.validate import DataReport

#: Bump when the output of the pipeline changes for the same inputs.
PIPELINE_VERSION = "2"  # 2: kept rows keep their own source; max_samples is a total; stray files skipped

_PROBE = [
    {"role": "system", "content": "S"},
    {"role": "user", "content": "U1"},
    {"role": "assistant", "content": "A1"},
    {"role": "user", "content": "U2"},
    {"role": "assistant", "content": "A2"},
]


def files_signature(files: Sequence[Path]) -> list[tuple[str, int, int]]:
    """Path, size and modification time of every data file."""
    out = []
    for file in files:
        stat = file.stat()
        out.append((str(file.resolve()), stat.st_size, stat.st_mtime_ns))
    return out


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of the tokenizer's definition (vocabulary, merges, added tokens, normaliser)."""
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        digest.update(backend.to_str().encode())
    else:
        vocab = tokenizer.get_vocab()
        digest.update(json.dumps(sorted(vocab.items())).encode())
    specials = {k: str(v) for k, v in sorted((getattr(tokenizer, "special_tokens_map", {}) or {}).items())}
    digest.update(json.dumps(specials).encode())
    return digest.hexdigest()


def render_fingerprint(render: Callable[[list[dict[str, str]]], Any]) -> str:
    """A hash of how ``render`` renders a fixed probe conversation (text and loss marks)."""
    rendered = render([dict(m) for m in _PROBE])
    parts = [(s.text, s.trainable, s.message_index) for s in rendered.segments]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def cache_key(kind: str, parts: dict[str, Any]) -> str:
    """A stable name for a prepared dataset."""
    blob = json.dumps({"kind": kind, "version": PIPELINE_VERSION, **parts}, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:24]}"


def load(cache_dir: Path | None, key: str) -> tuple[Any, Any, DataReport, list[str]] | None:
    """The stored (train, eval, report, sample texts), or None when absent or incomplete."""
    if cache_dir is None:
        return None
    folder = Path(cache_dir) / key
    meta = folder / "report.json"
    if not meta.is_file():
        return None
    from datasets import load_from_disk

    stored = json.loads(meta.read_text(encoding="utf-8"))
    report = DataReport.from_dict(stored["report"])
    train = load_from_disk(str(folder / "train"))
    evaluation = load_from_disk(str(folder / "eval")) if (folder / "eval").is_dir() else None
    return train, evaluation, report, stored.get("sample_texts", [])


def save(cache_dir: Path | None, key: str, train: Any, evaluation: Any, report: DataReport, texts: list[str]) -> None:
    """Store a prepared dataset; written to a temporary folder and renamed, so a crash never
    leaves a half-written entry that a later run would trust."""
    if cache_dir is None:
        return
    folder = Path(cache_dir) / key
    partial = folder.with_name(f"{key}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    train.save_to_disk(str(partial / "train"))
    if evaluation is not None:
        evaluation.save_to_disk(str(partial / "eval"))
    meta = {"report": report.to_dict(), "sample_texts": texts}
    (partial / "report.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
