"""Paints one group row: a strip of thumbnails, the kind badge, the reason and the space to free."""
from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from .. import theme
from ..fmt import human_bytes
from ..models.groups_model import CountRole, GroupRole, ReclaimRole, ThumbsRole, TotalRole

ROW_HEIGHT = 92
THUMB = 64


def paint_badge(p: QPainter, x: int, y: int, text: str, color: str, font: QFont) -> int:
    """A rounded pill with `text`; returns its width."""
    fm = QFontMetrics(font)
    w = fm.horizontalAdvance(text) + 14
    h = fm.height() + 4
    p.save()
    c = QColor(color)
    bg = QColor(c)
    bg.setAlpha(40)
    p.setPen(Qt.NoPen)
    p.setBrush(bg)
    p.drawRoundedRect(QRectF(x, y, w, h), h / 2, h / 2)
    p.setPen(c)
    p.setFont(font)
    p.drawText(QRect(x, y, w, h), Qt.AlignCenter, text)
    p.restore()
    return w


class GroupDelegate(QStyledItemDelegate):
    def sizeHint(self, option, index) -> QSize:
        return QSize(360, ROW_HEIGHT)

    def paint(self, p: QPainter, option, index) -> None:
        g = index.data(GroupRole)
        if g is None:
            return
        p.save()
        p.setRenderHint(QPainter.Antialiasing)
        r = option.rect.adjusted(6, 3, -6, -3)
        selected = bool(option.state & QStyle.State_Selected)
        hover = bool(option.state & QStyle.State_MouseOver)
        if selected or hover:
            bg = QColor(theme.color("highlight"))
            bg.setAlpha(46 if selected else 18)
            p.setPen(QPen(QColor(theme.color("highlight")), 1.5) if selected else Qt.NoPen)
            p.setBrush(bg)
            p.drawRoundedRect(QRectF(r), 8, 8)

        # thumbnails, slightly overlapping like a stack of prints
        thumbs = index.data(ThumbsRole) or []
        x = r.left() + 10
        y = r.top() + (r.height() - THUMB) // 2
        count = index.data(CountRole) or 0
        shown = max(1, min(len(thumbs) or 1, 3))
        step = THUMB - 18
        for i in range(shown):
            tx = x + i * step
            rect = QRect(tx, y, THUMB, THUMB)
            path = QPainterPath()
            path.addRoundedRect(QRectF(rect), 6, 6)
            p.setPen(QPen(QColor(theme.color("base")), 2))
            p.setBrush(QColor(theme.color("alt")))
            p.drawPath(path)
            pix = thumbs[i] if i < len(thumbs) else None
            if pix is not None and not pix.isNull():
                p.save()
                p.setClipPath(path)
                scaled = pix.scaled(THUMB, THUMB, Qt.KeepAspectRatioByExpanding, Qt.SmoothTransformation)
                sx = (scaled.width() - THUMB) // 2
                sy = (scaled.height() - THUMB) // 2
                p.drawPixmap(rect, scaled, QRect(sx, sy, THUMB, THUMB))
                p.restore()
                p.setPen(QPen(QColor(theme.color("base")), 2))
                p.setBrush(Qt.NoBrush)
                p.drawPath(path)
        text_left = x + (shown - 1) * step + THUMB + 14

        base = QFont(option.font)
        bold = QFont(base)
        bold.setBold(True)
        small = QFont(base)
        small.setPointSizeF(max(7.0, base.pointSizeF() * 0.88))
        fm = QFontMetrics(base)
        line_h = fm.height()
        top = r.top() + (r.height() - 3 * line_h - 8) // 2
        width = r.right() - text_left - 8

        # line 1: badge + count
        bw = paint_badge(p, text_left, top, theme.KIND_LABELS.get(g.kind, g.kind),
                         theme.KIND_COLORS.get(g.kind, theme.ACCENT), small)
        p.setFont(bold)
        p.setPen(QColor(theme.color("text")))
        p.drawText(QRect(text_left + bw + 8, top, width - bw - 8, line_h + 4), Qt.AlignVCenter | Qt.AlignLeft,
                   f"{count} files")
        # line 2: reason
        p.setFont(base)
        p.setPen(QColor(theme.color("text")))
        reason = fm.elidedText(g.reason or "", Qt.ElideRight, width)
        p.drawText(QRect(text_left, top + line_h + 6, width, line_h), Qt.AlignVCenter | Qt.AlignLeft, reason)
        # line 3: sizes
        p.setFont(small)
        p.setPen(QColor(theme.color("muted")))
        reclaim = index.data(ReclaimRole) or 0
        total = index.data(TotalRole) or 0
        if g.kind == "similar":
            info = f"{human_bytes(total)} in all · nothing to free unless you choose"
        else:
            info = f"{human_bytes(reclaim)} to free · {human_bytes(total)} in all"
        info = QFontMetrics(small).elidedText(info, Qt.ElideRight, width)
        p.drawText(QRect(text_left, top + 2 * line_h + 8, width, line_h), Qt.AlignVCenter | Qt.AlignLeft, info)
        p.restore()
