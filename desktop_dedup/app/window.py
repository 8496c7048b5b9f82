"""MainWindow: the pages (opening, first run, scanning, review), menus, shortcuts and status bar.

The window shows at once; the library opens in a background job, and torch is only imported by
Library.scan on its worker thread.
"""
from __future__ import annotations

import os

from desktop_dedup import resources_dir
from typing import Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMainWindow, QSplitter, QStackedWidget, QToolButton,
                               QVBoxLayout, QWidget)

from desktop_dedup import APP_DISPLAY_NAME

from . import errors
from .controllers.library import LibraryController
from .controllers.review import ReviewController
from .controllers.scan import ScanController
from .engine import Engine
from .fmt import human_bytes, human_time
from .models.groups_model import GroupsModel
from .prefs import Prefs
from .thumbnails import ThumbnailCache
from .views.about import show_about
from .views.compare import CompareView
from .views.dialogs import Dialogs
from .views.first_run import FirstRunView, folders_from_mime
from .views.groups import GroupsView
from .views.help_overlay import HelpOverlay
from .views.history import HistoryView
from .views.progress import ProgressView
from .views.settings import SettingsView

RESOURCES = resources_dir()


def app_icon() -> QIcon:
    icon = QIcon()
    for size in (16, 32, 48, 64, 128, 256, 512):
        path = os.path.join(RESOURCES, f"icon-{size}.png")
        if os.path.exists(path):
            icon.addFile(path)
    svg = os.path.join(RESOURCES, "icon.svg")
    if icon.isNull() and os.path.exists(svg):
        icon.addFile(svg)
    return icon


