"""A small in-memory engine with the Library API of LIBRARY_API.md, for fast widget tests."""
from __future__ import annotations

import os
import shutil
import threading
import time
from datetime import datetime
from typing import Optional

from PIL import Image, ImageDraw

from desktop_dedup.app.views.dialogs import Dialogs
from desktop_dedup.core.types import (DedupError, FileInfo, Group, ModelUnavailableError, ScanProgress, ScanResult,
                                      ScanStats, TrashOutcome, UndoOutcome)


def file_info(path: str, size: int = 0, w: int = 640, h: int = 480, fmt: str = "JPEG") -> FileInfo:
    try:
        size = size or os.path.getsize(path)
        with Image.open(path) as im:
            (w, h), fmt = im.size, im.format
    except OSError:
        size = size or 1000
    return FileInfo(path=path, size=size, mtime=0.0, content_hash=str(hash(path)), width=w, height=h,
                    format=fmt, capture_time="2021-06-01T12:00:00", camera="Fake Camera X1")


def make_group(kind: str, paths: list[str], gid: str, sizes: Optional[list[int]] = None,
               reason: str = "") -> Group:
    sizes = sizes or [0] * len(paths)
    files = [file_info(p, s) for p, s in zip(paths, sizes)]
    return Group(kind=kind, files=files, keep=paths[0], reason=reason or f"{kind} group {gid}", id=gid,
                 similarity=0.97)


def fake_groups(n: int, root: str = "/nonexistent") -> list[Group]:
    kinds = ["exact", "near", "similar"]
    out = []
    for i in range(n):
        k = kinds[i % 3]
        m = 2 + i % 4
        out.append(make_group(k, [f"{root}/g{i}/f{j}.jpg" for j in range(m)], f"g{i}",
                              [1000 * (1 + (i * 7919 + j) % 997) for j in range(m)]))
    return out


