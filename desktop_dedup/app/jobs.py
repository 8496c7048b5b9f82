"""Background work: one small QRunnable class per operation, results posted to the GUI thread.

`Job.run()` calls `work()` on a pool thread and emits `signals.done(result)` or `signals.failed(exc)`;
the signal objects live in the GUI thread, so connected callables run there (the Picard `run_task` idea,
TagStudio's small runnable that emits `done`, Vorta's one class per job).
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class JobSignals(QObject):
    done = Signal(object)
    failed = Signal(object)
    progress = Signal(object)


class Job(QRunnable):
    """Base class: subclasses implement `work()` and may call `self.report(value)` for progress."""

    name = "job"

    def __init__(self) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the runner keeps the Python object alive until its result is delivered
        self.signals = JobSignals()
        self.cancel = threading.Event()

    def work(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def report(self, value: Any) -> None:
        self.signals.progress.emit(value)

    def run(self) -> None:
        try:
            result = self.work()
        except BaseException as exc:  # noqa: BLE001 - every failure goes to the GUI as a value
            exc.traceback_text = traceback.format_exc()
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(result)


class FunctionJob(Job):
    """Run any callable in the background (for one-off engine calls)."""

    def __init__(self, func: Callable[[], Any], name: str = "task"):
        super().__init__()
        self.func = func
        self.name = name

    def work(self) -> Any:
        return self.func()


class JobRunner(QObject):
    """A thread pool plus the set of jobs whose results are not yet delivered."""

    idle = Signal()

    def __init__(self, max_threads: int = 1, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._jobs: set[Job] = set()

    def start(self, job: Job, on_done: Optional[Callable] = None, on_failed: Optional[Callable] = None,
              on_progress: Optional[Callable] = None) -> Job:
        self._jobs.add(job)
        job.signals.done.connect(lambda result, j=job: self._finish(j, on_done, result))
        job.signals.failed.connect(lambda exc, j=job: self._finish(j, on_failed, exc))
        if on_progress is not None:
            job.signals.progress.connect(on_progress)
        self.pool.start(job)
        return job

    def run_task(self, func: Callable[[], Any], on_done: Optional[Callable] = None,
                 on_failed: Optional[Callable] = None, name: str = "task") -> Job:
        return self.start(FunctionJob(func, name), on_done, on_failed)

    def _finish(self, job: Job, callback: Optional[Callable], value: Any) -> None:
        self._jobs.discard(job)
        try:
            if callback is not None:
                callback(value)
        finally:
            if not self._jobs:
                self.idle.emit()

    def pending(self) -> int:
        return len(self._jobs)

    def running(self, name: str) -> bool:
        return any(j.name == name for j in self._jobs)

    def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel.set()

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)


# --- engine jobs -----------------------------------------------------------------------------------------


class OpenLibraryJob(Job):
    name = "open"

    def __init__(self, engine, path: Optional[str], milvus_uri: Optional[str]):
        super().__init__()
        self.engine, self.path, self.milvus_uri = engine, path, milvus_uri

    def work(self):
        lib = self.engine.open_library(self.path, milvus_uri=self.milvus_uri)
        return lib, lib.info(), lib.groups()


def _need(lib):
    if lib is None:
        from desktop_dedup.core.types import DedupError

        raise DedupError("The library is not open.", "Restart Desktop Dedup; if that does not help, see the log.")
    return lib


class LibraryJob(Job):
    """A job on the open library; `get_lib()` is asked when the job runs (the library may be reopened)."""

    def __init__(self, get_lib: Callable[[], Any]):
        super().__init__()
        self.get_lib = get_lib

    @property
    def lib(self):
        return _need(self.get_lib())


class LoadGroupsJob(LibraryJob):
    name = "groups"

    def work(self):
        lib = self.lib
        return lib.groups(), lib.info()


class ScanJob(LibraryJob):
    """Library.scan in this process, with pause / resume / cancel; progress throttled to ~15 a second."""

    name = "scan"
    MIN_INTERVAL = 0.066

    def __init__(self, get_lib, roots: list[str], exclude: list[str], model: str, rotations: bool = False):
        super().__init__(get_lib)
        self.roots, self.exclude, self.model, self.rotations = roots, exclude, model, rotations
        self.pause = threading.Event()
        self.no_reopen = False
        self._last = 0.0
        self._phase = None

    def set_paused(self, paused: bool) -> None:
        (self.pause.set if paused else self.pause.clear)()

    def request_cancel(self) -> None:
        self.cancel.set()
        self.pause.clear()

    def _progress(self, p) -> None:
        now = time.monotonic()
        if p.phase != self._phase or p.phase == "done" or now - self._last >= self.MIN_INTERVAL \
                or (p.total and p.done >= p.total):
            self._phase = p.phase
            self._last = now
            self.report(p)

    def work(self):
        return self.lib.scan(list(self.roots), exclude=list(self.exclude), model=self.model,
                             rotations=self.rotations, progress=self._progress,
                             cancel=self.cancel, pause=self.pause)


class WorkerScanJob(ScanJob):
    """The same scan in a child process (see scan_worker): the library is closed here meanwhile (the child
    takes its lock) and reopened afterwards, so torch and Milvus never load in the window's process."""

    def __init__(self, controller, roots, exclude, model, rotations=False):
        super().__init__(lambda: controller.lib, roots, exclude, model, rotations)
        self.controller = controller
        self.worker = None
        self._wlock = threading.Lock()

    def set_paused(self, paused: bool) -> None:
        super().set_paused(paused)
        self._send("pause" if paused else "resume")

    def request_cancel(self) -> None:
        super().request_cancel()
        self._send("cancel")

    def kill(self) -> None:
        with self._wlock:
            if self.worker is not None:
                self.worker.kill()

    def _send(self, command: str) -> None:
        with self._wlock:
            if self.worker is not None:
                self.worker.send(command)

    def _event(self, ev: dict) -> None:
        from desktop_dedup.core.types import ScanProgress

        if ev.get("event") == "progress":
            self._progress(ScanProgress(ev["phase"], ev.get("done", 0), ev.get("total", 0), ev.get("current", ""),
                                        ev.get("rate", 0.0), ev.get("eta")))

    def work(self):
        from .scan_worker import WorkerProcess, result_from_dict

        ctl = self.controller
        path, uri = ctl.path(), ctl.milvus_uri
        lib, ctl.lib = ctl.lib, None
        _need(lib).close()
        try:
            spec = {"library": path, "milvus_uri": uri, "roots": list(self.roots), "exclude": list(self.exclude),
                    "model": self.model, "rotations": self.rotations}
            with self._wlock:
                self.worker = WorkerProcess(spec, os.path.join(path, "desktop-dedup-worker.log"))
                if self.pause.is_set():
                    self.worker.send("pause")
                if self.cancel.is_set():
                    self.worker.send("cancel")
            return result_from_dict(self.worker.run(self._event))
        finally:
            if not self.no_reopen:
                ctl.lib = ctl.engine.open_library(path, milvus_uri=uri)


