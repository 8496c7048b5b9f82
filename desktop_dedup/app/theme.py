"""Look and feel: Fusion style, a light or dark palette, one accent colour and a small style sheet."""
from __future__ import annotations

import os

from desktop_dedup import resources_dir

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

#: Group kinds as the user reads them.
KIND_LABELS = {"exact": "identical", "near": "edited copy", "similar": "similar, not a duplicate"}
KIND_TITLES = {"exact": "Identical", "near": "Edited copy", "similar": "Similar, not a duplicate"}
#: Badge colours per kind (work on light and dark backgrounds).
KIND_COLORS = {"exact": "#2e9d57", "near": "#d08a12", "similar": "#7a68d8"}
ACCENT = "#3b78e7"
RESOURCES = resources_dir()
DANGER = "#d64545"

_LIGHT = {
    "window": "#f4f5f7", "base": "#ffffff", "alt": "#f0f2f5", "text": "#1d2127", "muted": "#6a7280",
    "button": "#ffffff", "border": "#d9dde3", "highlight": ACCENT, "card": "#ffffff", "hover": "#eef3fd",
}
_DARK = {
    "window": "#1c1e22", "base": "#24272c", "alt": "#2a2d33", "text": "#e7e9ec", "muted": "#9aa1ab",
    "button": "#2c3036", "border": "#3a3f46", "highlight": "#4c8dff", "card": "#25282d", "hover": "#2e3542",
}

_colors: dict = dict(_LIGHT)


def color(name: str) -> str:
    """A palette colour of the current theme by role name (window, base, text, muted, border, card...)."""
    return _colors[name]


def is_dark() -> bool:
    return _colors is not None and _colors.get("window") == _DARK["window"]


def system_prefers_dark() -> bool:
    try:
        return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except Exception:  # pragma: no cover - older Qt
        return False


def apply_theme(app: QApplication, dark: bool | None = None) -> None:
    """Fusion style, palette and style sheet; dark follows the system colour scheme unless given."""
    global _colors
    if dark is None:
        dark = system_prefers_dark()
    _colors = dict(_DARK if dark else _LIGHT)
    c = _colors
    app.setStyle("Fusion")
    pal = QPalette()
    pal.setColor(QPalette.Window, QColor(c["window"]))
    pal.setColor(QPalette.WindowText, QColor(c["text"]))
    pal.setColor(QPalette.Base, QColor(c["base"]))
    pal.setColor(QPalette.AlternateBase, QColor(c["alt"]))
    pal.setColor(QPalette.Text, QColor(c["text"]))
    pal.setColor(QPalette.Button, QColor(c["button"]))
    pal.setColor(QPalette.ButtonText, QColor(c["text"]))
    pal.setColor(QPalette.ToolTipBase, QColor(c["card"]))
    pal.setColor(QPalette.ToolTipText, QColor(c["text"]))
    pal.setColor(QPalette.PlaceholderText, QColor(c["muted"]))
    pal.setColor(QPalette.Highlight, QColor(c["highlight"]))
    pal.setColor(QPalette.HighlightedText, QColor("#ffffff"))
    pal.setColor(QPalette.Link, QColor(c["highlight"]))
    pal.setColor(QPalette.Mid, QColor(c["border"]))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        pal.setColor(QPalette.Disabled, role, QColor(c["muted"]))
    app.setPalette(pal)
    app.setStyleSheet(style_sheet())


