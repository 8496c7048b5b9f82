"""ScanController: folders -> (model check, optional weights download) -> background scan -> groups.

Before a ResNet-50 scan it asks the engine whether the weights are on disk; when not, it offers the
download (with progress) or the offline model, and it offers the offline model again when the download
fails (ModelUnavailableError)."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QObject, Signal

from desktop_dedup.core.types import ModelUnavailableError

from ..engine import MODEL_TITLES
from ..errors import friendly
from ..prefs import OFFLINE_MODEL


class ScanController(QObject):
    started = Signal()
    finished = Signal(object)  # ScanResult, or None when nothing ran (cancelled before start / failed)
    message = Signal(str)
    modelChanged = Signal(str)

    def __init__(self, library, prefs, dialogs, progress_view, parent_widget):
        super().__init__(parent_widget)
        self.library = library
        self.prefs = prefs
        self.dialogs = dialogs
        self.view = progress_view
        self.parent_widget = parent_widget
        self._request: Optional[dict] = None
        self._waiting_download = False
        library.weightsStatus.connect(self._weights)
        library.downloadProgress.connect(self._download_progress)
        library.downloadFinished.connect(self._downloaded)
        library.downloadFailed.connect(self._download_failed)
        library.scanProgress.connect(self.view.set_progress)
        library.scanFinished.connect(self._scan_finished)
        library.scanFailed.connect(self._scan_failed)
        progress_view.pauseRequested.connect(library.pause_scan)
        progress_view.resumeRequested.connect(library.resume_scan)
        progress_view.cancelRequested.connect(self.cancel)

    @property
    def active(self) -> bool:
        return self._request is not None

    def request_scan(self, roots: list[str], exclude: list[str], model: Optional[str] = None) -> None:
        if self.active or not roots:
            return
        self._request = {"roots": list(roots), "exclude": list(exclude), "model": model or self.prefs.model,
                         "rotations": self.prefs.rotations}
        self.view.reset()
        self.started.emit()
        if self._request["model"] == OFFLINE_MODEL:
            self._start()
        else:
            self.view.phase.setText("Checking the image model…")
            self.library.check_weights(self._request["model"])

    def _weights(self, model: str, status: dict) -> None:
        if self._request is None or model != self._request["model"] or self._waiting_download:
            return
        if status.get("available") or status.get("error"):
            self._start()  # (a failed check is not a verdict: the engine says exactly what is missing)
            return
        choice = self.dialogs.ask_download(self.parent_widget, MODEL_TITLES.get(model, model), status.get("url", ""))
        if choice == "download":
            self._waiting_download = True
            self.view.set_download(0, 0)
            self.library.download_model(model)
        elif choice == "offline":
            self._use_offline()
        else:
            self._abort("Scan cancelled.")

    def _download_progress(self, done: int, total: int) -> None:
        if self._waiting_download:
            self.view.set_download(done, total)

    def _downloaded(self, model: str) -> None:
        if self._waiting_download and self._request is not None:
            self._waiting_download = False
            self.message.emit(f"{MODEL_TITLES.get(model, model)} is ready.")
            self._start()

    def _download_failed(self, exc) -> None:
        if not self._waiting_download:
            return
        self._waiting_download = False
        self._offer_offline(exc)

    def _offer_offline(self, exc) -> None:
        message, hint = friendly(exc, "getting the image model")
        hint = hint.replace("--model efficientnet-lite0", "EfficientNet-Lite0")
        if self.dialogs.model_unavailable(self.parent_widget, message, hint):
            self._use_offline()
        else:
            self._abort("Scan cancelled: the image model is not available.")

    def _use_offline(self) -> None:
        self.prefs.model = OFFLINE_MODEL
        self._request["model"] = OFFLINE_MODEL
        self.modelChanged.emit(OFFLINE_MODEL)
        self.message.emit("Using EfficientNet-Lite0 (offline model).")
        self._start()

    def _start(self) -> None:
        r = self._request
        self.view.reset()
        self.library.start_scan(r["roots"], r["exclude"], r["model"], r["rotations"])

    def cancel(self) -> None:
        if self.library.scanning:
            self.library.cancel_scan()
        elif self._request is not None:
            self._waiting_download = False
            self._abort("Scan cancelled.")

    def _abort(self, text: str) -> None:
        self._request = None
        self.message.emit(text)
        self.finished.emit(None)

    def _scan_finished(self, result) -> None:
        self._request = None
        if result.cancelled:
            self.message.emit("Scan stopped. The next scan continues where this one left off.")
        else:
            s = result.stats
            skipped = f", {s.skipped} skipped" if s.skipped else ""
            self.message.emit(f"Scanned {s.files_seen:,} files in {s.seconds:.0f} s "
                              f"({s.embedded:,} analysed, {s.reused:,} already known{skipped}).")
        self.finished.emit(result)
        self.library.reload()

    def _scan_failed(self, exc) -> None:
        if isinstance(exc, ModelUnavailableError):
            self._offer_offline(exc)
            return
        self._request = None
        message, hint = friendly(exc, "scanning")
        self.dialogs.error(self.parent_widget, message, hint)
        self.finished.emit(None)
