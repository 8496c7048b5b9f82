"""The About box."""
from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from desktop_dedup import APP_DISPLAY_NAME, __version__


def about_text() -> str:
    return (f"<h3>{APP_DISPLAY_NAME} {__version__}</h3>"
            "<p>Finds identical files, edited copies and similar photos in your folders, lets you compare "
            "them side by side and moves the ones you choose to the system trash, with undo.</p>"
            "<p>Nothing leaves your computer: pictures are compared by a neural network running locally.</p>")


def show_about(parent: QWidget) -> QMessageBox:
    box = QMessageBox(parent)
    box.setWindowTitle(f"About {APP_DISPLAY_NAME}")
    box.setText(about_text())
    icon = parent.windowIcon() if parent is not None else None
    if icon is not None and not icon.isNull():
        box.setIconPixmap(icon.pixmap(64, 64))
    box.open()
    return box
