"""Render the app icon (resources/icon.svg) to PNGs: `python -m desktop_dedup.app.icons`."""
from __future__ import annotations

import os

from desktop_dedup import resources_dir
import sys

SIZES = (16, 32, 48, 64, 128, 256, 512)


def render_icons(resources: str) -> list[str]:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(["icons"])  # noqa: F841 - needed for painting
    renderer = QSvgRenderer(os.path.join(resources, "icon.svg"))
    out = []
    for size in SIZES:
        img = QImage(size, size, QImage.Format_ARGB32)
        img.fill(Qt.transparent)
        p = QPainter(img)
        p.setRenderHint(QPainter.Antialiasing)
        renderer.render(p)
        p.end()
        path = os.path.join(resources, f"icon-{size}.png")
        img.save(path)
        out.append(path)
    return out


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    here = resources_dir()
    print("\n".join(render_icons(sys.argv[1] if len(sys.argv) > 1 else here)))
