"""Neighbour pass: the k most similar other photos of every photo, without comparing all pairs.

Grouping needs, for each of N embeddings, its top-k neighbours. Asking a vector database N times is
slow in-process (Milvus Lite: ~6 s per 1024 queries at 100k vectors, see `desktop-dedup bench
scale`), and a per-query IVF scan is bound by memory traffic. This module does the whole pass with
dense matrix products instead:

* below EXACT_BELOW vectors: exact, block of rows x all rows;
* above: an inverted-file *join*. Spherical k-means cells (faiss) are trained on a sample; every
  vector is stored in its nearest cell and probes its PROBES nearest cells (an IVF search with
  nprobe = PROBES). The search is turned inside out so that all work is matrix products: for each
  cell, one product of the vectors probing it by the vectors stored in it, merged into each row's
  running top-k. Work ~ N * PROBES * N/nlist * d; memory: the vectors plus one block.

Vectors are L2-normalised (inner product = cosine) and may be float16 (half the memory); blocks are
converted to float32 for the products. Deterministic for a given input and seed.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

import numpy as np

#: Up to this many vectors the pass is exact.
EXACT_BELOW = 8192
#: Cells per vector count: nlist = CELLS_PER_SQRT * sqrt(N).
CELLS_PER_SQRT = 2.0
#: Cells searched per vector (nprobe).
PROBES = 6
_ROWS = 2048  # rows per block of the exact pass / of the cell assignment / of a cell's queries
_MEMBERS = 8192  # stored vectors per block of one cell


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _top(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest entries per row, best first."""
    k = min(k, sims.shape[1])
    if k <= 0:
        return np.empty((len(sims), 0), np.int64), np.empty((len(sims), 0), np.float32)
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else \
        np.tile(np.arange(sims.shape[1]), (len(sims), 1))
    vals = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def all_neighbours(vectors: np.ndarray, k: int, *, floor: Optional[float] = None, seed: int = 0,
                   progress: Optional[Callable[[int, int], None]] = None,
                   cancel: Optional[threading.Event] = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cosines), each N x k: the k nearest other rows of every row, best first; -1 / -inf pads
    (fewer than k rows, or below `floor`). `vectors` must be L2-normalised."""
    n = len(vectors)
    k = max(0, min(k, n - 1))
    rows = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    if k == 0:
        return rows, sims
    if n <= EXACT_BELOW:
        _exact(vectors, k, rows, sims, progress, cancel)
    else:
        _join(vectors, k, rows, sims, seed, progress, cancel)
    if floor is not None:
        low = sims < floor
        rows[low] = -1
        sims[low] = -np.inf
    return rows, sims


def _exact(x, k, rows, sims, progress, cancel) -> None:
    n = len(x)
    full = _f32(x) if x.dtype != np.float32 else x
    for s in range(0, n, _ROWS):
        if cancel is not None and cancel.is_set():
            return
        block = full[s:s + _ROWS] @ full.T
        block[np.arange(len(block)), np.arange(s, s + len(block))] = -np.inf  # not itself
        r, v = _top(block, k)
        rows[s:s + len(block)], sims[s:s + len(block)] = r, v
        if progress:
            progress(min(s + _ROWS, n), n)


def _cells(x: np.ndarray, seed: int):
    """Trained centroids (nlist x d) of a spherical k-means on a sample of x."""
    import faiss

    n, d = x.shape
    nlist = max(2, int(round(CELLS_PER_SQRT * np.sqrt(n))))
    rng = np.random.default_rng(seed)
    sample = _f32(x[np.sort(rng.choice(n, size=min(n, 24 * nlist), replace=False))])
    km = faiss.Kmeans(d, nlist, niter=10, spherical=True, seed=seed, verbose=False,
                      min_points_per_centroid=8, max_points_per_centroid=64)
    km.train(sample)
    return _f32(km.centroids)


def _join(x, k, rows, sims, seed, progress, cancel) -> None:
    n = len(x)
    cent = _cells(x, seed)
    nlist = len(cent)
    probes = min(PROBES, nlist)
    home = np.empty(n, dtype=np.int64)
    noted = np.empty((n, probes), dtype=np.int64)
    for s in range(0, n, _ROWS):
        if cancel is not None and cancel.is_set():
            return
        top, _ = _top(_f32(x[s:s + _ROWS]) @ cent.T, probes)
        noted[s:s + len(top)] = top
        home[s:s + len(top)] = top[:, 0]
    members_order = np.argsort(home, kind="stable")
    members_at = np.searchsorted(home[members_order], np.arange(nlist + 1))
    flat = noted.ravel()
    probing_order = np.argsort(flat, kind="stable")
    probing_at = np.searchsorted(flat[probing_order], np.arange(nlist + 1))
    probing_rows = probing_order // probes
    done = 0
    for cell in range(nlist):
        if cancel is not None and cancel.is_set():
            return
        members = members_order[members_at[cell]:members_at[cell + 1]]
        queries = probing_rows[probing_at[cell]:probing_at[cell + 1]]
        if len(members) == 0 or len(queries) == 0:
            continue
        for t in range(0, len(members), _MEMBERS):  # a huge cell (many near-identical photos) in slices
            part = members[t:t + _MEMBERS]
            m = _f32(x[part])
            for s in range(0, len(queries), _ROWS):
                q = queries[s:s + _ROWS]
                block = _f32(x[q]) @ m.T
                block[q[:, None] == part[None, :]] = -np.inf  # not itself
                r, v = _top(block, k)
                both_v = np.concatenate([sims[q], v], axis=1)
                both_r = np.concatenate([rows[q], np.where(np.isfinite(v), part[r], -1)], axis=1)
                best, sims[q] = _top(both_v, k)
                rows[q] = np.take_along_axis(both_r, best, axis=1)
        done += len(queries)
        if progress:
            progress(done // probes, n)
