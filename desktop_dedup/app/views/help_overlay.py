"""The keyboard help drawn over the window (F1 or ?); any key or click closes it."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QWidget

from .. import theme

SHORTCUTS = [
    ("Review", [
        ("↓  J  PgDn", "Next group"),
        ("↑  Shift+J  PgUp", "Previous group"),
        ("←  →", "Previous / next file in the group"),
        ("K", "Keep the highlighted file, trash the rest of the group"),
        ("Shift+K", "Keep the suggested file ★, trash the rest"),
        ("T", "Trash the highlighted file"),
        ("S", "Skip: next group, nothing changes"),
        ("N", "Not a duplicate: hide this group for good"),
        ("Z  or  Ctrl+Z", "Undo the last trash"),
    ]),
    ("View", [
        ("D", "Side by side / difference / flicker"),
        ("0  /  1", "Fit / 100 %"),
        ("+  −", "Zoom in / out (or the mouse wheel)"),
        ("F1  or  ?", "This help"),
    ]),
]


class HelpOverlay(QWidget):
    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setAttribute(Qt.WA_StyledBackground, False)
        self.setFocusPolicy(Qt.StrongFocus)
        self.hide()
        parent.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.parent() and event.type() == QEvent.Resize:
            self.setGeometry(self.parent().rect())
        return False

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self.setGeometry(self.parent().rect())
            self.show()
            self.raise_()
            self.setFocus()

    def keyPressEvent(self, event) -> None:
        self.hide()

    def mousePressEvent(self, event) -> None:
        self.hide()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor(10, 12, 16, 150))
        line = self.fontMetrics().height()
        w = 660
        h = 66 + sum(line + 4 + len(items) * (line + 9) + 12 for _s, items in SHORTCUTS) + 40
        card = QRect((self.width() - w) // 2, max(8, (self.height() - h) // 2), w, h)
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(theme.color("card")))
        p.drawRoundedRect(card, 14, 14)
        base = QFont(self.font())
        title = QFont(base)
        title.setPointSizeF(base.pointSizeF() * 1.5)
        title.setBold(True)
        head = QFont(base)
        head.setBold(True)
        key_font = QFont(base)
        key_font.setBold(True)
        p.setFont(title)
        p.setPen(QColor(theme.color("text")))
        p.drawText(card.adjusted(28, 20, -28, 0), Qt.AlignTop | Qt.AlignLeft, "Keyboard shortcuts")
        y = card.top() + 66
        for section, items in SHORTCUTS:
            p.setFont(head)
            p.setPen(QColor(theme.color("muted")))
            p.drawText(QRect(card.left() + 28, y, w - 56, line), Qt.AlignLeft, section.upper())
            y += line + 4
            for keys, what in items:
                p.setFont(key_font)
                p.setPen(QColor(theme.color("highlight")))
                p.drawText(QRect(card.left() + 28, y, 170, line + 6), Qt.AlignLeft | Qt.AlignVCenter, keys)
                p.setFont(base)
                p.setPen(QColor(theme.color("text")))
                p.drawText(QRect(card.left() + 210, y, w - 238, line + 6), Qt.AlignLeft | Qt.AlignVCenter, what)
                y += line + 9
            y += 12
        p.setPen(QColor(theme.color("muted")))
        p.drawText(card.adjusted(28, 0, -28, -16), Qt.AlignBottom | Qt.AlignRight, "Press any key to close")
