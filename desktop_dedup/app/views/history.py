"""Past actions (Library.history(), kept by the engine across restarts) with Undo."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QLabel, QPushButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout)

from ..fmt import human_time

KIND_NAMES = {"trash": "Moved to trash", "undo": "Undo", "restore": "Restored", "dismiss": "Not a duplicate"}


class HistoryView(QDialog):
    undoRequested = Signal()
    refreshRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("History")
        self.resize(760, 480)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 16, 16, 16)
        title = QLabel("What you did")
        title.setProperty("role", "heading")
        note = QLabel("Every trash action is recorded in the library and can be undone, newest first, even after "
                      "a restart (as long as the files are still in the system trash).")
        note.setWordWrap(True)
        note.setProperty("role", "muted")
        lay.addWidget(title)
        lay.addWidget(note)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["When", "What", "Files", "State"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        self.tree.header().setSectionResizeMode(1, QHeaderView.Stretch)
        lay.addWidget(self.tree, 1)
        buttons = QDialogButtonBox()
        self.undo_button = QPushButton("Undo last action")
        self.undo_button.clicked.connect(self.undoRequested)
        buttons.addButton(self.undo_button, QDialogButtonBox.ActionRole)
        buttons.addButton(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def set_history(self, actions: list[dict]) -> None:
        self.tree.clear()
        can_undo = False
        for a in actions:
            files = a.get("files", [])
            undone = bool(a.get("undone"))
            kind = KIND_NAMES.get(a.get("kind"), str(a.get("kind", "")).capitalize())
            item = QTreeWidgetItem([human_time(a.get("time")), kind, str(len(files)),
                                    "undone" if undone else "done"])
            item.setData(0, Qt.UserRole, a.get("id"))
            for f in files:
                child = QTreeWidgetItem(["", os.path.basename(f.get("path", "")), "", str(f.get("status", ""))])
                child.setToolTip(1, f.get("path", ""))
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            if not undone and a.get("kind") == "trash":
                can_undo = True
        if not actions:
            self.tree.addTopLevelItem(QTreeWidgetItem(["", "Nothing yet", "", ""]))
        self.undo_button.setEnabled(can_undo)
