"""knn.all_neighbours: the grouping pass's top-k neighbours, exact for small sets, IVF join above."""
import threading

import numpy as np
import pytest

from desktop_dedup.core import knn


def _clustered(n: int, dim: int = 48, seed: int = 0, planted: int = 60) -> tuple[np.ndarray, list]:
    """Photo-like vectors: noisy mixtures of a few hundred 'scenes', plus planted near-duplicates."""
    rng = np.random.default_rng(seed)
    scenes = rng.normal(size=(300, dim))
    a, b = rng.integers(0, 300, n), rng.integers(0, 300, n)
    w = rng.uniform(0, 0.5, (n, 1))
    v = (1 - w) * scenes[a] + w * scenes[b] + rng.normal(0, 0.6, (n, dim))
    pairs = []
    for i in range(planted):
        src, dst = int(rng.integers(0, n // 2)), n // 2 + i
        v[dst] = v[src] + rng.normal(0, 0.15, dim)  # cosine ~0.99
        pairs.append((src, dst))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float32), pairs


def _exact(v: np.ndarray, k: int) -> np.ndarray:
    s = v @ v.T
    np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1, kind="stable")[:, :k], s


def test_exact_pass_matches_brute_force_and_excludes_itself():
    v, _ = _clustered(700)
    rows, sims = knn.all_neighbours(v, 10)
    want, s = _exact(v, 10)
    assert rows.shape == (700, 10) and (rows != np.arange(700)[:, None]).all()
    assert np.array_equal(rows, want)
    np.testing.assert_allclose(sims, np.take_along_axis(s, want, axis=1), atol=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-7).all()  # best first


def test_floor_and_small_inputs():
    v, _ = _clustered(50, planted=5)
    rows, sims = knn.all_neighbours(v, 5, floor=0.9)
    assert ((sims >= 0.9) | (rows == -1)).all() and (np.isneginf(sims) == (rows == -1)).all()
    r1, s1 = knn.all_neighbours(v[:1], 5)
    assert r1.shape == (1, 0)
    r3, _ = knn.all_neighbours(v[:3], 5)  # fewer rows than k: every other row
    assert sorted(r3[0].tolist()) == [1, 2]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_join_finds_planted_duplicates_and_most_neighbours(monkeypatch, dtype):
    monkeypatch.setattr(knn, "EXACT_BELOW", 100)  # force the IVF join on a test-sized set
    v, planted = _clustered(3000, planted=80)
    rows, sims = knn.all_neighbours(v.astype(dtype), 10)
    for a, b in planted:  # near-duplicates are found (from one side or the other)
        assert b in rows[a] or a in rows[b], (a, b)
    want, s = _exact(v, 10)
    recall = np.mean([len(set(rows[i]) & set(want[i])) / 10 for i in range(len(v))])
    assert recall >= 0.75, recall  # 0.82 measured: 48-d noisy mixtures are a hard case for any IVF
    ok = rows >= 0  # reported cosines are the true ones
    np.testing.assert_allclose(sims[ok], s[np.nonzero(ok)[0], rows[ok]], atol=2e-3 if dtype == np.float16 else 1e-5)
    again = knn.all_neighbours(v.astype(dtype), 10)  # deterministic
    assert np.array_equal(again[0], rows)


def test_cancel_stops_early(monkeypatch):
    monkeypatch.setattr(knn, "EXACT_BELOW", 100)
    v, _ = _clustered(2000)
    cancel = threading.Event()
    cancel.set()
    rows, _ = knn.all_neighbours(v, 5, cancel=cancel)
    assert (rows == -1).all()


def test_many_identical_vectors_stay_in_bounded_blocks(monkeypatch):
    """A library of near-identical frames puts most vectors in one cell: it is processed in slices."""
    monkeypatch.setattr(knn, "EXACT_BELOW", 100)
    monkeypatch.setattr(knn, "_MEMBERS", 256)
    rng = np.random.default_rng(5)
    base = rng.normal(size=32)
    v = base + rng.normal(0, 0.01, (1500, 32))
    v[1000:] = rng.normal(size=(500, 32))  # and some distinct photos
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rows, sims = knn.all_neighbours(v.astype(np.float32), 5)
    assert (rows[:1000] >= 0).all() and (rows[:1000] < 1000).all()  # a frame's neighbours are frames
    assert (sims[:1000] > 0.99).all()
