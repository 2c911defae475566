"""Where a model lives: a local directory, the Hugging Face cache, or (for planning) published facts.

Offline is the normal case: a hub id is looked up in the local cache first and the network is
touched only when the id is missing there and the user has not set offline mode. A missing
model fails in one line that says how to get it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.errors import ModelError
from framework.facts import read_config


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: its config, and the directory with weights when there is one."""

    name_or_path: str
    config: dict[str, Any]
    directory: Path | None
    origin: str  # "local", "cache", "download", "published facts (<plugin>)"


def _offline() -> bool:
    return any(os.environ.get(k, "").lower() in {"1", "true", "yes"} for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def _cached_snapshot(repo_id: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def resolve_model(name_or_path: str, *, need_weights: bool, published: dict[str, tuple[str, dict[str, Any]]] | None = None) -> ModelSource:
    """Find a model's config (and weights when ``need_weights``).

    Args:
        name_or_path: a directory saved with ``save_pretrained`` or a hub id.
        need_weights: training needs the files; planning can use published facts instead.
        published: hub id -> (plugin, config) from ``known_model_configs``, for offline planning.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError("a model must be a directory, not a file", where=str(path),
                             hint="pass the directory that holds config.json")
        return ModelSource(str(path), read_config(path), path, "local")
    if not _looks_like_hub_id(name_or_path):
        raise ModelError(f"model directory {name_or_path} does not exist",
                         hint="pass an existing directory or a hub id such as org/name")
    snapshot = _cached_snapshot(name_or_path)
    if snapshot is not None:
        return ModelSource(name_or_path, read_config(snapshot), snapshot, "cache")
    if not need_weights and published and name_or_path in published:
        plugin, config = published[name_or_path]
        return ModelSource(name_or_path, config, None, f"published facts ({plugin})")
    if _offline():
        raise ModelError(f"{name_or_path} is not in the local Hugging Face cache and offline mode is on",
                         hint=f"download it on a connected machine with `huggingface-cli download {name_or_path}` "
                              "or pass a local directory")
    return _download(name_or_path)


def _download(repo_id: str) -> ModelSource:
    from huggingface_hub import snapshot_download

    try:
        directory = Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.tiktoken", "*.txt"]))
    except Exception as exc:  # network, auth, missing repo: all end the same way for the user
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ModelError(f"{repo_id} is not in the local cache and could not be downloaded ({reason})",
                         hint=f"check the id and your network, or download it with `huggingface-cli download {repo_id}` "
                              "and pass the local directory") from None
    return ModelSource(repo_id, read_config(directory), directory, "download")
