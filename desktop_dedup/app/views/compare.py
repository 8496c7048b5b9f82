"""The compare view: a group's members side by side with synchronised zoom and pan, file facts, the
suggested keeper marked, Keep / Trash per file; for two images a difference or flicker view."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import (QButtonGroup, QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView,
                               QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QStackedWidget,
                               QToolButton, QVBoxLayout, QWidget)

from .. import theme
from ..fmt import capture_date, human_bytes
from .first_run import card


@dataclass
class ViewState:
    """Shared zoom and pan: scale = (fit scale or 1.0) * k, centred on (u, v) in image fractions."""

    base: str = "fit"  # "fit" or "actual"
    k: float = 1.0
    u: float = 0.5
    v: float = 0.5


class ImageView(QGraphicsView):
    """One picture; zoom with the wheel, pan by dragging. Scene coordinates are full-size pixels."""

    zoomed = Signal(object, float, QPointF)  # self, factor, viewport position
    panned = Signal(object)
    clicked = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.SmoothTransformation)
        self.scene().addItem(self.item)
        self.setRenderHints(QPainter.Antialiasing | QPainter.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.NoAnchor)
        self.setResizeAnchor(QGraphicsView.NoAnchor)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.NoFrame)
        self.setBackgroundBrush(QColor(theme.color("card")))
        self.setMinimumSize(120, 120)
        self.setFocusPolicy(Qt.NoFocus)
        self.full_w, self.full_h = 1, 1
        self.state = ViewState()
        self._applying = False
        self.message = ""
        self.horizontalScrollBar().valueChanged.connect(self._scrolled)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)

    def has_image(self) -> bool:
        return not self.item.pixmap().isNull()

    def set_image(self, pixmap: Optional[QPixmap], full_w: int = 0, full_h: int = 0, message: str = "") -> None:
        self.message = message
        if pixmap is None or pixmap.isNull():
            self.item.setPixmap(QPixmap())
            self.viewport().update()
            return
        self.full_w = max(1, full_w or pixmap.width())
        self.full_h = max(1, full_h or pixmap.height())
        self.item.setPixmap(pixmap)
        # the preview may be smaller than the file: stretch it to full-size scene coordinates
        self.item.setTransform(QTransform.fromScale(self.full_w / pixmap.width(), self.full_h / pixmap.height()))
        self.scene().setSceneRect(QRectF(0, 0, self.full_w, self.full_h))
        self.apply(self.state)

    def fit_scale(self) -> float:
        vp = self.viewport().rect()
        return max(1e-4, min(vp.width() / self.full_w, vp.height() / self.full_h))

    def scale_for(self, state: ViewState) -> float:
        return (self.fit_scale() if state.base == "fit" else 1.0) * state.k

    def current_scale(self) -> float:
        return self.transform().m11()

    def apply(self, state: ViewState) -> None:
        self.state = state
        self._applying = True
        try:
            s = self.scale_for(state)
            self.setTransform(QTransform.fromScale(s, s))
            self.centerOn(QPointF(state.u * self.full_w, state.v * self.full_h))
        finally:
            self._applying = False

    def center_uv(self) -> tuple[float, float]:
        c = self.mapToScene(self.viewport().rect().center())
        return c.x() / self.full_w, c.y() / self.full_h

    def _scrolled(self, _value) -> None:
        if not self._applying and self.has_image():
            self.panned.emit(self)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoomed.emit(self, 1.25 ** steps, event.position())
        event.accept()

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self)
        super().mousePressEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.apply(self.state)

    def drawForeground(self, painter, rect) -> None:
        if not self.has_image():
            painter.save()
            painter.resetTransform()
            painter.setPen(QColor(theme.color("muted")))
            painter.drawText(self.viewport().rect().adjusted(10, 10, -10, -10), Qt.AlignCenter | Qt.TextWordWrap,
                             self.message or "Loading…")
            painter.restore()


class ZoomSync:
    """Keeps a set of ImageViews on one ViewState (zoom relative to fit or to 100 %, centre in fractions)."""

    MIN_K, MAX_K = 0.05, 64.0

    def __init__(self, on_change=None):
        self.state = ViewState()
        self.views: list[ImageView] = []
        self.on_change = on_change

    def set_views(self, views: list[ImageView]) -> None:
        for v in self.views:
            try:
                v.zoomed.disconnect(self._zoomed)
                v.panned.disconnect(self._panned)
            except (RuntimeError, TypeError):
                pass
        self.views = list(views)
        for v in self.views:
            v.zoomed.connect(self._zoomed)
            v.panned.connect(self._panned)
        self.apply()

    def apply(self) -> None:
        for v in self.views:
            v.apply(ViewState(**vars(self.state)))
        if self.on_change:
            self.on_change()

    def fit(self) -> None:
        self.state = ViewState("fit", 1.0, 0.5, 0.5)
        self.apply()

    def actual(self) -> None:
        self.state = ViewState("actual", 1.0, self.state.u, self.state.v)
        self.apply()

    def zoom_by(self, factor: float, source: Optional[ImageView] = None, pos: Optional[QPointF] = None) -> None:
        st = self.state
        new_k = max(self.MIN_K, min(self.MAX_K, st.k * factor))
        if source is not None and pos is not None and source.has_image():
            # keep the point under the cursor where it is
            scene_pt = source.mapToScene(pos.toPoint())
            new_scale = source.scale_for(ViewState(st.base, new_k))
            centre = source.viewport().rect().center()
            dx, dy = pos.x() - centre.x(), pos.y() - centre.y()
            st.u = (scene_pt.x() - dx / new_scale) / source.full_w
            st.v = (scene_pt.y() - dy / new_scale) / source.full_h
        st.k = new_k
        self.apply()

    def _zoomed(self, view, factor, pos) -> None:
        self.zoom_by(factor, view, pos)

    def _panned(self, view) -> None:
        self.state.u, self.state.v = view.center_uv()
        for v in self.views:
            if v is not view:
                v.apply(ViewState(**vars(self.state)))
        if self.on_change:
            self.on_change()

    def percent(self) -> Optional[int]:
        """Zoom of the first view that shows a picture, in percent of its full-size pixels."""
        for v in self.views:
            if v.has_image():
                return round(v.scale_for(self.state) * 100)
        return None


class MemberPane(QFrame):
    """One file of the group: its picture, facts and Keep / Trash buttons."""

    keepClicked = Signal(str)
    trashClicked = Signal(str)
    activated = Signal(str)

    def __init__(self, info, is_keeper: bool, parent=None):
        super().__init__(parent)
        self.info = info
        self.path = info.path
        self.setProperty("role", "card")
        self.setMinimumWidth(200)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(6)
        head = QHBoxLayout()
        self.badge = QLabel("★ Suggested")
        self.badge.setToolTip("The file the app suggests keeping: the original-looking, largest, best-quality copy")
        self.badge.setStyleSheet(
            f"color: white; background: {theme.KIND_COLORS['exact']}; border-radius: 9px; padding: 2px 9px;"
            "font-weight: 600;")
        self.name = QLabel(os.path.basename(info.path))
        self.name.setProperty("role", "heading")
        self.name.setMinimumWidth(40)
        self.name.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.name.setToolTip(info.path)
        self.name.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.name)
        self.folder = QLabel()
        self.folder.setProperty("role", "muted")
        self.folder.setToolTip(os.path.dirname(info.path))
        self.folder.setMinimumWidth(40)
        self.folder.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        head.addWidget(self.folder, 1)
        lay.addLayout(head)
        self.view = ImageView()
        self.badge.setParent(self.view)  # drawn over the picture's top-left corner
        self.badge.move(8, 8)
        self.view.clicked.connect(lambda _v: self.activated.emit(self.path))
        lay.addWidget(self.view, 1)
        self.facts = QLabel(self._facts_text())
        self.facts.setTextFormat(Qt.RichText)
        self.facts.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.facts)
        buttons = QHBoxLayout()
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("Keep this file and move the others of this group to the trash (K)")
        self.keep_button.clicked.connect(lambda: self.keepClicked.emit(self.path))
        self.trash_button = QPushButton("Trash")
        self.trash_button.setProperty("role", "danger")
        self.trash_button.setToolTip("Move this file to the trash (T)")
        self.trash_button.clicked.connect(lambda: self.trashClicked.emit(self.path))
        buttons.addWidget(self.keep_button, 1)
        buttons.addWidget(self.trash_button, 1)
        lay.addLayout(buttons)
        self.set_keeper(is_keeper)
        self.set_current(False)

    def _facts_text(self) -> str:
        f = self.info
        dims = f"{f.width} × {f.height}" if f.width and f.height else "size unknown"
        megapixels = f.width * f.height / 1e6
        mp = f" ({megapixels:.0f} MP)" if megapixels >= 10 else (f" ({megapixels:.1f} MP)" if megapixels >= 1 else "")
        rows = [
            ("Dimensions", dims + mp),
            ("File size", human_bytes(f.size)),
            ("Format", f.format or os.path.splitext(f.path)[1].lstrip(".").upper() or "—"),
            ("Taken", capture_date(f.capture_time) if f.capture_time else "—"),
            ("Camera", f.camera or "—"),
        ]
        muted = theme.color("muted")
        cells = "".join(f"<tr><td style='color:{muted}; padding-right:10px'>{k}</td><td>{v}</td></tr>"
                        for k, v in rows)
        return f"<table cellspacing='0' cellpadding='1'>{cells}</table>"

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.name.setText(self.name.fontMetrics().elidedText(os.path.basename(self.path), Qt.ElideMiddle,
                                                             max(40, self.width() - 24)))
        self.folder.setText(self.folder.fontMetrics().elidedText(os.path.dirname(self.path), Qt.ElideMiddle,
                                                                 max(40, self.width() - 24)))

    def set_keeper(self, is_keeper: bool) -> None:
        self.is_keeper = is_keeper
        self.badge.setVisible(is_keeper)
        self._elide()

    def set_current(self, current: bool) -> None:
        self.setProperty("current", "true" if current else "false")
        self.style().unpolish(self)
        self.style().polish(self)


class CompareView(QWidget):
    """Shows one group. Signals carry paths; the review controller decides what happens."""

    MAX_PANES = 6  # side by side at once; a bigger group shows a "Show all" button

    keepRequested = Signal(str)  # keep this file, trash the rest of the group
    trashRequested = Signal(str)
    keepSuggestedRequested = Signal()
    dismissRequested = Signal()
    skipRequested = Signal()
    previewRequested = Signal(str)  # ask the owner to load a preview for a path
    pairRequested = Signal(str, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.group = None
        self.panes: list[MemberPane] = []
        self._pending_panes: list = []
        self._hidden = 0
        self._generation = 0
        self.more_button: Optional[QPushButton] = None
        self.current_path: Optional[str] = None
        self.mode = "side"
        self.sync = ZoomSync(on_change=self._update_zoom_label)
        self._pair = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 8, 10, 10)
        lay.setSpacing(8)

        # header: what the group is, and group actions
        head = QHBoxLayout()
        head.setSpacing(8)
        self.kind_badge = QLabel()
        self.reason = QLabel()
        self.reason.setProperty("role", "heading")
        self.reason.setMinimumWidth(80)
        self.reason.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        head.addWidget(self.kind_badge)
        head.addWidget(self.reason, 1)
        self.keep_suggested = QPushButton("Keep ★, trash the rest")
        self.keep_suggested.setProperty("role", "primary")
        self.keep_suggested.setToolTip("Keep the suggested file and move the other files of this group to the trash")
        self.keep_suggested.clicked.connect(self.keepSuggestedRequested)
        self.dismiss_button = QPushButton("Not a duplicate")
        self.dismiss_button.setToolTip("Hide this group for good (N)")
        self.dismiss_button.clicked.connect(self.dismissRequested)
        self.skip_button = QPushButton("Skip")
        self.skip_button.setToolTip("Next group without doing anything (S)")
        self.skip_button.clicked.connect(self.skipRequested)
        head.addWidget(self.skip_button)
        head.addWidget(self.dismiss_button)
        head.addWidget(self.keep_suggested)
        lay.addLayout(head)

        # toolbar: view mode and zoom
        tools = QHBoxLayout()
        tools.setSpacing(4)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons = {}
        for key, label, tip in (("side", "Side by side", "All files next to each other"),
                                ("diff", "Difference", "Where two pictures differ (bright = different)"),
                                ("flicker", "Flicker", "Alternate two pictures to spot changes")):
            b = QToolButton()
            b.setText(label)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.clicked.connect(lambda _c=False, k=key: self.set_mode(k))
            self.mode_group.addButton(b)
            self.mode_buttons[key] = b
            tools.addWidget(b)
        self.mode_buttons["side"].setChecked(True)
        self.pair_label = QLabel("")
        self.pair_label.setProperty("role", "muted")
        tools.addSpacing(8)
        tools.addWidget(self.pair_label, 1)
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Fit the pictures in their frames (0)")
        self.fit_button.clicked.connect(self.fit)
        self.actual_button = QToolButton()
        self.actual_button.setText("100 %")
        self.actual_button.setToolTip("One image pixel per screen pixel (1)")
        self.actual_button.clicked.connect(self.actual_size)
        self.zoom_label = QLabel("")
        self.zoom_label.setProperty("role", "muted")
        self.zoom_label.setMinimumWidth(52)
        self.zoom_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        tools.addWidget(self.zoom_label)
        tools.addWidget(self.fit_button)
        tools.addWidget(self.actual_button)
        lay.addLayout(tools)

        self.stack = QStackedWidget()
        # side by side
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.scroll.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.strip = QWidget()
        self.strip_layout = QHBoxLayout(self.strip)
        self.strip_layout.setContentsMargins(0, 0, 0, 6)
        self.strip_layout.setSpacing(10)
        self.scroll.setWidget(self.strip)
        self.stack.addWidget(self.scroll)
        # difference / flicker
        self.pair_frame = card()
        pl = QVBoxLayout(self.pair_frame)
        pl.setContentsMargins(10, 10, 10, 10)
        self.pair_view = ImageView()
        pl.addWidget(self.pair_view, 1)
        self.pair_caption = QLabel("")
        self.pair_caption.setProperty("role", "muted")
        self.pair_caption.setWordWrap(True)
        pl.addWidget(self.pair_caption)
        self.stack.addWidget(self.pair_frame)
        # empty
        self.placeholder = QLabel("Select a group on the left to compare its files.")
        self.placeholder.setAlignment(Qt.AlignCenter)
        self.placeholder.setProperty("role", "subtitle")
        self.placeholder.setWordWrap(True)
        self.stack.addWidget(self.placeholder)
        lay.addWidget(self.stack, 1)

        self.flicker_timer = QTimer(self)
        self.flicker_timer.setInterval(600)
        self.flicker_timer.timeout.connect(self._flicker)
        self._flick = False
        self.set_group(None)

    # --- content ---
    def set_group(self, group, show_all: bool = False) -> None:
        self.group = group
        if getattr(self, "more_button", None) is not None:
            self.more_button.hide()
            self.strip_layout.removeWidget(self.more_button)
            self.more_button.deleteLater()
            self.more_button = None
        for p in self.panes:
            p.hide()
            self.strip_layout.removeWidget(p)
            p.deleteLater()
        self.panes = []
        self._generation += 1  # stops a half-built previous group
        self._pending_panes = []
        self._pair = None
        self.flicker_timer.stop()
        has = group is not None and len(group.files) > 0
        for w in (self.keep_suggested, self.dismiss_button, self.skip_button, self.fit_button, self.actual_button):
            w.setEnabled(has)
        if not has:
            self.kind_badge.hide()
            self.reason.setText("")
            self.pair_label.setText("")
            self.zoom_label.setText("")
            self.current_path = None
            self.stack.setCurrentWidget(self.placeholder)
            for b in self.mode_buttons.values():
                b.setEnabled(False)
            return
        kind_color = theme.KIND_COLORS.get(group.kind, theme.ACCENT)
        self.kind_badge.setText(theme.KIND_TITLES.get(group.kind, group.kind))
        self.kind_badge.setStyleSheet(f"color: white; background: {kind_color}; border-radius: 10px;"
                                      "padding: 3px 10px; font-weight: 600;")
        self.kind_badge.show()
        self.reason.setToolTip(group.reason)
        self._elide_reason()
        self.keep_suggested.setText("Keep ★, trash the rest" if group.kind != "similar"
                                    else "Keep ★, trash the others…")
        files = sorted(group.files, key=lambda f: f.path != group.keep)
        hidden = 0 if show_all else max(0, len(files) - self.MAX_PANES)
        self.sync.state = ViewState()
        for b in self.mode_buttons.values():
            b.setEnabled(True)
        self.current_path = None
        self._pending_panes = list(files[:len(files) - hidden])
        self._hidden = hidden
        self._add_panes(self._generation, 2)  # what the eye lands on first, now
        self.set_mode(self.mode)

    def _add_panes(self, generation: int, count: int) -> None:
        """Build the next `count` panes, then schedule the rest (one per event-loop turn: no long stall)."""
        if generation != self._generation or self.group is None:
            return
        g = self.group
        for f in self._pending_panes[:count]:
            pane = MemberPane(f, f.path == g.keep)
            pane.keepClicked.connect(self.keepRequested)
            pane.trashClicked.connect(self.trashRequested)
            pane.activated.connect(self.set_current)
            self.strip_layout.addWidget(pane)
            self.panes.append(pane)
            self.previewRequested.emit(pane.path)
        del self._pending_panes[:count]
        if self.mode == "side":
            self.sync.set_views([p.view for p in self.panes])
        if self.current_path is None and self.panes:
            self.set_current(self.panes[1].path if len(self.panes) > 1 else self.panes[0].path)
        if self._pending_panes:
            QTimer.singleShot(0, lambda: self._add_panes(generation, 1))
        elif self._hidden:
            total = len(self.panes) + self._hidden
            self.more_button = QPushButton(f"Show all {total} files\n({self._hidden} more)")
            self.more_button.setMinimumHeight(80)
            self.more_button.clicked.connect(lambda: self.set_group(self.group, show_all=True))
            self.strip_layout.addWidget(self.more_button)

    def building(self) -> bool:
        return bool(self._pending_panes)

    def _elide_reason(self) -> None:
        text = self.group.reason if self.group is not None else ""
        self.reason.setText(self.reason.fontMetrics().elidedText(text or "", Qt.ElideRight,
                                                                 max(60, self.reason.width())))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide_reason()

    def set_keeper(self, path: str) -> None:
        if self.group is None:
            return
        self.group.keep = path
        for p in self.panes:
            p.set_keeper(p.path == path)

    def set_current(self, path: str) -> None:
        if self.group is None or self.pane_for(path) is None:
            return
        changed = path != self.current_path
        self.current_path = path
        for p in self.panes:
            p.set_current(p.path == path)
        pane = self.pane_for(path)
        if pane is not None:
            self.scroll.ensureWidgetVisible(pane, 20, 0)
        if changed and self.mode != "side":
            self._request_pair()

    def move_current(self, step: int) -> None:
        if not self.panes:
            return
        paths = [p.path for p in self.panes]
        i = paths.index(self.current_path) if self.current_path in paths else 0
        self.set_current(paths[(i + step) % len(paths)])

    def pane_for(self, path: str) -> Optional[MemberPane]:
        for p in self.panes:
            if p.path == path:
                return p
        return None

    def set_preview(self, path: str, pixmap: Optional[QPixmap], message: str = "") -> None:
        pane = self.pane_for(path)
        if pane is not None:
            pane.view.set_image(pixmap, pane.info.width, pane.info.height, message)
            self._update_zoom_label()

    def previews_loaded(self) -> bool:
        if self.group is None:
            return True
        if self._pending_panes:
            return False
        if self.mode != "side":
            return self._pair is not None
        return all(p.view.has_image() or p.view.message for p in self.panes)

    # --- modes ---
    def pair_paths(self) -> tuple[str, str]:
        g = self.group
        other = self.current_path if self.current_path and self.current_path != g.keep else \
            next(p for p in g.paths if p != g.keep)
        return g.keep, other

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.mode_buttons[mode].setChecked(True)
        if self.group is None:
            return
        self.flicker_timer.stop()
        if mode == "side":
            self.stack.setCurrentWidget(self.scroll)
            self.pair_label.setText("")
            self.sync.set_views([p.view for p in self.panes])
        else:
            self.stack.setCurrentWidget(self.pair_frame)
            self.sync.set_views([self.pair_view])
            self._request_pair()
        self._update_zoom_label()

    def _request_pair(self) -> None:
        a, b = self.pair_paths()
        self.pair_label.setText(f"★ {os.path.basename(a)}  ↔  {os.path.basename(b)}")
        if self._pair is not None and (self._pair["a"], self._pair["b"]) == (a, b):
            self._show_pair()
            return
        self._pair = None
        self.pair_view.set_image(None, message="Comparing…")
        self.pairRequested.emit(a, b)

    def set_pair(self, result: dict) -> None:
        if self.group is None or (result["a"], result["b"]) != self.pair_paths():
            return
        self._pair = result
        if self.mode != "side":
            self._show_pair()

    def _show_pair(self) -> None:
        r = self._pair
        self.flicker_timer.stop()
        if r.get("error"):
            self.pair_view.set_image(None, message=r["error"])
            self.pair_caption.setText("")
            return
        keeper = next(f for f in self.group.files if f.path == r["a"])
        w, h = keeper.width or r["img_a"].width(), keeper.height or r["img_a"].height()
        if self.mode == "diff":
            self.pair_view.set_image(QPixmap.fromImage(r["diff"]), w, h)
            self.pair_caption.setText(
                f"Bright areas differ. Average difference {r['mean'] * 100:.1f} %, "
                f"{r['changed'] * 100:.0f} % of the picture visibly changed (the second file is scaled to the "
                "first one's size).")
        else:
            self._pix_a = QPixmap.fromImage(r["img_a"])
            self._pix_b = QPixmap.fromImage(r["img_b"])
            self._flick = False
            self.pair_view.set_image(self._pix_a, w, h)
            self.pair_caption.setText("Showing ★ " + os.path.basename(r["a"]))
            self.flicker_timer.start()
        self._update_zoom_label()

    def _flicker(self) -> None:
        if self._pair is None or self.mode != "flicker":
            self.flicker_timer.stop()
            return
        self._flick = not self._flick
        path = self._pair["b"] if self._flick else self._pair["a"]
        self.pair_view.item.setPixmap(self._pix_b if self._flick else self._pix_a)
        self.pair_caption.setText(("Showing " if self._flick else "Showing ★ ") + os.path.basename(path))

    # --- zoom ---
    def fit(self) -> None:
        self.sync.fit()

    def actual_size(self) -> None:
        self.sync.actual()

    def zoom_in(self) -> None:
        self.sync.zoom_by(1.25)

    def zoom_out(self) -> None:
        self.sync.zoom_by(0.8)

    def _update_zoom_label(self) -> None:
        pct = self.sync.percent() if self.group is not None else None
        self.zoom_label.setText(f"{pct} %" if pct is not None else "")
