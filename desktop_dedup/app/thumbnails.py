"""Thumbnails and previews, made off the GUI thread.

- `load_image(path, max_side)`: an upright RGB Pillow image no larger than max_side (JPEG draft mode, EXIF
  orientation, HEIC through pillow-heif, camera RAW through the engine's decoder).
- `ThumbnailCache`: QPixmaps for the groups list; misses are queued (newest request first, so the rows on
  screen load first), made by pool threads and cached on disk as small JPEGs keyed by path, size and mtime.
- `PreviewJob` / `PairJob`: larger images for the compare view, and the difference of two images.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from typing import Optional

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

from .jobs import Job

THUMB_SIZE = 160
_heif_done = False
_RAW_EXT = {".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2", ".raf", ".pef", ".srw", ".nrw"}


def _register_heif() -> None:
    global _heif_done
    if not _heif_done:
        _heif_done = True
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except Exception:  # pragma: no cover - optional
            pass


def load_image(path: str, max_side: int):
    """Open `path` as an upright RGB image whose long side is at most `max_side` pixels."""
    from PIL import Image, ImageOps  # imported on first use (pool threads), not at window start

    ext = os.path.splitext(path)[1].lower()
    if ext in _RAW_EXT:
        from desktop_dedup.core.decode import decode  # Qt-free engine decoder (rawpy preview)

        img = decode(path, short_side=max_side, full_pixel_hash=False).image
        img.thumbnail((max_side, max_side), Image.LANCZOS)
        return img
    if ext in (".heic", ".heif", ".avif"):
        _register_heif()
    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft("RGB", (max_side, max_side))
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P", "PA"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            bg.alpha_composite(im)
            im = bg
        img = im.convert("RGB")
    img.thumbnail((max_side, max_side), Image.BILINEAR if max(img.size) > 3 * max_side else Image.LANCZOS)
    return img


def pil_to_qimage(img) -> QImage:
    """A QImage that owns its pixels (safe to create on any thread)."""
    img = img.convert("RGBA")
    data = img.tobytes("raw", "RGBA")
    return QImage(data, img.width, img.height, img.width * 4, QImage.Format_RGBA8888).copy()


def cache_key(path: str) -> str:
    try:
        st = os.stat(path)
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "missing"
    return hashlib.sha1(f"{path}|{stamp}|{THUMB_SIZE}".encode("utf-8", "surrogateescape")).hexdigest()


def make_thumbnail(path: str, cache_dir: Optional[str]) -> Optional[QImage]:
    """Read the disk cache or make the thumbnail (and store it); None when the file cannot be read."""
    disk = None
    if cache_dir:
        key = cache_key(path)
        disk = os.path.join(cache_dir, key[:2], key + ".jpg")
        if os.path.exists(disk):
            img = QImage(disk)
            if not img.isNull():
                return img
    try:
        pil = load_image(path, THUMB_SIZE)
    except Exception:
        return None
    if disk:
        try:
            os.makedirs(os.path.dirname(disk), exist_ok=True)
            tmp = disk + f".{threading.get_ident()}.tmp"
            pil.save(tmp, "JPEG", quality=85)
            os.replace(tmp, disk)
        except OSError:
            pass
    return pil_to_qimage(pil)


class _ThumbSignals(QObject):
    ready = Signal(str, object)  # path, QImage or None


class _ThumbWorker(QRunnable):
    def __init__(self, cache: "ThumbnailCache"):
        super().__init__()
        self.cache = cache

    def run(self) -> None:
        while True:
            path = self.cache._next_request()
            if path is None:
                return
            img = make_thumbnail(path, self.cache.cache_dir)
            self.cache._signals.ready.emit(path, img)


class ThumbnailCache(QObject):
    """Pixmaps by path; `get()` never blocks: it answers None and emits `ready(path)` when made."""

    ready = Signal(str)

    def __init__(self, cache_dir: Optional[str] = None, threads: int = 2, memory_items: int = 3000,
                 parent: Optional[QObject] = None):
        super().__init__(parent)
        self.cache_dir = cache_dir
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._threads = threads
        self._mem: OrderedDict[str, Optional[QPixmap]] = OrderedDict()
        self._memory_items = memory_items
        self._lock = threading.Lock()
        self._queue: list[str] = []
        self._queued: set[str] = set()
        self._in_flight: set[str] = set()
        self._workers = 0
        self._signals = _ThumbSignals()
        self._signals.ready.connect(self._on_ready)

    def set_cache_dir(self, path: Optional[str]) -> None:
        self.cache_dir = path

    def get(self, path: str) -> Optional[QPixmap]:
        if path in self._mem:
            self._mem.move_to_end(path)
            return self._mem[path]
        self.request(path)
        return None

    def has(self, path: str) -> bool:
        return path in self._mem

    def request(self, path: str) -> None:
        with self._lock:
            if path in self._in_flight:
                return
            if path in self._queued:
                self._queue.remove(path)
            self._queued.add(path)
            self._queue.append(path)
            start = self._workers < self._threads
            if start:
                self._workers += 1
        if start:
            self.pool.start(_ThumbWorker(self))

    def _next_request(self) -> Optional[str]:
        with self._lock:
            if not self._queue:
                self._workers -= 1
                return None
            path = self._queue.pop()  # newest first: what is on screen now
            self._queued.discard(path)
            self._in_flight.add(path)
            return path

    def _on_ready(self, path: str, img) -> None:
        with self._lock:
            self._in_flight.discard(path)
        self._mem[path] = QPixmap.fromImage(img) if img is not None else None
        while len(self._mem) > self._memory_items:
            self._mem.popitem(last=False)
        self.ready.emit(path)

    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + len(self._in_flight)

    def clear_queue(self) -> None:
        with self._lock:
            self._queued.clear()
            self._queue.clear()

    def forget(self, path: str) -> None:
        self._mem.pop(path, None)

    def wait(self, msecs: int = 10000) -> bool:
        self.clear_queue()
        return self.pool.waitForDone(msecs)


class PreviewJob(Job):
    """One compare-view image: (path, QImage or None, error text)."""

    name = "preview"

    def __init__(self, path: str, max_side: int = 2048):
        super().__init__()
        self.path, self.max_side = path, max_side

    def work(self):
        try:
            return self.path, pil_to_qimage(load_image(self.path, self.max_side)), ""
        except Exception as exc:  # noqa: BLE001 - shown in place of the picture
            return self.path, None, f"Cannot show this file: {exc}"


class PairJob(Job):
    """Two images at one size for flicker, and their amplified difference: dict or error text."""

    name = "pair"

    def __init__(self, path_a: str, path_b: str, max_side: int = 1600):
        super().__init__()
        self.a, self.b, self.max_side = path_a, path_b, max_side

    def work(self):
        from PIL import Image, ImageChops, ImageOps

        try:
            a = load_image(self.a, self.max_side)
            b = load_image(self.b, self.max_side).resize(a.size, Image.LANCZOS)
        except Exception as exc:  # noqa: BLE001
            return {"a": self.a, "b": self.b, "error": f"Cannot compare these files: {exc}"}
        diff = ImageChops.difference(a, b).convert("L")
        hist = diff.histogram()
        total = max(1, a.width * a.height)
        mean = sum(i * n for i, n in enumerate(hist)) / total / 255.0
        changed = sum(hist[16:]) / total
        amplified = diff.point(lambda v: min(255, v * 4))
        heat = ImageOps.colorize(amplified, black="#0b0d12", white="#ffd34d", mid="#e8503a")
        return {"a": self.a, "b": self.b, "img_a": pil_to_qimage(a), "img_b": pil_to_qimage(b),
                "diff": pil_to_qimage(heat), "mean": mean, "changed": changed, "error": ""}
