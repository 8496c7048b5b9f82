"""Screenshots of the app for the README, taken from real widgets on a real library.

    python -m desktop_dedup.bench.ui_screenshots PHOTOS_DIR [--out resources/screenshots] [--model efficientnet-lite0]

Scans PHOTOS_DIR into a fresh library (offscreen), capturing: the first-run window, indexing in progress,
the review window (groups list + compare view), the difference view and the same review window in dark
mode. PNGs are kept under 300 KB (reduced to 256 colours when needed).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

LIMIT = 300_000


def save_small(widget, path: str) -> int:
    """Save a grab of `widget`; re-encode with an adaptive palette when the PNG is too big."""
    from PIL import Image

    widget.grab().save(path)
    if os.path.getsize(path) > LIMIT:
        img = Image.open(path).convert("RGB")
        for colors in (256, 192, 128):
            img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                path, optimize=True)
            if os.path.getsize(path) <= LIMIT:
                break
    return os.path.getsize(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photos")
    ap.add_argument("--out", default="resources/screenshots")
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--work", help="keep the library here (default: a temporary folder)")
    ap.add_argument("--only-review", action="store_true",
                    help="reuse the library already scanned in --work: retake only the review screenshots")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QSettings

    from desktop_dedup.app.main import make_app
    from desktop_dedup.app.prefs import Prefs
    from desktop_dedup.app.theme import apply_theme
    from desktop_dedup.app.views.dialogs import Dialogs
    from desktop_dedup.app.window import MainWindow

    work = args.work or tempfile.mkdtemp(prefix="ui_shots_")
    os.makedirs(args.out, exist_ok=True)
    app = make_app()
    apply_theme(app, dark=False)
    loop = QEventLoop()

    def spin(seconds: float = 0.0, until=None, timeout: float = 600.0) -> None:
        end = time.monotonic() + (timeout if until else seconds)
        while time.monotonic() < end:
            loop.processEvents(QEventLoop.AllEvents, 30)
            if until is not None and until():
                return

    prefs = Prefs(QSettings(os.path.join(work, "settings.ini"), QSettings.IniFormat))
    prefs.model = args.model
    photos = os.path.abspath(args.photos)
    subdirs = sorted(os.path.join(photos, d) for d in os.listdir(photos) if os.path.isdir(os.path.join(photos, d)))
    w = MainWindow(prefs=prefs, library_path=os.path.join(work, "library"), dialogs=Dialogs(interactive=False))
    w.resize(1280, 800)
    w.show()
    spin(until=lambda: w._ready)
    shots = {}
    if not args.only_review:
        # 1. first run: folders chosen, ready to scan
        w.first_run.set_folders(subdirs[:3] or [photos])
        spin(0.3)
        shots["first_run.png"] = save_small(w, os.path.join(args.out, "first_run.png"))
        # 2. indexing in progress (the real scan)
        w.first_run.set_folders([photos])
        w.first_run.scan_button.click()
        phase = {"now": ""}
        w.library.scanProgress.connect(lambda p: phase.update(now=p.phase))
        spin(until=lambda: phase["now"] == "embed" and w.progress.bar.value() > w.progress.bar.maximum() * 0.3
             and "files/s" in w.progress.counts.text())
        shots["scanning.png"] = save_small(w, os.path.join(args.out, "scanning.png"))
        spin(until=lambda: not w.scan_ctl.active)
    spin(until=lambda: w.pages.currentWidget() is w.review and w.groups_model.rowCount() > 0, timeout=60)
    # 3. review: an edited-copy group with several members
    groups = w.groups_model.all_groups()

    def same_shape(g):
        """Members with the keeper's aspect ratio (resized / re-saved / retouched copies, not crops)."""
        k = next(f for f in g.files if f.path == g.keep)
        return [f for f in g.files if f.path != g.keep and k.height and f.height
                and abs(f.width / f.height - k.width / k.height) < 0.01]

    near = [g for g in groups if g.kind == "near" and 3 <= len(g.files) <= 4 and same_shape(g)]
    pick = max(near, key=lambda g: len(same_shape(g))) if near else (groups[0] if groups else None)
    if pick is not None:
        w.groups_view.select_group(pick.id)
        spin(0.2)
        if same_shape(pick):
            w.compare.set_current(same_shape(pick)[0].path)
    spin(until=w.is_settled, timeout=120)
    spin(0.5)
    shots["review.png"] = save_small(w, os.path.join(args.out, "review.png"))
    # 4. difference view of the keeper and another member
    w.compare.set_mode("diff")
    spin(until=w.is_settled, timeout=60)
    spin(0.3)
    shots["compare_difference.png"] = save_small(w, os.path.join(args.out, "compare_difference.png"))
    w.compare.set_mode("side")
    # 5. dark mode (a fresh window on the same library so every widget picks up the palette)
    w.close()
    apply_theme(app, dark=True)
    w2 = MainWindow(prefs=prefs, library_path=os.path.join(work, "library"), dialogs=Dialogs(interactive=False))
    w2.resize(1280, 800)
    w2.show()
    spin(until=lambda: w2._ready)
    similar = next((g for g in w2.groups_model.all_groups() if g.kind == "similar"), None)
    if similar is not None:
        w2.groups_view.select_group(similar.id)
    spin(until=w2.is_settled, timeout=120)
    spin(0.5)
    shots["review_dark.png"] = save_small(w2, os.path.join(args.out, "review_dark.png"))
    w2.close()
    for name, size in shots.items():
        print(f"{os.path.join(args.out, name)}  {size / 1000:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
