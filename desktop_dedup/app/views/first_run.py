"""The welcome page: what the app does, which folders to scan (picker or drag and drop), what to skip."""
from __future__ import annotations

import os

from desktop_dedup import resources_dir

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QFrame, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QSizePolicy, QStyle, QVBoxLayout,
                               QWidget)

from ..engine import MODEL_TITLES


def folders_from_mime(mime) -> list[str]:
    """Local folders among dropped URLs (files are ignored)."""
    out = []
    if mime is not None and mime.hasUrls():
        for url in mime.urls():
            path = url.toLocalFile()
            if path and os.path.isdir(path):
                out.append(os.path.abspath(path))
    return out


class FolderList(QListWidget):
    """The folder list, with a hint painted while it is empty."""

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.count() == 0:
            p = QPainter(self.viewport())
            p.setPen(self.palette().color(QPalette.PlaceholderText))
            p.drawText(self.viewport().rect().adjusted(20, 10, -20, -10), Qt.AlignCenter | Qt.TextWordWrap,
                       "No folders yet.\nClick “Add folder…”, or drop folders from your file manager here.")
            p.end()


def card(parent=None) -> QFrame:
    frame = QFrame(parent)
    frame.setProperty("role", "card")
    return frame


class FirstRunView(QWidget):
    """Emits `scanRequested(folders, exclusions)`; `settingsRequested` opens the model settings."""

    scanRequested = Signal(list, list)
    settingsRequested = Signal()
    backRequested = Signal()
    foldersChanged = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setObjectName("firstRun")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 28, 40, 28)
        outer.addStretch(1)
        column = QWidget()
        column.setMaximumWidth(760)
        column.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)
        lay = QVBoxLayout(column)
        lay.setSpacing(14)
        lay.setContentsMargins(0, 0, 0, 0)

        self.logo = QLabel()
        icon_path = os.path.join(resources_dir(), "icon-128.png")
        if os.path.exists(icon_path):
            self.logo.setPixmap(QPixmap(icon_path).scaled(64, 64, Qt.KeepAspectRatio, Qt.SmoothTransformation))
        lay.addWidget(self.logo)
        self.title = QLabel("Find the duplicates among your photos")
        self.title.setProperty("role", "title")
        self.subtitle = QLabel(
            "Desktop Dedup looks through your folders for identical files, edited copies (resized, "
            "re-saved, cropped, retouched) and photos that are merely similar. You review every group "
            "side by side; nothing leaves its folder unless you say so, and anything you remove goes to the "
            "system trash, where Undo can bring it back.")
        self.subtitle.setProperty("role", "subtitle")
        self.subtitle.setWordWrap(True)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addSpacing(8)

        box = card()
        box_lay = QVBoxLayout(box)
        box_lay.setContentsMargins(18, 16, 18, 16)
        box_lay.setSpacing(10)
        head = QHBoxLayout()
        h = QLabel("Folders to scan")
        h.setProperty("role", "heading")
        head.addWidget(h)
        head.addStretch(1)
        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(self.pick_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        head.addWidget(self.add_button)
        head.addWidget(self.remove_button)
        box_lay.addLayout(head)

        self.folder_list = FolderList()
        self.folder_list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.folder_list.setMinimumHeight(110)
        self.folder_list.setMaximumHeight(170)
        self.folder_list.setAcceptDrops(False)
        self.folder_list.itemSelectionChanged.connect(self._update)
        box_lay.addWidget(self.folder_list)
        self.drop_hint = QLabel("Tip: drag folders from your file manager and drop them anywhere on this window.")
        self.drop_hint.setProperty("role", "muted")
        box_lay.addWidget(self.drop_hint)

        ex_label = QLabel("Skip files and folders matching (comma separated)")
        ex_label.setProperty("role", "heading")
        box_lay.addSpacing(4)
        box_lay.addWidget(ex_label)
        self.exclusions = QLineEdit()
        self.exclusions.setPlaceholderText("e.g. @eaDir, .thumbnails, *.tmp, Screenshots")
        box_lay.addWidget(self.exclusions)
        lay.addWidget(box)

        bottom = QHBoxLayout()
        self.model_label = QLabel()
        self.model_label.setProperty("role", "muted")
        self.model_label.setTextFormat(Qt.RichText)
        self.model_label.linkActivated.connect(lambda _link: self.settingsRequested.emit())
        bottom.addWidget(self.model_label, 1)
        self.back_button = QPushButton("Back to review")
        self.back_button.setMinimumHeight(38)
        self.back_button.clicked.connect(self.backRequested)
        self.back_button.hide()
        bottom.addWidget(self.back_button)
        self.scan_button = QPushButton("Scan")
        self.scan_button.setProperty("role", "primary")
        self.scan_button.setMinimumWidth(180)
        self.scan_button.setMinimumHeight(38)
        self.scan_button.clicked.connect(self._emit_scan)
        bottom.addWidget(self.scan_button)
        lay.addSpacing(4)
        lay.addLayout(bottom)

        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(column, 10)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
        self.set_model("resnet50")
        self._update()

    # --- state ---
    def folders(self) -> list[str]:
        return [self.folder_list.item(i).data(Qt.UserRole) for i in range(self.folder_list.count())]

    def set_folders(self, folders: list[str]) -> None:
        self.folder_list.clear()
        for f in folders:
            self._append(f)
        self._update()

    def add_folders(self, folders: list[str]) -> None:
        have = set(self.folders())
        for f in folders:
            f = os.path.abspath(f)
            if f not in have:
                self._append(f)
                have.add(f)
        self._update()
        self.foldersChanged.emit(self.folders())

    def _append(self, folder: str) -> None:
        item = QListWidgetItem(self.style().standardIcon(QStyle.SP_DirIcon), folder)
        item.setData(Qt.UserRole, folder)
        item.setToolTip(folder)
        self.folder_list.addItem(item)

    def set_can_go_back(self, can: bool) -> None:
        self.back_button.setVisible(can)

    def exclusion_patterns(self) -> list[str]:
        return [p.strip() for p in self.exclusions.text().split(",") if p.strip()]

    def set_exclusions(self, patterns: list[str]) -> None:
        self.exclusions.setText(", ".join(patterns))

    def set_model(self, model: str) -> None:
        title = MODEL_TITLES.get(model, model)
        self.model_label.setText(f"Comparing with <b>{title}</b> · <a href='settings'>change</a>")

    def pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of photos", os.path.expanduser("~"))
        if folder:
            self.add_folders([folder])

    def remove_selected(self) -> None:
        for item in self.folder_list.selectedItems():
            self.folder_list.takeItem(self.folder_list.row(item))
        self._update()
        self.foldersChanged.emit(self.folders())

    def _update(self) -> None:
        n = self.folder_list.count()
        self.remove_button.setEnabled(bool(self.folder_list.selectedItems()))
        self.scan_button.setEnabled(n > 0)
        self.scan_button.setText("Scan" if n == 0 else f"Scan {n} folder{'s' if n != 1 else ''}")

    def _emit_scan(self) -> None:
        if self.folders():
            self.scanRequested.emit(self.folders(), self.exclusion_patterns())

    # --- drag and drop ---
    def dragEnterEvent(self, event) -> None:
        if folders_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event) -> None:
        folders = folders_from_mime(event.mimeData())
        if folders:
            self.add_folders(folders)
            event.acceptProposedAction()
