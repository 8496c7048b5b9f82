"""embed_stream: order, skips, errors, batching, bounded memory, cancel, pause."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from desktop_dedup.core.embed import EmbedResult, embed_stream
from desktop_dedup.core.types import SkipFile


class FakeEmbedder:
    name = "fake"
    dim = 4
    input_size = 8

    def __init__(self, delay: float = 0.0):
        self.batches: list[int] = []
        self.delay = delay

    def preprocess(self, img):
        v = float(img.getpixel((0, 0))[0])
        return np.full((3, 8, 8), v, np.float32)

    def embed(self, batch):
        self.batches.append(len(batch))
        time.sleep(self.delay)
        v = np.zeros((len(batch), 4), np.float32)
        v[:, 0] = batch[:, 0, 0, 0]
        v[:, 1] = 1.0
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def img_for(i: int) -> Image.Image:
    return Image.new("RGB", (8, 8), (i % 256, 0, 0))


def test_order_skips_errors_and_prepared_objects():
    rng = np.random.default_rng(0)
    delays = rng.uniform(0, 0.004, 60)

    def prepare(i):
        time.sleep(delays[i])
        if i % 7 == 3:
            raise SkipFile(f"bad file {i}")
        if i % 11 == 5:
            raise RuntimeError("boom")
        if i % 2:
            return SimpleNamespace(image=img_for(i), meta=i)
        return img_for(i)

    emb = FakeEmbedder()
    out = list(embed_stream(emb, range(60), prepare, batch_size=8, workers=3))
    assert [r.job for r in out] == list(range(60))
    for r in out:
        assert isinstance(r, EmbedResult)
        if r.job % 7 == 3:
            assert r.vector is None and r.error == f"bad file {r.job}" and r.prepared is None
        elif r.job % 11 == 5:
            assert r.vector is None and r.error.startswith("unexpected error") and "boom" in r.error
        else:
            assert r.error is None and r.vector.shape == (4,)
            expected = np.array([r.job, 1.0, 0, 0], np.float32)
            assert np.allclose(r.vector, expected / np.linalg.norm(expected))
            if r.job % 2:
                assert r.prepared.meta == r.job
            else:
                assert isinstance(r.prepared, Image.Image)
    assert max(emb.batches) <= 8 and sum(emb.batches) == sum(r.vector is not None for r in out)
    assert min(emb.batches[:-1]) >= 2  # partial batches (decode not ready) hold >= batch_size // 4


def test_full_batches_when_decoding_is_ahead():
    emb = FakeEmbedder(delay=0.02)  # the model is the slow side: decoded images wait in full batches
    out = list(embed_stream(emb, range(40), img_for, batch_size=8, workers=2))
    assert [r.job for r in out] == list(range(40)) and sum(emb.batches) == 40
    assert emb.batches.count(8) >= len(emb.batches) - 2


def test_partial_batches_keep_the_model_busy_when_decoding_is_slow():
    def slow(i):
        time.sleep(0.01)
        return img_for(i)

    emb = FakeEmbedder()
    out = list(embed_stream(emb, range(32), slow, batch_size=16, workers=2))
    assert [r.job for r in out] == list(range(32)) and sum(emb.batches) == 32
    assert len(emb.batches) > 2 and min(emb.batches[:-1]) >= 4 and max(emb.batches) <= 16


def test_empty_and_all_skipped():
    emb = FakeEmbedder()
    assert list(embed_stream(emb, [], img_for)) == []

    def skip(i):
        raise SkipFile("nope")

    out = list(embed_stream(emb, range(40), skip, batch_size=4))
    assert [r.error for r in out] == ["nope"] * 40 and emb.batches == []


def test_bounded_in_flight_with_lazy_jobs():
    pulled = 0

    def jobs():
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield i

    prepared = []
    emb = FakeEmbedder()
    gen = embed_stream(emb, jobs(), lambda i: prepared.append(i) or img_for(i), batch_size=4, workers=2,
                       window=12)
    consumed = 0
    for r in gen:
        consumed += 1
        assert pulled - consumed <= 12 + 4
        if consumed == 50:
            break
    gen.close()
    time.sleep(0.05)
    assert pulled < 80 and len(prepared) < 80


def test_cancel_stops_quickly_and_drops_pending():
    cancel = threading.Event()
    emb = FakeEmbedder()
    seen = []
    t = time.monotonic()

    def slow(i):
        time.sleep(0.01)
        return img_for(i)

    for r in embed_stream(emb, range(10_000), slow, batch_size=4, workers=2, cancel=cancel):
        seen.append(r.job)
        if len(seen) == 6:
            cancel.set()
    assert seen == list(range(6)) and time.monotonic() - t < 2


def test_cancel_before_start_reports_nothing():
    cancel = threading.Event()
    cancel.set()
    assert list(embed_stream(FakeEmbedder(), range(100), img_for, cancel=cancel)) == []


def test_pause_blocks_until_cleared():
    pause = threading.Event()
    prepared = []
    results = []

    def prep(i):
        prepared.append(i)
        return img_for(i)

    def consume():
        for r in embed_stream(FakeEmbedder(), range(40), prep, batch_size=4, workers=2, pause=pause):
            results.append(r.job)
            if r.job == 9:
                pause.set()

    th = threading.Thread(target=consume)
    th.start()
    deadline = time.monotonic() + 5
    while not pause.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    n_res, n_prep = len(results), len(prepared)
    time.sleep(0.3)
    assert len(results) == n_res and len(prepared) == n_prep and n_res < 40  # nothing moves while paused
    pause.clear()
    th.join(5)
    assert results == list(range(40))


def test_cancel_while_paused_returns():
    pause, cancel = threading.Event(), threading.Event()
    pause.set()
    out = []
    th = threading.Thread(target=lambda: out.extend(
        embed_stream(FakeEmbedder(), range(20), img_for, pause=pause, cancel=cancel)))
    th.start()
    time.sleep(0.1)
    cancel.set()
    th.join(2)
    assert not th.is_alive() and out == []


def test_real_embedder_matches_direct_embedding():
    from desktop_dedup.core.models import load_embedder

    from tests.core.test_models import synth_photo

    emb = load_embedder("efficientnet-lite0", "cpu", precision="fp32")
    imgs = [synth_photo(i, (320, 240)) for i in range(5)]
    direct = emb.embed_images(imgs)
    out = list(embed_stream(emb, range(5), lambda i: imgs[i], batch_size=2, workers=2))
    assert all(r.error is None for r in out)
    got = np.stack([r.vector for r in out])
    assert got.shape == (5, 1280) and np.allclose(got, direct, atol=1e-4)
