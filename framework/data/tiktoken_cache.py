"""The tiktoken form of a tokenizer kept on disk, so each run does not derive it again.

Why: deriving it from ``tokenizer.json`` (parsing 9 MB of JSON, checking that the merges are every
split of the vocabulary in rank order) costs about a second for a 128k vocabulary, a sixth of
preparing 100k samples on two cores, and every ``framework run`` would pay it. The file holds the
derived parts (split pattern, token bytes and ranks, control tokens, NFC) or the reason there is
no tiktoken form, under the tokenizer's fingerprint (``framework.data.cache.tokenizer_fingerprint``,
a hash of its serialized definition): any change to the tokenizer gives another file. A file that cannot be read is ignored and written again; no pickle is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class VocabForm:
    """What the tiktoken form is made of, derived from ``tokenizer.json`` by
    ``framework.data.tiktoken_encoder.derive_form``: the slow part (the merge check walks 800k
    splits of a 128k vocabulary), kept here."""

    pattern: str
    ranks: dict[bytes, int]
    specials: dict[str, int]
    nfc: bool


#: Bump when ``derive_form`` changes what it accepts or derives.
FORM_VERSION = "1"


def path_for(cache_dir: Path, fingerprint: str) -> Path:
    """Where the form of the tokenizer with this fingerprint is kept."""
    digest = hashlib.sha256(f"{FORM_VERSION}\0{fingerprint}".encode()).hexdigest()
    return Path(cache_dir) / "tiktoken" / f"{digest}.npz"


def load(cache_dir: Path, fingerprint: str) -> VocabForm | str | None:
    """The kept form (or reason), None when there is none or it cannot be read."""
    path = path_for(cache_dir, fingerprint)
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(bytes(stored["meta"]).decode("utf-8"))
            if "reason" in meta:
                return str(meta["reason"])
            blob, ends, ranks = stored["tokens"].tobytes(), stored["ends"].tolist(), stored["ranks"].tolist()
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    starts = [0, *ends[:-1]]
    table = {blob[a:b]: rank for a, b, rank in zip(starts, ends, ranks)}
    return VocabForm(meta["pattern"], table, dict(meta["specials"]), bool(meta["nfc"]))


def save(cache_dir: Path, fingerprint: str, form: VocabForm | str) -> None:
    """Keep the form (or reason); written to a temporary file and renamed, so a reader never sees
    half a file. A cache that cannot be written is skipped: the form was derived anyway."""
    path = path_for(cache_dir, fingerprint)
    if isinstance(form, str):
        meta: dict[str, object] = {"reason": form}
        arrays = {}
    else:
        meta = {"pattern": form.pattern, "specials": form.specials, "nfc": form.nfc}
        tokens = list(form.ranks)
        arrays = {"tokens": np.frombuffer(b"".join(tokens), dtype=np.uint8),
                  "ends": np.cumsum(np.fromiter(map(len, tokens), np.int64, len(tokens))),
                  "ranks": np.fromiter(form.ranks.values(), np.int64, len(tokens))}
    encoded = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            temporary = handle.name
            np.savez(handle, meta=encoded, **arrays)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)