def draw_image(path: str, seed: int, size=(240, 180), quality: int = 90) -> str:
    """A simple distinct picture: background colour plus shapes derived from seed."""
    import random

    rnd = random.Random(seed)
    img = Image.new("RGB", size, tuple(rnd.randrange(40, 220) for _ in range(3)))
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rnd.randrange(size[0]), rnd.randrange(size[1])
        x1, y1 = x0 + rnd.randrange(20, size[0] // 2), y0 + rnd.randrange(20, size[1] // 2)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        (d.ellipse if rnd.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=colour)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, quality=quality)
    return path


class FakeLibrary:
    """Library facade double. Groups are given (or built by `scan` from `scan_groups`); trash moves files to
    `trash_dir` when they exist; history and dismissals are kept in memory."""

    def __init__(self, path: str, groups: Optional[list[Group]] = None, scan_files: int = 20,
                 scan_delay: float = 0.0, scan_groups: Optional[list[Group]] = None):
        self.path = path
        os.makedirs(path, exist_ok=True)
        self._groups = list(groups or [])
        self._scan_groups = scan_groups
        self.scan_files = scan_files
        self.scan_delay = scan_delay
        self.trash_dir = os.path.join(path, "_trash")
        self.dismissed: set[str] = set()
        self.actions: list[dict] = []
        self.scans: list[dict] = []
        self.trash_calls: list[tuple[list[str], bool]] = []
        self.closed = False
        self.scanned_files = sum(len(g.files) for g in self._groups)
        self.last_scan = "2024-03-01T10:00:00" if self._groups else None
        self.scan_error: Optional[Exception] = None
        self.refuse: dict[str, str] = {}
        self.thread_ids: set[int] = set()

    # --- API ---
    def close(self) -> None:
        self.closed = True

    def info(self) -> dict:
        self.thread_ids.add(threading.get_ident())
        files = self.scanned_files
        return {"path": self.path, "files": files, "bytes": 1234567 * files, "groups": len(self._groups),
                "last_scan": self.last_scan, "model": "efficientnet-lite0", "roots": [], "milvus_uri": None}

    def groups(self, *, include_dismissed: bool = False) -> list[Group]:
        self.thread_ids.add(threading.get_ident())
        out = []
        for g in self._groups:
            if g.id in self.dismissed and not include_dismissed:
                continue
            files = [f for f in g.files if not self._is_trashed(f.path)]
            if len(files) >= 2:
                keep = g.keep if any(f.path == g.keep for f in files) else files[0].path
                out.append(Group(g.kind, list(files), keep, g.reason, g.similarity, g.id))
        return out

    def _is_trashed(self, path: str) -> bool:
        for a in self.actions:
            if not a["undone"]:
                for f in a["files"]:
                    if f["path"] == path:
                        return True
        return False

    def scan(self, roots, *, exclude=(), model="resnet50", rotations=False, progress=None, cancel=None,
             pause=None) -> ScanResult:
        self.thread_ids.add(threading.get_ident())
        self.scans.append({"roots": list(roots), "exclude": list(exclude), "model": model, "rotations": rotations})
        if self.scan_error is not None:
            raise self.scan_error
        cancel = cancel or threading.Event()
        n = self.scan_files
        t0 = time.monotonic()
        for i in range(n):
            while pause is not None and pause.is_set() and not cancel.is_set():
                time.sleep(0.01)
            if cancel.is_set():
                return ScanResult(list(roots), [], [], ScanStats(files_seen=i, model=model), cancelled=True)
            if self.scan_delay:
                time.sleep(self.scan_delay)
            if progress:
                el = max(1e-6, time.monotonic() - t0)
                progress(ScanProgress("embed", i + 1, n, f"{roots[0]}/IMG_{i:04d}.jpg", (i + 1) / el,
                                      (n - i - 1) / ((i + 1) / el)))
        if progress:
            progress(ScanProgress("group", 0, 0))
            progress(ScanProgress("done", n, n))
        if self._scan_groups is not None:
            self._groups = list(self._scan_groups)
        self.scanned_files = max(self.scanned_files, n)
        self.last_scan = datetime.now().isoformat(timespec="seconds")
        return ScanResult(list(roots), self.groups(), [], ScanStats(files_seen=n, embedded=n, model=model,
                                                                    seconds=time.monotonic() - t0))

    def trash(self, paths, *, unique_ok=False) -> TrashOutcome:
        self.thread_ids.add(threading.get_ident())
        self.trash_calls.append((list(paths), unique_ok))
        out = TrashOutcome()
        kinds = {}
        for g in self._groups:
            for f in g.files:
                kinds.setdefault(f.path, set()).add(g.kind)
        moved = []
        for p in paths:
            if p in self.refuse:
                out.refused.append({"path": p, "reason": self.refuse[p]})
                continue
            if not unique_ok and kinds.get(p) == {"similar"}:
                out.refused.append({"path": p, "reason": "has no duplicate (unique photo); use --unique-ok to "
                                                         "trash it anyway"})
                continue
            dest = ""
            if os.path.exists(p):
                os.makedirs(self.trash_dir, exist_ok=True)
                dest = os.path.join(self.trash_dir, f"{len(self.actions)}_{os.path.basename(p)}")
                shutil.move(p, dest)
            moved.append({"path": p, "trash_path": dest})
        if moved:
            self.actions.append({"id": len(self.actions) + 1, "kind": "trash",
                                 "time": datetime.now().isoformat(timespec="seconds"), "undone": False,
                                 "files": [dict(m, status="done") for m in moved]})
            out.action_id = len(self.actions)
        out.trashed = moved
        return out

    def undo(self, *, all=False) -> UndoOutcome:
        out = UndoOutcome()
        for a in reversed(self.actions):
            if not a["undone"]:
                for f in a["files"]:
                    if f["trash_path"] and os.path.exists(f["trash_path"]):
                        shutil.move(f["trash_path"], f["path"])
                    out.restored.append({"path": f["path"], "trash_path": f["trash_path"]})
                a["undone"] = True
                out.actions.append(a["id"])
                if not all:
                    break
        if not out.actions:
            out.message = "Nothing to undo."
        return out

    def history(self) -> list[dict]:
        return [dict(a) for a in reversed(self.actions)]

    def dismiss_group(self, group_id: str) -> None:
        self.dismissed.add(group_id)

    def file_info(self, path):
        for g in self._groups:
            for f in g.files:
                if f.path == path:
                    return f
        return None

    def settings_get(self, key, default=None):
        return default

    def settings_set(self, key, value):
        pass


class FakeEngine:
    def __init__(self, lib: Optional[FakeLibrary] = None, weights_available: bool = True,
                 download_error: Optional[Exception] = None, open_error: Optional[Exception] = None):
        self.lib = lib
        self.weights_available = weights_available
        self.download_error = download_error
        self.open_error = open_error
        self.downloads: list[str] = []

    def open_library(self, path=None, milvus_uri=None):
        if self.open_error is not None:
            raise self.open_error
        return self.lib

    def default_library_dir(self):
        return self.lib.path

    def weights_status(self, name):
        ok = self.weights_available or name == "efficientnet-lite0"
        return {"path": "/w/x.pth" if ok else None, "available": ok,
                "url": "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
                "filename": "resnet50-11ad3fa6.pth", "target_dir": "/w"}

    def load_embedder(self, name, progress=None):
        self.downloads.append(name)
        if self.download_error is not None:
            raise self.download_error
        total = 100_000_000
        for i in range(1, 6):
            time.sleep(0.01)
            if progress:
                progress(i * total // 5, total)
        self.weights_available = True
        return object()


class FakeDialogs(Dialogs):
    """Answers every question at once; what was asked is in `log` (kind, text)."""

    def __init__(self):
        super().__init__(interactive=False)
        self.answer = True
        self.download_answer = "download"
        self.offline_answer = True
        self.refusals: list[list[dict]] = []
        self.errors: list[tuple[str, str]] = []

    def error(self, parent, message, hint="", detail=""):
        self.errors.append((message, hint))
        super().error(parent, message, hint, detail)

    def confirm(self, parent, title, message, hint="", ok="OK", danger=False):
        self.log.append(("confirm", message))
        return self.answer

    def refused(self, parent, refused, trashed):
        self.refusals.append(list(refused))
        super().refused(parent, refused, trashed)

    def ask_download(self, parent, model_title, url):
        self.log.append(("ask_download", url))
        return self.download_answer

    def model_unavailable(self, parent, message, hint):
        self.log.append(("model_unavailable", message))
        return self.offline_answer


__all__ = ["FakeLibrary", "FakeEngine", "FakeDialogs", "fake_groups", "make_group", "draw_image", "file_info",
           "DedupError", "ModelUnavailableError"]
