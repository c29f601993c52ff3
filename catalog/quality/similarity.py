"""Nearest neighbours of word sets by Jaccard similarity, vectorised with numpy.

|a ∩ b| is a dot product of 0/1 rows; only words present on both sides can intersect, so the
matrices keep just those columns (set sizes still count every word). Rows are processed in
chunks: memory is (queries + corpus) x shared words, plus chunk x corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

WordSet = frozenset[str]
_CHUNK = 512


def _matrix(sets: Sequence[WordSet], index: dict[str, int]) -> np.ndarray:
    out = np.zeros((len(sets), len(index)), dtype=np.float32)
    for row, words in enumerate(sets):
        out[row, [index[w] for w in words if w in index]] = 1.0
    return out


def nearest(
    queries: Sequence[WordSet], corpus: Sequence[WordSet], *, same: bool = False
) -> list[tuple[float, int]]:
    """For each query, (best Jaccard similarity, index of that corpus set); (0.0, -1) when the
    corpus is empty. `same`: queries and corpus are one list and a set is not its own neighbour."""
    if not corpus or (same and len(corpus) < 2):
        return [(0.0, -1)] * len(queries)
    if same:
        counts = Counter(w for s in corpus for w in s)
        shared = sorted(w for w, n in counts.items() if n >= 2)
    else:
        shared = sorted(set().union(*queries) & set().union(*corpus))
    index = {w: i for i, w in enumerate(shared)}
    corpus_rows = _matrix(corpus, index).T.copy()
    corpus_sizes = np.array([len(s) for s in corpus], dtype=np.float32)
    best: list[tuple[float, int]] = []
    for start in range(0, len(queries), _CHUNK):
        chunk = queries[start : start + _CHUNK]
        inter = _matrix(chunk, index) @ corpus_rows
        sizes = np.array([len(s) for s in chunk], dtype=np.float32)
        union = sizes[:, None] + corpus_sizes[None, :] - inter
        sim = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
        if same:
            rows = np.arange(len(chunk))
            sim[rows, start + rows] = -1.0
        arg = sim.argmax(axis=1)
        best += [(float(sim[r, a]), int(a)) for r, a in enumerate(arg)]
    return best
