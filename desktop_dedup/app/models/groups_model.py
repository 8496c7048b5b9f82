"""GroupsModel: every group as one row, filtered by kind and sorted in Python (fast for 20k groups).

`data()` is cheap (a list index and a few attribute reads); thumbnails are asked of a ThumbnailCache only
for the rows the view paints, and a thumbnail that arrives updates just the rows that show it.
"""
from __future__ import annotations

import os
from typing import Optional

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal

from desktop_dedup.core.types import Group

from ..fmt import human_bytes
from ..theme import KIND_LABELS

GroupRole = Qt.UserRole + 1
KindRole = Qt.UserRole + 2
ReasonRole = Qt.UserRole + 3
CountRole = Qt.UserRole + 4
ReclaimRole = Qt.UserRole + 5
TotalRole = Qt.UserRole + 6
ThumbsRole = Qt.UserRole + 7
IdRole = Qt.UserRole + 8

# sort name -> (label, key over the cached (reclaimable, total, count) of a group)
SORTS = {
    "reclaim": ("Most space to free", lambda k: (k[0], k[1])),
    "size": ("Largest files", lambda k: (k[1], k[2])),
    "count": ("Most files", lambda k: (k[2], k[1])),
}
MAX_THUMBS = 4


class GroupsModel(QAbstractListModel):
    """The groups as a flat list; `set_filter`, `set_sort` and `remove_*` reset or remove rows."""

    countsChanged = Signal()

    def __init__(self, thumbnails=None, parent=None):
        super().__init__(parent)
        self._all: list[Group] = []
        self._rows: list[Group] = []
        self._kind: Optional[str] = None
        self._sort = "reclaim"
        self._thumbs = thumbnails
        self._path_rows: Optional[dict[str, list[int]]] = None
        self._stats: dict[int, tuple[int, int, int]] = {}  # id(group) -> (reclaimable, total, count)
        if thumbnails is not None:
            thumbnails.ready.connect(self._on_thumbnail)

    # --- Qt model API ---
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows) or index.column() != 0:
            return None
        g = self._rows[index.row()]
        if role == Qt.DisplayRole:
            return f"{KIND_LABELS.get(g.kind, g.kind)} · {len(g.files)} files"
        if role == GroupRole:
            return g
        if role == KindRole:
            return g.kind
        if role == ReasonRole:
            return g.reason
        if role == CountRole:
            return len(g.files)
        if role == ReclaimRole:
            return self._stat(g)[0]
        if role == TotalRole:
            return self._stat(g)[1]
        if role == IdRole:
            return g.id
        if role == ThumbsRole:  # only the pixmaps already made (a list holding None does not survive QVariant)
            return [pix for pix in self._thumbnails_for(g) if pix is not None]
        if role == Qt.ToolTipRole:
            names = "\n".join(os.path.basename(f.path) + ("  ★ keep" if f.path == g.keep else "")
                              for f in g.files[:12])
            more = f"\n… and {len(g.files) - 12} more" if len(g.files) > 12 else ""
            return f"{g.reason}\n{names}{more}"
        if role == Qt.AccessibleTextRole:
            return (f"{KIND_LABELS.get(g.kind, g.kind)}, {len(g.files)} files, "
                    f"{human_bytes(g.reclaimable_bytes)} to free. {g.reason}")
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.NoItemFlags
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemNeverHasChildren

    def roleNames(self):
        names = super().roleNames()
        names.update({GroupRole: b"group", KindRole: b"kind", ReasonRole: b"reason", CountRole: b"count",
                      ReclaimRole: b"reclaimable", TotalRole: b"total", ThumbsRole: b"thumbnails",
                      IdRole: b"groupId"})
        return names

    # --- content ---
    def set_groups(self, groups: list[Group]) -> None:
        self._all = list(groups)
        self._stats = {}
        self._rebuild()

    def _stat(self, g: Group) -> tuple[int, int, int]:
        st = self._stats.get(id(g))
        if st is None:
            st = self._stats[id(g)] = (g.reclaimable_bytes, g.total_bytes, len(g.files))
        return st

    def reclaimable_bytes(self) -> int:
        return sum(self._stat(g)[0] for g in self._all)

    def all_groups(self) -> list[Group]:
        return list(self._all)

    def set_filter(self, kind: Optional[str]) -> None:
        if kind != self._kind:
            self._kind = kind
            self._rebuild()

    def kind_filter(self) -> Optional[str]:
        return self._kind

    def set_sort(self, key: str) -> None:
        if key not in SORTS:
            raise ValueError(f"unknown sort {key!r}")
        if key != self._sort:
            self._sort = key
            self._rebuild()

    def sort_key(self) -> str:
        return self._sort

    def _rebuild(self) -> None:
        self.beginResetModel()
        rows = [g for g in self._all if self._kind is None or g.kind == self._kind]
        key = SORTS[self._sort][1]
        stat = self._stat
        rows.sort(key=lambda g: key(stat(g)), reverse=True)
        self._rows = rows
        self._path_rows = None
        self.endResetModel()
        self.countsChanged.emit()

    def group_at(self, row: int) -> Optional[Group]:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, group_id: str) -> int:
        for i, g in enumerate(self._rows):
            if g.id == group_id:
                return i
        return -1

    def counts(self) -> dict[str, int]:
        out = {"all": len(self._all), "exact": 0, "near": 0, "similar": 0}
        for g in self._all:
            out[g.kind] = out.get(g.kind, 0) + 1
        return out

    def remove_group(self, group_id: str) -> None:
        kept = []
        for g in self._all:
            if g.id == group_id:
                self._stats.pop(id(g), None)
            else:
                kept.append(g)
        self._all = kept
        row = self.row_of(group_id)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self._path_rows = None
            self.endRemoveRows()
        self.countsChanged.emit()

    def remove_paths(self, paths: list[str]) -> None:
        """Drop trashed files from their groups; a group left with fewer than two files disappears."""
        gone = set(paths)
        if not gone:
            return
        changed: dict[int, Group] = {}
        for g in self._all:
            if any(f.path in gone for f in g.files):
                keep_files = [f for f in g.files if f.path not in gone]
                g.files[:] = keep_files
                if g.keep in gone and keep_files:
                    g.keep = max(keep_files, key=lambda f: (f.width * f.height, f.size)).path
                changed[id(g)] = g
                self._stats.pop(id(g), None)
        if not changed:
            return
        self._all = [g for g in self._all if len(g.files) >= 2]
        for row in range(len(self._rows) - 1, -1, -1):
            g = self._rows[row]
            if id(g) not in changed:
                continue
            if len(g.files) < 2:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
            else:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx)
        self._path_rows = None
        self.countsChanged.emit()

    # --- thumbnails ---
    def thumbnails_at(self, row: int) -> list:
        """Pixmap or None for the first files of a row (keeper first); asks for the missing ones."""
        g = self.group_at(row)
        return self._thumbnails_for(g) if g is not None else []

    def _thumbnails_for(self, g: Group) -> list:
        if self._thumbs is None:
            return []
        files = sorted(g.files, key=lambda f: f.path != g.keep)[:MAX_THUMBS]
        return [self._thumbs.get(f.path) for f in files]

    def _on_thumbnail(self, path: str) -> None:
        if self._path_rows is None:
            index: dict[str, list[int]] = {}
            for row, g in enumerate(self._rows):
                files = sorted(g.files, key=lambda f: f.path != g.keep)[:MAX_THUMBS]
                for f in files:
                    index.setdefault(f.path, []).append(row)
            self._path_rows = index
        for row in self._path_rows.get(path, ()):
            if row < len(self._rows):
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [ThumbsRole])
