"""LibraryController: the one owner of the open Library; every engine call runs as a job on one thread
(so the library is never used by two threads at once) and its result comes back as a signal."""
from __future__ import annotations

import os
from typing import Optional

from PySide6.QtCore import QObject, Signal

from ..jobs import (DismissJob, HistoryJob, JobRunner, LoadGroupsJob, ModelDownloadJob, OpenLibraryJob, ScanJob,
                    TrashJob, UndoJob, WeightsStatusJob, WorkerDownloadJob, WorkerScanJob)


class LibraryController(QObject):
    opened = Signal(dict)
    openFailed = Signal(object)
    groupsLoaded = Signal(list, dict)
    infoChanged = Signal(dict)
    scanProgress = Signal(object)
    scanFinished = Signal(object)
    scanFailed = Signal(object)
    trashed = Signal(object, object)  # TrashOutcome, context
    undone = Signal(object)
    historyLoaded = Signal(list)
    dismissed = Signal(str)
    weightsStatus = Signal(str, dict)
    downloadProgress = Signal(int, int)
    downloadFinished = Signal(str)
    downloadFailed = Signal(object)
    failed = Signal(object, str)  # exception, what we were doing

    def __init__(self, engine, library_path: Optional[str] = None, milvus_uri: Optional[str] = None, parent=None):
        super().__init__(parent)
        self.engine = engine
        self.library_path = library_path
        self.milvus_uri = milvus_uri
        self.lib = None
        self.info: dict = {}
        self.runner = JobRunner(1, self)
        self.aux = JobRunner(1, self)  # model checks and downloads: never queued behind a scan
        self.scan_job: Optional[ScanJob] = None
        self._get_lib = lambda: self.lib
        self._opened_once = False

    @property
    def use_workers(self) -> bool:
        """Scans and downloads run in a child process when the engine allows it (the real one does)."""
        return bool(getattr(self.engine, "subprocess_scans", False))

    # --- state ---
    @property
    def is_open(self) -> bool:
        return self.lib is not None or (self.scan_job is not None and self._opened_once)

    @property
    def scanning(self) -> bool:
        return self.scan_job is not None

    def busy(self) -> bool:
        return self.runner.pending() > 0 or self.aux.pending() > 0

    def path(self) -> Optional[str]:
        lib = self.lib
        if lib is not None:
            self._path = str(lib.path)
        return getattr(self, "_path", None) or self.library_path

    def cache_dir(self) -> Optional[str]:
        p = self.path()
        return os.path.join(p, "thumbnails") if p else None

    # --- open / load ---
    def open(self) -> None:
        self.runner.start(OpenLibraryJob(self.engine, self.library_path, self.milvus_uri),
                          self._opened, self.openFailed.emit)

    def _opened(self, result) -> None:
        self.lib, self.info, groups = result
        self._opened_once = True
        self.path()
        self.opened.emit(self.info)
        self.groupsLoaded.emit(groups, self.info)

    def reload(self) -> None:
        if self.is_open:
            self.runner.start(LoadGroupsJob(self._get_lib), self._loaded, lambda e: self.failed.emit(e, "loading groups"))

    def _loaded(self, result) -> None:
        groups, self.info = result
        self.infoChanged.emit(self.info)
        self.groupsLoaded.emit(groups, self.info)

    def refresh_info(self) -> None:
        if self.is_open:
            self.runner.run_task(lambda: self._get_lib().info(), self._set_info, lambda e: self.failed.emit(e, "reading the library"),
                                 name="info")

    def _set_info(self, info: dict) -> None:
        self.info = info
        self.infoChanged.emit(info)

    # --- scan ---
    def check_weights(self, model: str) -> None:
        self.aux.start(WeightsStatusJob(self.engine, model), lambda st: self.weightsStatus.emit(model, st),
                       lambda e: self.weightsStatus.emit(model, {"available": False, "error": str(e)}))

    def download_model(self, model: str) -> None:
        if self.use_workers:
            log = os.path.join(self.path(), "desktop-dedup-worker.log") if self.path() else None
            job = WorkerDownloadJob(self.engine, model, log)
        else:
            job = ModelDownloadJob(self.engine, model)
        self.aux.start(job, self.downloadFinished.emit, self.downloadFailed.emit,
                       lambda p: self.downloadProgress.emit(int(p[0]), int(p[1] or 0)))

    def start_scan(self, roots: list[str], exclude: list[str], model: str, rotations: bool = False) -> None:
        if self.lib is None or self.scan_job is not None:
            return
        if self.use_workers:
            job = WorkerScanJob(self, roots, exclude, model, rotations)
        else:
            job = ScanJob(self._get_lib, roots, exclude, model, rotations)
        self.scan_job = job
        self.runner.start(job, self._scan_done, self._scan_failed, self.scanProgress.emit)

    def pause_scan(self) -> None:
        if self.scan_job is not None:
            self.scan_job.set_paused(True)

    def resume_scan(self) -> None:
        if self.scan_job is not None:
            self.scan_job.set_paused(False)

    def cancel_scan(self) -> None:
        if self.scan_job is not None:
            self.scan_job.request_cancel()

    def _scan_done(self, result) -> None:
        self.scan_job = None
        self.scanFinished.emit(result)

    def _scan_failed(self, exc) -> None:
        self.scan_job = None
        self.scanFailed.emit(exc)

    # --- review actions ---
    def trash(self, paths: list[str], unique_ok: bool = False, context=None) -> None:
        self.runner.start(TrashJob(self._get_lib, paths, unique_ok), lambda out: self.trashed.emit(out, context),
                          lambda e: self.failed.emit(e, "moving files to the trash"))

    def undo(self) -> None:
        self.runner.start(UndoJob(self._get_lib), self._undone, lambda e: self.failed.emit(e, "undoing"))

    def _undone(self, result) -> None:
        outcome, groups, self.info = result
        self.undone.emit(outcome)
        self.infoChanged.emit(self.info)
        self.groupsLoaded.emit(groups, self.info)

    def load_history(self) -> None:
        if self.is_open:
            self.runner.start(HistoryJob(self._get_lib), self.historyLoaded.emit,
                              lambda e: self.failed.emit(e, "reading the history"))

    def dismiss(self, group_id: str) -> None:
        self.runner.start(DismissJob(self._get_lib, group_id), self.dismissed.emit,
                          lambda e: self.failed.emit(e, "remembering that choice"))

    # --- shutdown ---
    def shutdown(self, timeout_ms: int = 60000) -> bool:
        """Cancel a running scan, wait for every job, close the library (releases its lock)."""
        job = self.scan_job
        if job is not None:
            job.no_reopen = True  # the window is going away: leave the library closed after the scan
        self.cancel_scan()
        self.aux.cancel_all()
        ok = self.runner.wait(timeout_ms)
        if not ok and hasattr(job, "kill"):
            job.kill()  # a child stuck loading the model: stop it (the next scan resumes)
            ok = self.runner.wait(10000)
        for j in list(self.aux._jobs):
            if getattr(j, "worker", None) is not None:
                j.worker.kill()
        ok = self.aux.wait(5000) and ok
        self.scan_job = None
        if self.lib is not None and ok:
            try:
                self.lib.close()
            except Exception:  # noqa: BLE001 - closing must not fail the exit
                pass
            self.lib = None
        return ok
