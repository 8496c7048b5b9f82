"""Paints one group row: a strip of thumbnails, the kind badge, the reason and the space to free.

Fonts, metrics, alignments and badges are prepared once, so a row costs a handful of draw calls.
"""
from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from .. import theme
from ..fmt import human_bytes
from ..models.groups_model import GroupRole

ROW_HEIGHT = 92
THUMB = 64
LEFT_MIDDLE = Qt.AlignLeft | Qt.AlignVCenter
CENTER = Qt.AlignCenter


def badge_pixmap(text: str, color: str, font: QFont, ratio: float = 1.0) -> QPixmap:
    """A rounded pill with `text` (rendered once and reused)."""
    fm = QFontMetrics(font)
    w, h = fm.horizontalAdvance(text) + 14, fm.height() + 4
    pix = QPixmap(int(w * ratio), int(h * ratio))
    pix.setDevicePixelRatio(ratio)
    pix.fill(Qt.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.Antialiasing)
    bg = QColor(color)
    bg.setAlpha(40)
    p.setPen(Qt.NoPen)
    p.setBrush(bg)
    p.drawRoundedRect(QRectF(0, 0, w, h), h / 2, h / 2)
    p.setPen(QColor(color))
    p.setFont(font)
    p.drawText(QRect(0, 0, w, h), CENTER, text)
    p.end()
    return pix


class GroupDelegate(QStyledItemDelegate):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._font_key = None
        self._badges: dict[str, QPixmap] = {}

    def sizeHint(self, option, index) -> QSize:
        return QSize(360, ROW_HEIGHT)

    def _prepare(self, option) -> None:
        key = (option.font.key(), theme.color("text"))
        if key == self._font_key:
            return
        self._font_key = key
        self.base = QFont(option.font)
        self.bold = QFont(option.font)
        self.bold.setBold(True)
        self.small = QFont(option.font)
        self.small.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.88))
        self.fm = QFontMetrics(self.base)
        self.fm_small = QFontMetrics(self.small)
        self.line_h = self.fm.height()
        self.colors = {k: QColor(theme.color(k)) for k in ("text", "muted", "base", "alt", "highlight")}
        ratio = option.widget.devicePixelRatioF() if option.widget is not None else 1.0
        self._badges = {kind: badge_pixmap(label, theme.KIND_COLORS[kind], self.small, ratio)
                        for kind, label in theme.KIND_LABELS.items()}

    def paint(self, p: QPainter, option, index) -> None:
        model = index.model()
        g = model.group_at(index.row()) if hasattr(model, "group_at") else index.data(GroupRole)
        if g is None:
            return
        self._prepare(option)
        c = self.colors
        p.save()
        p.setRenderHint(QPainter.Antialiasing)
        r = option.rect.adjusted(6, 3, -6, -3)
        selected = bool(option.state & QStyle.State_Selected)
        hover = bool(option.state & QStyle.State_MouseOver)
        if selected or hover:
            bg = QColor(c["highlight"])
            bg.setAlpha(46 if selected else 18)
            p.setPen(QPen(c["highlight"], 1.5) if selected else Qt.NoPen)
            p.setBrush(bg)
            p.drawRoundedRect(QRectF(r), 8, 8)

        # thumbnails, slightly overlapping like a stack of prints
        thumbs = model.thumbnails_at(index.row()) if hasattr(model, "thumbnails_at") else []
        x = r.left() + 10
        y = r.top() + (r.height() - THUMB) // 2
        count = len(g.files)
        shown = max(1, min(len(thumbs) or 1, 3))
        step = 16
        frame_pen = QPen(c["base"], 2)
        for i in range(shown):
            rect = QRect(x + i * step, y, THUMB, THUMB)
            path = QPainterPath()
            path.addRoundedRect(QRectF(rect), 6, 6)
            pix = thumbs[i] if i < len(thumbs) else None
            p.setPen(frame_pen)
            if pix is not None and not pix.isNull():
                p.save()
                p.setClipPath(path)
                scale = THUMB / min(pix.width(), pix.height())
                sw, sh = THUMB / scale, THUMB / scale
                src = QRectF((pix.width() - sw) / 2, (pix.height() - sh) / 2, sw, sh)
                p.drawPixmap(QRectF(rect), pix, src)
                p.restore()
                p.setBrush(Qt.NoBrush)
            else:
                p.setBrush(c["alt"])
            p.drawPath(path)
        text_left = x + 2 * step + THUMB + 14  # same column for every row

        line_h = self.line_h
        top = r.top() + (r.height() - 3 * line_h - 8) // 2
        width = r.right() - text_left - 8
        # line 1: kind badge
        badge = self._badges.get(g.kind)
        if badge is not None:
            p.drawPixmap(text_left, top, badge)
        # line 2: reason
        p.setFont(self.base)
        p.setPen(c["text"])
        p.drawText(QRect(text_left, top + line_h + 6, width, line_h), LEFT_MIDDLE,
                   self.fm.elidedText(g.reason or "", Qt.ElideRight, width))
        # line 3: sizes
        p.setFont(self.small)
        p.setPen(c["muted"])
        total = g.total_bytes
        if g.kind == "similar":
            info = f"{count} files · {human_bytes(total)} · nothing to free"
        else:
            info = f"{count} files · {human_bytes(g.reclaimable_bytes)} to free"
        p.drawText(QRect(text_left, top + 2 * line_h + 8, width, line_h), LEFT_MIDDLE,
                   self.fm_small.elidedText(info, Qt.ElideRight, width))
        p.restore()
