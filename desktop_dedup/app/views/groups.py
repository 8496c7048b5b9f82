"""The groups list: filter by kind, sort by space or size, the batch action over identical files."""
from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QListView, QPushButton,
                               QVBoxLayout, QWidget)

from ..fmt import human_bytes
from ..models.groups_model import SORTS, GroupRole, GroupsModel
from .group_delegate import ROW_HEIGHT, GroupDelegate

FILTERS = [(None, "All groups"), ("exact", "Identical"), ("near", "Edited copies"), ("similar", "Similar")]


class GroupsView(QWidget):
    """Emits `currentGroupChanged(group or None)` and `trashAllExactRequested()`."""

    currentGroupChanged = Signal(object)
    trashAllExactRequested = Signal()

    def __init__(self, model: GroupsModel, parent=None):
        super().__init__(parent)
        self.model = model
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 4, 10)
        lay.setSpacing(8)

        self.summary = QLabel("")
        self.summary.setProperty("role", "heading")
        lay.addWidget(self.summary)

        row = QHBoxLayout()
        row.setSpacing(6)
        self.filter_combo = QComboBox()
        for kind, label in FILTERS:
            self.filter_combo.addItem(label, kind)
        self.filter_combo.setToolTip("Show one kind of group")
        self.filter_combo.currentIndexChanged.connect(self._filter_changed)
        self.sort_combo = QComboBox()
        for key, (label, _) in SORTS.items():
            self.sort_combo.addItem(label, key)
        self.sort_combo.setToolTip("Order of the groups")
        self.sort_combo.currentIndexChanged.connect(self._sort_changed)
        row.addWidget(self.filter_combo, 1)
        row.addWidget(self.sort_combo, 1)
        lay.addLayout(row)

        self.list = QListView()
        self.list.setModel(model)
        self.list.setItemDelegate(GroupDelegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.setSelectionMode(QAbstractItemView.SingleSelection)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.list.verticalScrollBar().setSingleStep(ROW_HEIGHT // 3)
        self.list.setMouseTracking(True)
        self.list.setAccessibleName("Duplicate groups")
        self.list.selectionModel().currentChanged.connect(self._current_changed)
        lay.addWidget(self.list, 1)

        self.empty = QLabel("")
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setProperty("role", "muted")
        self.empty.hide()
        lay.addWidget(self.empty, 1)

        self.batch_button = QPushButton("Trash all identical copies…")
        self.batch_button.setToolTip("Keep the suggested file of every identical group and move the other "
                                     "copies to the trash (you confirm first)")
        self.batch_button.clicked.connect(self.trashAllExactRequested)
        lay.addWidget(self.batch_button)

        model.modelReset.connect(self._after_reset)
        model.rowsRemoved.connect(self._after_remove)
        model.countsChanged.connect(self._update_summary)
        self._last_id = None
        self._update_summary()

    # --- selection ---
    def current_group(self):
        idx = self.list.currentIndex()
        return idx.data(GroupRole) if idx.isValid() else None

    def select_row(self, row: int) -> None:
        n = self.model.rowCount()
        if n == 0:
            self._last_id = None
            self.currentGroupChanged.emit(None)
            return
        row = max(0, min(row, n - 1))
        idx = self.model.index(row)
        self.list.selectionModel().setCurrentIndex(idx, QItemSelectionModel.ClearAndSelect)
        self.list.scrollTo(idx)

    def select_group(self, group_id: str) -> bool:
        row = self.model.row_of(group_id)
        if row >= 0:
            self.select_row(row)
            return True
        return False

    def next_group(self) -> None:
        self.select_row(self.list.currentIndex().row() + 1 if self.list.currentIndex().isValid() else 0)

    def previous_group(self) -> None:
        self.select_row(self.list.currentIndex().row() - 1 if self.list.currentIndex().isValid() else 0)

    def current_row(self) -> int:
        idx = self.list.currentIndex()
        return idx.row() if idx.isValid() else -1

    def _current_changed(self, current, _previous) -> None:
        g = current.data(GroupRole) if current.isValid() else None
        self._last_id = g.id if g is not None else None
        self.currentGroupChanged.emit(g)

    def _after_reset(self) -> None:
        if self._last_id is None or not self.select_group(self._last_id):
            self.select_row(0)
        self._update_summary()

    def _after_remove(self, _parent, first, _last) -> None:
        if not self.list.currentIndex().isValid() or self.current_group() is None:
            self.select_row(first)
        self._update_summary()

    # --- filter / sort ---
    def _filter_changed(self) -> None:
        self.model.set_filter(self.filter_combo.currentData())

    def _sort_changed(self) -> None:
        self.model.set_sort(self.sort_combo.currentData())

    def set_filter(self, kind) -> None:
        for i in range(self.filter_combo.count()):
            if self.filter_combo.itemData(i) == kind:
                self.filter_combo.setCurrentIndex(i)

    def set_sort(self, key: str) -> None:
        for i in range(self.sort_combo.count()):
            if self.sort_combo.itemData(i) == key:
                self.sort_combo.setCurrentIndex(i)

    def _update_summary(self) -> None:
        counts = self.model.counts()
        reclaim = self.model.reclaimable_bytes()
        n = counts["all"]
        self.summary.setText(f"{n:,} group{'s' if n != 1 else ''} · {human_bytes(reclaim)} to free")
        for i, (kind, label) in enumerate(FILTERS):
            self.filter_combo.setItemText(i, f"{label} ({counts['all' if kind is None else kind]:,})")
        self.batch_button.setEnabled(counts["exact"] > 0)
        empty = self.model.rowCount() == 0
        self.list.setVisible(not empty)
        self.empty.setVisible(empty)
        if empty:
            self.empty.setText("No duplicates left to review. 🎉" if n == 0 else "No group of this kind.")
