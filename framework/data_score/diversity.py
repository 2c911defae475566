"""Dataset diversity: near-duplicate clusters and topic clusters from n-grams.

LIMA's lesson (seed 004) is that a small set of varied, good samples beats a large repetitive
one, so the report shows how the samples group. Both parts are n-gram based and need no
model, so they run on any size of data in seconds:

* near duplicates: character 5-gram shingles, MinHash with LSH banding to find candidate
  pairs, confirmed by the exact Jaccard similarity, joined into clusters (union-find);
* topics: hashed word uni/bigrams (character trigrams for unspaced scripts), TF-IDF,
  spherical k-means with a fixed seed; each cluster is reported with its size, its top
  terms and an example file:line.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
_MERSENNE = (1 << 61) - 1


def normalise(text: str) -> str:
    """Lower case and single spaces: copies that differ only in spacing or case are near duplicates."""
    return " ".join(text.lower().split())


def shingles(text: str, k: int = 5) -> set[int]:
    t = normalise(text)
    if len(t) <= k:
        return {zlib.crc32(t.encode("utf-8"))} if t else set()
    return {zlib.crc32(t[i:i + k].encode("utf-8")) for i in range(len(t) - k + 1)}


def _minhash(sets: Sequence[set[int]], perms: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _MERSENNE, size=perms, dtype=np.uint64)
    b = rng.integers(0, _MERSENNE, size=perms, dtype=np.uint64)
    out = np.full((len(sets), perms), np.iinfo(np.uint64).max, dtype=np.uint64)
    for i, s in enumerate(sets):
        if s:
            x = np.fromiter(s, dtype=np.uint64)[:, None]
            out[i] = ((x * a + b) % _MERSENNE).min(axis=0)  # uint64 wraps; still a fixed random hash per row
    return out


def near_duplicate_clusters(texts: Sequence[str], *, threshold: float = 0.8, perms: int = 64,
                            bands: int = 16, seed: int = 0) -> list[list[int]]:
    """Groups (of two or more sample indices, in order) whose texts have Jaccard >= ``threshold``."""
    sets = [shingles(t) for t in texts]
    signatures = _minhash(sets, perms, seed)
    rows = perms // bands
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    checked: set[tuple[int, int]] = set()
    for band in range(bands):
        buckets: dict[bytes, list[int]] = {}
        for i in range(len(texts)):
            if sets[i]:
                buckets.setdefault(signatures[i, band * rows:(band + 1) * rows].tobytes(), []).append(i)
        for members in buckets.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    i, j = members[x], members[y]
                    if (i, j) in checked or find(i) == find(j):
                        continue
                    checked.add((i, j))
                    if len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= threshold:
                        parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(find(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def _features(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    spaced = [w for w in words if len(w) <= 12]
    feats = spaced + [f"{a} {b}" for a, b in zip(spaced, spaced[1:])]
    for w in words:
        if len(w) > 12:  # unspaced scripts (Chinese, Japanese): character trigrams
            feats += [w[i:i + 3] for i in range(len(w) - 2)]
    return feats


def _seeds(matrix: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ starting centroids: each next one far (in cosine) from those already chosen."""
    chosen = [int(rng.integers(len(matrix)))]
    for _ in range(1, k):
        distance = np.clip(1.0 - (matrix @ matrix[chosen].T).max(axis=1), 0.0, None) ** 2
        total = float(distance.sum())
        chosen.append(int(rng.choice(len(matrix), p=distance / total)) if total > 0 else int(rng.integers(len(matrix))))
    return matrix[chosen].copy()


@dataclass(frozen=True)
class TopicClusters:
    labels: list[int]
    sizes: list[int]
    terms: list[list[str]]  # the heaviest features of each centroid
    distinct_2: float  # distinct word bigrams / all word bigrams over the dataset


def topic_clusters(texts: Sequence[str], k: int | None = None, *, dim: int = 2048, seed: int = 0,
                   iterations: int = 25) -> TopicClusters:
    """Spherical k-means over hashed TF-IDF n-grams; ``k`` defaults to about sqrt(n / 2), at most 20."""
    n = len(texts)
    k = max(1, min(n, k or min(20, round((n / 2) ** 0.5) or 1)))
    feats = [_features(t) for t in texts]
    matrix = np.zeros((n, dim), dtype=np.float32)
    names: dict[int, str] = {}
    for i, fs in enumerate(feats):
        for f in fs:
            h = zlib.crc32(f.encode("utf-8")) % dim
            matrix[i, h] += 1.0
            names.setdefault(h, f)
    df = (matrix > 0).sum(axis=0)
    matrix *= np.log((1 + n) / (1 + df)) + 1.0
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms == 0, 1.0, norms)
    centroids = _seeds(matrix, k, np.random.default_rng(seed))
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        new = (matrix @ centroids.T).argmax(axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        for c in range(k):
            members = matrix[labels == c]
            if len(members):
                v = members.sum(axis=0)
                centroids[c] = v / max(float(np.linalg.norm(v)), 1e-12)
    sizes = [int((labels == c).sum()) for c in range(k)]
    terms = [[names[h] for h in np.argsort(-centroids[c])[:5] if centroids[c, h] > 0 and h in names]
             for c in range(k)]
    bigrams = [f for fs in feats for f in fs if " " in f]
    distinct = len(set(bigrams)) / len(bigrams) if bigrams else 1.0
    return TopicClusters([int(x) for x in labels], sizes, terms, distinct)