class TrashJob(LibraryJob):
    name = "trash"

    def __init__(self, get_lib, paths: list[str], unique_ok: bool = False):
        super().__init__(get_lib)
        self.paths, self.unique_ok = list(paths), unique_ok

    def work(self):
        return self.lib.trash(self.paths, unique_ok=self.unique_ok)


class UndoJob(LibraryJob):
    name = "undo"

    def work(self):
        lib = self.lib
        outcome = lib.undo()
        return outcome, lib.groups(), lib.info()


class HistoryJob(LibraryJob):
    name = "history"

    def work(self):
        return self.lib.history()


class DismissJob(LibraryJob):
    name = "dismiss"

    def __init__(self, get_lib, group_id: str):
        super().__init__(get_lib)
        self.group_id = group_id

    def work(self):
        self.lib.dismiss_group(self.group_id)
        return self.group_id


class WeightsStatusJob(Job):
    name = "weights"

    def __init__(self, engine, model: str):
        super().__init__()
        self.engine, self.model = engine, model

    def work(self):
        return self.engine.weights_status(self.model)


class ModelDownloadJob(Job):
    """Fetch (and load once) a model's weights; progress is (done_bytes, total_bytes)."""

    name = "download"

    def __init__(self, engine, model: str):
        super().__init__()
        self.engine, self.model = engine, model
        self._last = 0.0

    def _progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last >= 0.1 or (total and done >= total):
            self._last = now
            self.report((done, total))

    def work(self):
        self.engine.load_embedder(self.model, progress=self._progress)
        return self.model


class WorkerDownloadJob(ModelDownloadJob):
    """The download in a child process (loading the model there, not in the window's process)."""

    def __init__(self, engine, model: str, log_path: Optional[str] = None):
        super().__init__(engine, model)
        self.log_path = log_path
        self.worker = None

    def work(self):
        from .scan_worker import WorkerProcess

        self.worker = WorkerProcess({"download": self.model}, self.log_path)
        self.worker.run(lambda ev: self._progress(int(ev.get("done", 0)), int(ev.get("total", 0)))
                        if ev.get("event") == "download" else None)
        return self.model