def style_sheet() -> str:
    c = _colors
    CHEVRON = os.path.join(RESOURCES, "chevron-down.svg").replace(os.sep, "/")
    return f"""
QWidget {{ font-size: 10pt; }}
QMainWindow, QDialog {{ background: {c['window']}; }}
QLabel[role="title"] {{ font-size: 20pt; font-weight: 600; }}
QLabel[role="subtitle"] {{ font-size: 11pt; color: {c['muted']}; }}
QLabel[role="heading"] {{ font-size: 11pt; font-weight: 600; }}
QLabel[role="muted"] {{ color: {c['muted']}; }}
QFrame[role="card"] {{ background: {c['card']}; border: 1px solid {c['border']}; border-radius: 10px; }}
QFrame[role="card"][current="true"] {{ border: 2px solid {c['highlight']}; }}
QPushButton {{ padding: 6px 14px; border: 1px solid {c['border']}; border-radius: 6px; background: {c['button']}; }}
QPushButton:hover {{ background: {c['hover']}; }}
QPushButton:disabled {{ color: {c['muted']}; }}
QPushButton[role="primary"] {{ background: {c['highlight']}; color: white; border: 1px solid {c['highlight']}; font-weight: 600; }}
QPushButton[role="primary"]:hover {{ background: #2f66cc; }}
QPushButton[role="primary"]:disabled {{ background: {c['border']}; border-color: {c['border']}; color: {c['muted']}; }}
QPushButton[role="danger"] {{ color: {DANGER}; }}
QPushButton[role="danger"]:hover {{ background: {DANGER}; color: white; }}
QToolButton {{ padding: 4px 8px; border-radius: 6px; }}
QToolButton:hover {{ background: {c['hover']}; }}
QToolButton:checked {{ background: {c['hover']}; border: 1px solid {c['highlight']}; }}
QListView, QTreeWidget, QPlainTextEdit, QLineEdit, QListWidget {{
    background: {c['base']}; border: 1px solid {c['border']}; border-radius: 8px; }}
QLineEdit, QPlainTextEdit {{ padding: 4px 6px; }}
QListWidget {{ padding: 4px; }}
QListWidget::item {{ padding: 5px 6px; border-radius: 5px; }}
QListWidget::item:selected {{ background: {c['hover']}; color: {c['text']}; }}
QComboBox {{ padding: 5px 10px; border: 1px solid {c['border']}; border-radius: 6px; background: {c['button']}; }}
QComboBox:hover {{ background: {c['hover']}; }}
QComboBox::drop-down {{ border: none; width: 22px; }}
QComboBox::down-arrow {{ image: url("{CHEVRON}"); width: 12px; height: 12px; margin-right: 8px; }}
QComboBox QAbstractItemView {{ border: 1px solid {c['border']}; background: {c['base']}; padding: 4px;
    selection-background-color: {c['hover']}; selection-color: {c['text']}; outline: none; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 2px; }}
QScrollBar::handle:vertical {{ background: {c['border']}; border-radius: 3px; min-height: 30px; }}
QScrollBar::handle:vertical:hover {{ background: {c['muted']}; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 2px; }}
QScrollBar::handle:horizontal {{ background: {c['border']}; border-radius: 3px; min-width: 30px; }}
QScrollBar::handle:horizontal:hover {{ background: {c['muted']}; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}
QMenuBar {{ background: {c['window']}; }}
QMenuBar::item {{ padding: 4px 10px; background: transparent; }}
QMenuBar::item:selected {{ background: {c['hover']}; border-radius: 4px; }}
QMenu {{ background: {c['card']}; border: 1px solid {c['border']}; padding: 4px; }}
QMenu::item {{ padding: 5px 24px 5px 16px; border-radius: 4px; }}
QMenu::item:selected {{ background: {c['hover']}; color: {c['text']}; }}
QMenu::separator {{ height: 1px; background: {c['border']}; margin: 4px 8px; }}
QProgressBar {{ border: none; border-radius: 5px; background: {c['alt']}; height: 10px; text-align: center; }}
QProgressBar::chunk {{ border-radius: 5px; background: {c['highlight']}; }}
QStatusBar {{ color: {c['muted']}; padding: 0 8px; }}
QStatusBar QLabel {{ padding: 0 10px 0 0; }}
QToolBar {{ border: none; spacing: 6px; padding: 4px 8px; background: {c['window']}; }}
QSplitter::handle {{ background: transparent; }}
QScrollArea {{ border: none; background: transparent; }}
"""
