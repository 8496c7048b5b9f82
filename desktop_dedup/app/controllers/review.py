"""ReviewController: what Keep, Trash, Skip, Not-a-duplicate, Undo and the batch action do, and the
compare view's previews (loaded by background jobs, cached in memory)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QPixmap

from ..fmt import human_bytes
from ..jobs import JobRunner
from ..thumbnails import PairJob, PreviewJob

NO_DUPLICATE = "has no duplicate"


class ReviewController(QObject):
    """Connects GroupsView, CompareView and LibraryController; all questions go through `dialogs`."""

    message = Signal(str)  # a short status-bar message

    def __init__(self, library, model, groups_view, compare_view, dialogs, parent_widget):
        super().__init__(parent_widget)
        self.library = library
        self.model = model
        self.groups_view = groups_view
        self.compare = compare_view
        self.dialogs = dialogs
        self.parent_widget = parent_widget
        self.previews = JobRunner(2, self)
        self._preview_cache: OrderedDict[str, Optional[QPixmap]] = OrderedDict()
        self._preview_errors: dict[str, str] = {}
        self._pending_previews: set[str] = set()
        self._pending_trash: Optional[dict] = None

        groups_view.currentGroupChanged.connect(self.show_group)
        groups_view.trashAllExactRequested.connect(self.trash_all_exact)
        compare_view.keepRequested.connect(self.keep_file)
        compare_view.trashRequested.connect(self.trash_file)
        compare_view.keepSuggestedRequested.connect(self.keep_suggested)
        compare_view.dismissRequested.connect(self.dismiss)
        compare_view.skipRequested.connect(self.skip)
        compare_view.previewRequested.connect(self.load_preview)
        compare_view.pairRequested.connect(self.load_pair)
        library.trashed.connect(self._trashed)
        library.undone.connect(self._undone)
        library.dismissed.connect(self._dismissed)

    # --- selection / previews ---
    def current_group(self):
        return self.compare.group

    def show_group(self, group) -> None:
        self.compare.set_group(group)

    def load_preview(self, path: str) -> None:
        if path in self._preview_cache:
            self._preview_cache.move_to_end(path)
            self.compare.set_preview(path, self._preview_cache[path], self._preview_errors.get(path, ""))
            return
        if path in self._pending_previews:
            return
        self._pending_previews.add(path)
        self.previews.start(PreviewJob(path), self._preview_done, lambda e, p=path: self._preview_failed(p, e))

    def _preview_done(self, result) -> None:
        path, image, error = result
        self._pending_previews.discard(path)
        pix = QPixmap.fromImage(image) if image is not None else None
        self._preview_cache[path] = pix
        if error:
            self._preview_errors[path] = error
        while len(self._preview_cache) > 24:
            old, _ = self._preview_cache.popitem(last=False)
            self._preview_errors.pop(old, None)
        self.compare.set_preview(path, pix, error)

    def _preview_failed(self, path: str, exc) -> None:
        self._pending_previews.discard(path)
        self.compare.set_preview(path, None, f"Cannot show this file: {exc}")

    def load_pair(self, a: str, b: str) -> None:
        self.previews.start(PairJob(a, b), self.compare.set_pair)

    def busy(self) -> bool:
        return self.previews.pending() > 0

    # --- actions ---
    def _ready(self) -> bool:
        if not self.library.is_open or self.library.scanning:
            self.message.emit("Wait for the scan to finish before changing files.")
            return False
        return True

    def keep_file(self, path: str) -> None:
        """Keep `path`, trash every other file of the current group."""
        g = self.current_group()
        if g is None or path not in g.paths or not self._ready():
            return
        self.compare.set_keeper(path)
        others = [p for p in g.paths if p != path]
        self._trash(others, g)

    def keep_current(self) -> None:
        if self.compare.current_path:
            self.keep_file(self.compare.current_path)

    def keep_suggested(self) -> None:
        g = self.current_group()
        if g is not None:
            self.keep_file(g.keep)

    def trash_file(self, path: str) -> None:
        g = self.current_group()
        if g is None or path not in g.paths or not self._ready():
            return
        self._trash([path], g)

    def trash_current(self) -> None:
        if self.compare.current_path:
            self.trash_file(self.compare.current_path)

    def _trash(self, paths: list[str], group, unique_ok: bool = False) -> None:
        if not paths:
            return
        if group is not None and group.kind == "similar" and not unique_ok:
            if not self.dialogs.confirm_unique(self.parent_widget, paths):
                return
            unique_ok = True
        self.library.trash(paths, unique_ok=unique_ok,
                           context={"paths": list(paths), "group": group.id if group else None,
                                    "unique_ok": unique_ok})

    def trash_all_exact(self) -> None:
        if not self._ready():
            return
        exact = [g for g in self.model.all_groups() if g.kind == "exact"]
        paths, size = [], 0
        for g in exact:
            for f in g.files:
                if f.path != g.keep:
                    paths.append(f.path)
                    size += f.size
        if not paths:
            self.message.emit("No identical copies to trash.")
            return
        if self.dialogs.confirm_batch(self.parent_widget, len(paths), size, len(exact)):
            self.library.trash(paths, unique_ok=False, context={"paths": paths, "group": None, "batch": True})

    def _trashed(self, outcome, context) -> None:
        done = [t["path"] for t in outcome.trashed]
        done_set = set(done)
        sizes = {f.path: f.size for g in self.model.all_groups() for f in g.files if f.path in done_set}
        freed = sum(sizes.values())
        current = self.current_group()
        current_id = current.id if current is not None else None
        self.model.remove_paths(done)
        # the current group may have shrunk but survived: show it again
        if current_id and self.model.row_of(current_id) >= 0:
            g = self.model.group_at(self.model.row_of(current_id))
            shown = {pane.path for pane in self.compare.panes}
            if g is not None and (self.compare.group is None or self.compare.group.id != g.id
                                  or not shown <= set(g.paths)):
                self.compare.set_group(g)
        unique = [r["path"] for r in outcome.refused if r["reason"].startswith(NO_DUPLICATE)]
        other = [r for r in outcome.refused if not r["reason"].startswith(NO_DUPLICATE)]
        if done:
            self.message.emit(f"Moved {len(done)} file{'s' if len(done) != 1 else ''} ({human_bytes(freed)}) "
                              "to the trash. Ctrl+Z puts them back.")
        if other:
            self.dialogs.refused(self.parent_widget, [dict(r, reason=_plain(r["reason"])) for r in other], len(done))
        if unique and not (context or {}).get("unique_ok"):
            if self.dialogs.confirm_unique(self.parent_widget, unique):
                self.library.trash(unique, unique_ok=True,
                                   context={"paths": unique, "group": (context or {}).get("group"),
                                            "unique_ok": True})
        self.library.refresh_info()

    def skip(self) -> None:
        self.groups_view.next_group()

    def dismiss(self) -> None:
        g = self.current_group()
        if g is not None and self.library.is_open:
            self.library.dismiss(g.id)

    def _dismissed(self, group_id: str) -> None:
        self.model.remove_group(group_id)
        self.message.emit("Marked as not a duplicate; this group will not be shown again.")

    def undo(self) -> None:
        if not self.library.is_open or self.library.scanning:
            self.message.emit("Undo is available once the scan has finished.")
            return
        self.library.undo()

    def _undone(self, outcome) -> None:
        n = len(outcome.restored)
        if n:
            self.message.emit(f"Put back {n} file{'s' if n != 1 else ''} where {'they were' if n != 1 else 'it was'}.")
            for r in outcome.restored:
                self._preview_cache.pop(r["path"], None)
        elif not outcome.refused:
            self.message.emit(outcome.message or "Nothing to undo.")
        if outcome.refused:
            self.dialogs.refused(self.parent_widget, outcome.refused, 0)


def _plain(reason: str) -> str:
    """Engine reasons mention CLI options; say it the app's way."""
    return reason.replace("; use --unique-ok to trash it anyway", "").replace("(--library)", "")