class MainWindow(QMainWindow):
    """The whole app. `engine`, `prefs` and `dialogs` are injectable (tests pass fakes)."""

    libraryReady = Signal()
    firstShown = Signal()

    def __init__(self, engine=None, prefs: Optional[Prefs] = None, library_path: Optional[str] = None,
                 milvus_uri: Optional[str] = None, dialogs: Optional[Dialogs] = None, open_library: bool = True):
        super().__init__()
        self.engine = engine or Engine()
        self.prefs = prefs or Prefs()
        self.dialogs = dialogs or Dialogs()
        self._shown_once = False
        self._closing = False
        self._ready = False
        self.setWindowTitle(APP_DISPLAY_NAME)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setMinimumSize(960, 640)

        self.library = LibraryController(self.engine, library_path, milvus_uri, self)
        self.thumbnails = ThumbnailCache(parent=self)
        self.groups_model = GroupsModel(self.thumbnails, self)

        # pages
        self.pages = QStackedWidget()
        self.loading = QLabel("Opening your library…")
        self.loading.setAlignment(Qt.AlignCenter)
        self.loading.setProperty("role", "subtitle")
        self.first_run = FirstRunView()
        self.progress = ProgressView()
        self.review = QWidget()
        self.groups_view = GroupsView(self.groups_model)
        self.compare = CompareView()
        self._build_review_page()
        for page in (self.loading, self.first_run, self.progress, self.review):
            self.pages.addWidget(page)
        self.setCentralWidget(self.pages)
        self.help = HelpOverlay(self.pages)

        self.review_ctl = ReviewController(self.library, self.groups_model, self.groups_view, self.compare,
                                           self.dialogs, self)
        self.scan_ctl = ScanController(self.library, self.prefs, self.dialogs, self.progress, self)
        self.history_view: Optional[HistoryView] = None

        self._build_status_bar()
        self._build_actions()
        self._wire()
        self._restore_prefs()
        if open_library:
            QTimer.singleShot(0, self.library.open)

    # --- construction ---
    def _build_review_page(self) -> None:
        lay = QVBoxLayout(self.review)
        lay.setContentsMargins(8, 6, 8, 0)
        lay.setSpacing(2)
        bar = QHBoxLayout()
        bar.setContentsMargins(8, 2, 4, 2)
        title = QLabel(APP_DISPLAY_NAME)
        title.setStyleSheet("font-size: 13pt; font-weight: 600;")
        bar.addWidget(title)
        bar.addStretch(1)
        self.bar_buttons = {}
        for key, text, tip in (("undo", "↶ Undo", "Undo the last trash (Ctrl+Z)"),
                               ("history", "History", "Everything you trashed, with undo"),
                               ("rescan", "Scan again", "Look for new and changed photos (Ctrl+R)"),
                               ("folders", "Folders…", "Change the folders to scan"),
                               ("settings", "Settings", "Model and exclusions"),
                               ("help", "?", "Keyboard shortcuts (F1)")):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setToolButtonStyle(Qt.ToolButtonTextOnly)
            bar.addWidget(b)
            self.bar_buttons[key] = b
        lay.addLayout(bar)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.groups_view)
        split.addWidget(self.compare)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 900])
        split.setChildrenCollapsible(False)
        self.groups_view.setMinimumWidth(330)
        self.splitter = split
        lay.addWidget(split, 1)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        sb.setSizeGripEnabled(False)
        self.library_label = QLabel("")
        self.library_label.setProperty("role", "muted")
        sb.addPermanentWidget(self.library_label)

    def _action(self, text: str, keys, slot, *, context=Qt.WindowShortcut, menu=None) -> QAction:
        a = QAction(text, self)
        if keys:
            seqs = [QKeySequence(k) for k in (keys if isinstance(keys, (list, tuple)) else [keys])]
            a.setShortcuts(seqs)
        a.setShortcutContext(context)
        a.triggered.connect(slot)
        self.addAction(a)
        if menu is not None:
            menu.addAction(a)
        return a

    def _build_actions(self) -> None:
        mb = self.menuBar()
        m_file = mb.addMenu("&File")
        m_edit = mb.addMenu("&Edit")
        m_review = mb.addMenu("&Review")
        m_view = mb.addMenu("&View")
        m_help = mb.addMenu("&Help")
        A = self._action
        self.act_folders = A("Choose folders…", "Ctrl+O", self.show_first_run, menu=m_file)
        self.act_rescan = A("Scan again", "Ctrl+R", self.rescan, menu=m_file)
        m_file.addSeparator()
        self.act_settings = A("Settings…", "Ctrl+,", self.open_settings, menu=m_file)
        m_file.addSeparator()
        self.act_quit = A("Quit", "Ctrl+Q", self.close, menu=m_file)
        self.act_undo = A("Undo", ["Ctrl+Z", "Z"], self.review_ctl.undo, menu=m_edit)
        self.act_history = A("History…", "Ctrl+H", self.open_history, menu=m_edit)
        self.review_actions = [
            A("Next group", ["J", "PgDown"], self.groups_view.next_group, menu=m_review),
            A("Previous group", ["Shift+J", "PgUp"], self.groups_view.previous_group, menu=m_review),
            A("Next file", "Right", lambda: self.compare.move_current(1), menu=m_review),
            A("Previous file", "Left", lambda: self.compare.move_current(-1), menu=m_review),
        ]
        m_review.addSeparator()
        self.act_keep = A("Keep this file, trash the rest", "K", self.review_ctl.keep_current, menu=m_review)
        self.act_trash = A("Trash this file", "T", self.review_ctl.trash_current, menu=m_review)
        self.act_keep_suggested = A("Keep ★, trash the rest", "Shift+K", self.review_ctl.keep_suggested,
                                    menu=m_review)
        self.act_skip = A("Skip", "S", self.review_ctl.skip, menu=m_review)
        self.act_dismiss = A("Not a duplicate", "N", self.review_ctl.dismiss, menu=m_review)
        m_review.addSeparator()
        self.act_batch = A("Trash all identical copies…", None, self.review_ctl.trash_all_exact, menu=m_review)
        self.review_actions += [self.act_keep, self.act_trash, self.act_keep_suggested, self.act_skip,
                                self.act_dismiss, self.act_batch]
        self.act_mode = A("Side by side / difference / flicker", "D", self.cycle_mode, menu=m_view)
        self.act_fit = A("Fit", "0", self.compare.fit, menu=m_view)
        self.act_actual = A("100 %", "1", self.compare.actual_size, menu=m_view)
        self.act_zoom_in = A("Zoom in", ["+", "="], self.compare.zoom_in, menu=m_view)
        self.act_zoom_out = A("Zoom out", "-", self.compare.zoom_out, menu=m_view)
        self.review_actions += [self.act_mode, self.act_fit, self.act_actual, self.act_zoom_in, self.act_zoom_out]
        self.act_help = A("Keyboard shortcuts", ["F1", "?"], self.help.toggle, menu=m_help)
        self.act_about = A(f"About {APP_DISPLAY_NAME}", None, lambda: show_about(self), menu=m_help)
        self.bar_buttons["undo"].clicked.connect(self.review_ctl.undo)
        self.bar_buttons["history"].clicked.connect(self.open_history)
        self.bar_buttons["rescan"].clicked.connect(self.rescan)
        self.bar_buttons["folders"].clicked.connect(self.show_first_run)
        self.bar_buttons["settings"].clicked.connect(self.open_settings)
        self.bar_buttons["help"].clicked.connect(self.help.toggle)

    def _wire(self) -> None:
        lib = self.library
        lib.opened.connect(self._opened)
        lib.openFailed.connect(self._open_failed)
        lib.groupsLoaded.connect(self._groups_loaded)
        lib.infoChanged.connect(self._update_status)
        lib.historyLoaded.connect(self._history_loaded)
        lib.failed.connect(self._failed)
        self.first_run.scanRequested.connect(self.start_scan)
        self.first_run.settingsRequested.connect(self.open_settings)
        self.first_run.backRequested.connect(self.show_review)
        self.first_run.foldersChanged.connect(lambda folders: setattr(self.prefs, "folders", folders))
        self.scan_ctl.started.connect(lambda: self.set_page(self.progress))
        self.scan_ctl.finished.connect(self._scan_finished)
        self.scan_ctl.message.connect(self.show_message)
        self.scan_ctl.modelChanged.connect(self.first_run.set_model)
        self.review_ctl.message.connect(self.show_message)
        self.pages.currentChanged.connect(self._page_changed)
        self.set_page(self.loading)

    def _restore_prefs(self) -> None:
        self.first_run.set_folders(self.prefs.folders)
        self.first_run.set_exclusions(self.prefs.exclusions)
        self.first_run.set_model(self.prefs.model)
        geo = self.prefs.geometry("geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 820)
        split = self.prefs.geometry("splitter")
        if split is not None:
            self.splitter.restoreState(split)

    # --- pages ---
    def set_page(self, page: QWidget) -> None:
        self.pages.setCurrentWidget(page)
        self._page_changed()

    def _page_changed(self, *_args) -> None:
        on_review = self.pages.currentWidget() is self.review
        for a in self.review_actions:
            a.setEnabled(on_review)
        self.act_rescan.setEnabled(self.library.is_open and not self.scan_ctl.active and bool(self.prefs.folders))
        self.act_folders.setEnabled(not self.scan_ctl.active)
        if on_review:
            self.groups_view.list.setFocus()

    def show_first_run(self) -> None:
        if self.scan_ctl.active:
            return
        self.first_run.set_folders(self.prefs.folders or self.library.info.get("roots", []))
        self.first_run.set_can_go_back(bool(self.library.info.get("files")) or self.groups_model.rowCount() > 0)
        self.set_page(self.first_run)

    def show_review(self) -> None:
        self.set_page(self.review)

    # --- library ---
    def _opened(self, info: dict) -> None:
        path = info.get("path") or self.library.path()
        if path:
            errors.set_log_dir(path)
            self.thumbnails.set_cache_dir(os.path.join(path, "thumbnails"))
        if not self.prefs.folders and info.get("roots"):
            self.prefs.folders = list(info["roots"])
            self.first_run.set_folders(self.prefs.folders)
        self._update_status(info)

    def _open_failed(self, exc) -> None:
        message, hint = errors.friendly(exc, "opening the library")
        self.loading.setText(f"{message}\n{hint}")
        self.dialogs.error(self, message, hint)
        self._ready = True
        self.libraryReady.emit()

    def _groups_loaded(self, groups: list, info: dict) -> None:
        self.groups_model.set_groups(groups)
        if not self.scan_ctl.active and self.pages.currentWidget() in (self.loading, self.review):
            if info.get("files") or groups:
                self.show_review()
            else:
                self.set_page(self.first_run)
        if not self._ready:
            self._ready = True
            self.libraryReady.emit()
        self._page_changed()

    def _update_status(self, info: dict) -> None:
        if not info:
            return
        if info.get("files"):
            self.library_label.setText(
                f"{info.get('files', 0):,} photos · {human_bytes(info.get('bytes', 0))} · "
                f"last scan {human_time(info.get('last_scan'))}")
        else:
            self.library_label.setText("No photos scanned yet")
        self.library_label.setToolTip(f"Library: {info.get('path', '')}")

    def _failed(self, exc, doing: str) -> None:
        message, hint = errors.friendly(exc, doing)
        self.dialogs.error(self, message, hint)

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    # --- scanning ---
    def start_scan(self, folders: list[str], exclusions: list[str]) -> None:
        self.prefs.folders = folders
        self.prefs.exclusions = exclusions
        if not self.library.is_open:
            self.show_message("The library could not be opened; see the message above." if self._ready
                              else "The library is still opening; try again in a moment.")
            return
        self.scan_ctl.request_scan(folders, exclusions)

    def rescan(self) -> None:
        folders = self.prefs.folders or self.library.info.get("roots", [])
        if folders:
            self.start_scan(folders, self.prefs.exclusions)
        else:
            self.show_first_run()

    def _scan_finished(self, result) -> None:
        if result is None or result.cancelled:
            if self.groups_model.rowCount() or self.library.info.get("files"):
                self.show_review()
            else:
                self.set_page(self.first_run)
        else:
            self.show_review()
        self._page_changed()

    # --- dialogs ---
    def open_settings(self) -> SettingsView:
        dlg = SettingsView(self.prefs.model, self.prefs.exclusions, self.prefs.rotations,
                           self.library.path() or "", self,
                           calibration=(self.library.info or {}).get("calibration"))

        def status(model: str, st: dict) -> None:
            if model == "resnet50":
                dlg.set_weights_status(st)

        def failed(exc) -> None:
            dlg.set_download_failed(errors.friendly(exc, "downloading the model")[0])

        def finished(_model: str) -> None:
            dlg.set_weights_status({"available": True})

        links = [(self.library.weightsStatus, status), (self.library.downloadProgress, dlg.set_download_progress),
                 (self.library.downloadFailed, failed), (self.library.downloadFinished, finished)]
        for signal, slot in links:
            signal.connect(slot)
        dlg.downloadRequested.connect(self.library.download_model)
        self.library.check_weights("resnet50")

        def done(result: int) -> None:
            for signal, slot in links:
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
            if result:
                v = dlg.values()
                self.prefs.model = v["model"]
                self.prefs.exclusions = v["exclusions"]
                self.prefs.rotations = v["rotations"]
                self.first_run.set_model(v["model"])
                self.first_run.set_exclusions(v["exclusions"])

        dlg.finished.connect(done)
        dlg.open()
        return dlg

    def open_history(self) -> HistoryView:
        if self.history_view is None:
            self.history_view = HistoryView(self)
            self.history_view.undoRequested.connect(self.review_ctl.undo)
        self.library.load_history()
        self.history_view.show()
        self.history_view.raise_()
        return self.history_view

    def _history_loaded(self, actions: list) -> None:
        if self.history_view is not None:
            self.history_view.set_history(actions)

    def cycle_mode(self) -> None:
        order = ["side", "diff", "flicker"]
        self.compare.set_mode(order[(order.index(self.compare.mode) + 1) % len(order)])

    # --- state for tests and screenshots ---
    def is_settled(self) -> bool:
        """True when the library is loaded and no job, thumbnail or preview is pending."""
        return (self._ready and not self.library.busy() and not self.review_ctl.busy()
                and self.thumbnails.pending() == 0 and self.compare.previews_loaded())

    # --- drag and drop anywhere on the window ---
    def dragEnterEvent(self, event) -> None:
        if folders_from_mime(event.mimeData()) and not self.scan_ctl.active:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        folders = folders_from_mime(event.mimeData())
        if folders and not self.scan_ctl.active:
            self.show_first_run()
            self.first_run.add_folders(folders)
            event.acceptProposedAction()

    # --- life cycle ---
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            QTimer.singleShot(0, self.firstShown.emit)

    def closeEvent(self, event) -> None:
        if not self._closing:
            self._closing = True
            if self.library.scanning:
                self.progress.phase.setText("Stopping the scan…")
                self.show_message("Stopping the scan…")
            self.prefs.set_geometry("geometry", self.saveGeometry())
            self.prefs.set_geometry("splitter", self.splitter.saveState())
            self.prefs.sync()
            self.thumbnails.wait(10000)
            self.review_ctl.previews.wait(10000)
            self.library.shutdown()
        super().closeEvent(event)

