"""What ``data score`` writes: per-sample scores, the report, histograms and the filtered copy.

``scores.jsonl``      one line per sample in file order: file:line, score, every signal, reasons
``report.json``       counts, score quantiles, topic clusters, near-duplicate clusters, throughput
``histograms.png``    score, perplexity, IFD, length ratio, language and repetition
``<data>.filtered.jsonl`` (``--keep`` / ``--min-score``): the kept records unchanged, in file
                      order, with ``<data>.filtered.provenance.json`` saying where each came
                      from, the rule, the model and the input files' hashes
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Sequence

from framework.data_score.samples import Sample
from framework.data_score.scoring import SampleScore
from framework.errors import ConfigError


def write_scores(path: Path, scores: Sequence[SampleScore]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for s in scores:
            f.write(json.dumps(s.record(), ensure_ascii=False) + "\n")


def quantiles(values: Sequence[float]) -> dict[str, float]:
    import numpy as np

    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {}
    q = np.quantile(finite, [0.0, 0.1, 0.5, 0.9, 1.0])
    return dict(zip(("min", "p10", "median", "p90", "max"), (round(float(x), 4) for x in q)))


def histograms(path: Path, scores: Sequence[SampleScore]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("score", [s.score for s in scores]),
              ("log10 reply perplexity", [math.log10(s.perplexity) for s in scores if s.perplexity > 0]),
              ("IFD (loss with / without instruction)", [s.ifd for s in scores]),
              ("length ratio (reply / prompt chars)", [math.log10(max(s.length_ratio, 1e-3)) for s in scores]),
              ("language (1 = one script, no symbols)", [s.language for s in scores]),
              ("repetition (repeated n-gram share)", [s.repetition for s in scores])]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    for ax, (title, values) in zip(axes.flat, panels):
        finite = [v for v in values if math.isfinite(v)]
        ax.hist(finite, bins=min(30, max(5, len(finite) // 3)), color="#3a7bd5")
        ax.set_title(title.replace("length ratio", "log10 length ratio") if "length" in title else title, fontsize=9)
    fig.suptitle(f"{len(scores)} samples")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def kept_indices(scores: Sequence[SampleScore], keep: str | None, min_score: float | None) -> list[int]:
    """Indices (file order) of the samples ``--keep top:K`` / ``top:P%`` and ``--min-score`` keep."""
    chosen = set(range(len(scores)))
    if keep is not None:
        m = re.fullmatch(r"top:(\d+)(%?)", keep.strip())
        if not m or int(m.group(1)) <= 0:
            raise ConfigError(f"--keep expects top:K or top:P%, got {keep!r}", where="--keep",
                              hint="e.g. --keep top:1000 or --keep top:30%")
        k = int(m.group(1))
        if m.group(2):
            k = max(1, round(len(scores) * min(k, 100) / 100))
        ranked = sorted(range(len(scores)), key=lambda i: (-scores[i].score, i))
        chosen &= set(ranked[:k])
    if min_score is not None:
        chosen &= {i for i, s in enumerate(scores) if s.score >= min_score}
    return sorted(chosen)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_filtered(out_dir: Path, data_paths: Sequence[str], samples: Sequence[Sample],
                   scores: Sequence[SampleScore], kept: Sequence[int], provenance: dict[str, Any]) -> Path:
    stem = Path(data_paths[0]).stem if len(data_paths) == 1 else "data"
    target = out_dir / f"{stem}.filtered.jsonl"
    with target.open("w", encoding="utf-8") as f:
        for i in kept:
            f.write(json.dumps(samples[i].record, ensure_ascii=False) + "\n")
    files = []
    for p in data_paths:
        path = Path(p)
        files.append({"path": str(path.resolve()), "sha256": _sha256(path) if path.is_file() else None})
    record = {**provenance, "inputs": files, "kept": len(kept), "of": len(samples),
              "samples": [{"line_out": n + 1, "from": f"{samples[i].source}:{samples[i].line}",
                           "score": round(scores[i].score, 6)} for n, i in enumerate(kept)]}
    (out_dir / f"{stem}.filtered.provenance.json").write_text(
        json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    return target
