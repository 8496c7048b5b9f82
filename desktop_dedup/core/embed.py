"""Batching pipeline: decode + preprocess in a thread pool while the model runs on the previous batch.

Results come back in INPUT ORDER. At most `window` jobs are in flight (decoded or being decoded), so
memory stays bounded however long the job stream is; jobs are pulled from the iterable lazily.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Iterator, Optional, TypeVar

import numpy as np

from desktop_dedup.core.types import SkipFile

J = TypeVar("J")


@dataclass
class EmbedResult(Generic[J]):
    """One job's outcome: `vector` (L2-normalised float32) or `error` (a reason), never both."""

    job: J
    vector: Optional[np.ndarray]
    prepared: Any  # what prepare(job) returned (PIL image or an object with .image); None on error
    error: Optional[str] = None


class _Cancelled(Exception):
    pass


def default_workers() -> int:
    """Decode threads: one per core (decoding and the model overlap; torch releases the GIL)."""
    return max(1, min(os.cpu_count() or 1, 8))


def _wait_while_paused(pause: Optional[threading.Event], cancel: Optional[threading.Event]) -> None:
    while pause is not None and pause.is_set():
        if cancel is not None and cancel.is_set():
            return
        time.sleep(0.05)


def prepare_input(embedder, prepare: Callable[[J], Any], job: J) -> tuple[Any, np.ndarray]:
    """(prepare(job), the model input array). For an embedder with `full_res_input` the decode
    inside prepare is asked (core.decode.model_input) to make the model input from the full-resolution
    pixels; otherwise (or when prepare did not decode through core.decode) it is
    embedder.preprocess(prepared image). Raises what prepare raises; SkipFile("no image")."""
    fn = embedder.preprocess if getattr(embedder, "full_res_input", False) else None
    if fn is None:
        prepared = prepare(job)
    else:
        from desktop_dedup.core.decode import model_input

        with model_input(fn):
            prepared = prepare(job)
    img = getattr(prepared, "image", prepared)
    if img is None:
        raise SkipFile("no image")
    arr = getattr(prepared, "model_input", None)
    return prepared, (arr if arr is not None else embedder.preprocess(img))


def embed_stream(embedder, jobs: Iterable[J], prepare: Callable[[J], Any], *,
                 batch_size: int = 16, workers: Optional[int] = None,
                 cancel: Optional[threading.Event] = None,
                 pause: Optional[threading.Event] = None,
                 window: Optional[int] = None) -> Iterator[EmbedResult[J]]:
    """Yield one EmbedResult per job, in input order.

    prepare(job) runs in a worker thread (see `prepare_input`) and returns a PIL image or an object
    with `.image` (and `.model_input` when made by core.decode for a full-resolution embedder); it may
    raise SkipFile(reason) (-> error=reason) or anything else (-> error="unexpected error: ...").
    embedder.preprocess runs in the worker too; embedder.embed runs in the consuming thread, on
    batches of up to `batch_size` images (at least batch_size // 4 when the next decode is not ready:
    inference overlaps decoding instead of waiting for a full batch). `cancel` set: stop soon, unreported jobs are dropped.
    `pause` set: block (decoding and inference) until it is cleared. `window`: max jobs in flight
    (default 2*batch_size + 2*workers). Exceptions from embedder.embed propagate.
    """
    batch_size = max(1, int(batch_size))
    min_batch = max(1, batch_size // 4)
    workers = workers or default_workers()
    window = max(window or (2 * batch_size + 2 * workers), 1)

    def work(job: J):
        if cancel is not None and cancel.is_set():
            raise _Cancelled()
        _wait_while_paused(pause, cancel)
        if cancel is not None and cancel.is_set():
            raise _Cancelled()
        try:
            prepared, arr = prepare_input(embedder, prepare, job)
            return prepared, arr, None
        except SkipFile as e:
            return None, None, e.reason or "skipped"
        except _Cancelled:
            raise
        except Exception as e:  # noqa: BLE001 - one bad file must not stop the scan
            return None, None, f"unexpected error: {type(e).__name__}: {e}"

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dedup-decode")
    inflight: deque[tuple[J, Future]] = deque()
    it = iter(jobs)
    exhausted = False
    # finished entries waiting for their batch: (job, prepared, array | None, error | None)
    pending: list[tuple[J, Any, Optional[np.ndarray], Optional[str]]] = []
    n_arrays = 0

    def fill() -> None:
        nonlocal exhausted
        while not exhausted and len(inflight) + len(pending) < window and not cancelled():
            try:
                job = next(it)
            except StopIteration:
                exhausted = True
                return
            inflight.append((job, pool.submit(work, job)))

    def flush() -> Iterator[EmbedResult[J]]:
        nonlocal n_arrays
        arrays = [a for _, _, a, _ in pending if a is not None]
        vecs = embedder.embed(np.stack(arrays)) if arrays else None
        k = 0
        out = []
        for job, prepared, a, err in pending:
            if a is None:
                out.append(EmbedResult(job, None, None, err))
            else:
                out.append(EmbedResult(job, vecs[k], prepared, None))
                k += 1
        pending.clear()
        n_arrays = 0
        yield from out

    try:
        fill()
        while inflight:
            if cancelled():
                return
            job, fut = inflight.popleft()
            try:
                prepared, arr, err = fut.result()
            except _Cancelled:
                return
            pending.append((job, prepared, arr, err))
            if arr is not None:
                n_arrays += 1
            fill()
            # flush a full batch; early when only errors are waiting (keeps latency low); and a partial
            # batch (>= min_batch) when the next decode isn't ready yet: the model works meanwhile
            # instead of waiting for a full batch (decode-bound scans, the start of every scan)
            starved = n_arrays >= min_batch and bool(inflight) and not inflight[0][1].done()
            if n_arrays >= batch_size or (n_arrays == 0 and len(pending) >= batch_size) or starved:
                _wait_while_paused(pause, cancel)
                if cancelled():
                    return
                for r in flush():
                    if cancelled():
                        return
                    yield r
        if pending and not cancelled():
            _wait_while_paused(pause, cancel)
            if cancelled():
                return
            for r in flush():
                if cancelled():
                    return
                yield r
    finally:
        for _, fut in inflight:
            fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
