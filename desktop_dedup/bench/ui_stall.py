"""Measure how responsive the app stays while it indexes, and how fast its first window shows.

    python -m desktop_dedup.bench.ui_stall [--images 300] [--photos DIR] [--model efficientnet-lite0]

Builds a library of generated pictures (or scans DIR), opens the real MainWindow offscreen, starts the
scan through the first-run page and runs a 10 ms QTimer on the GUI thread: the longest gap between two
ticks is the longest event-loop stall. Also starts `python -m desktop_dedup.app.main --startup-probe` to
time process start -> window shown. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import faulthandler
import json
import os
import subprocess
import sys
import tempfile
import time


def make_images(root: str, n: int) -> None:
    """n small distinct JPEGs (every fourth one with a half-size copy)."""
    import random

    from PIL import Image, ImageDraw

    for i in range(n):
        rnd = random.Random(i)
        img = Image.new("RGB", (480, 360), tuple(rnd.randrange(30, 225) for _ in range(3)))
        d = ImageDraw.Draw(img)
        for _ in range(8):
            x0, y0 = rnd.randrange(480), rnd.randrange(360)
            box = [x0, y0, x0 + rnd.randrange(20, 240), y0 + rnd.randrange(20, 180)]
            (d.ellipse if rnd.random() < 0.5 else d.rectangle)(box, fill=tuple(rnd.randrange(256) for _ in range(3)))
        folder = os.path.join(root, f"folder{i % 7}")
        os.makedirs(folder, exist_ok=True)
        img.save(os.path.join(folder, f"IMG_{i:05d}.jpg"), quality=88)
        if i % 4 == 0:
            img.resize((240, 180)).save(os.path.join(folder, f"IMG_{i:05d}_small.jpg"), quality=80)


def startup_ms(library: str) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "desktop_dedup.app.main", "--library", library,
                           "--startup-probe"], env=env, capture_output=True, text=True, timeout=120)
    wall = (time.perf_counter() - t) * 1000
    for line in proc.stdout.splitlines():
        if line.startswith("first_window_ms="):
            return float(line.split("=", 1)[1])
    raise SystemExit(f"startup probe failed (wall {wall:.0f} ms): {proc.stderr[-2000:]}")


def measure_stall(photos: str, library: str, model: str, settings: str, watchdog: str | None = None) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from desktop_dedup.app.main import make_app
    from desktop_dedup.app.prefs import Prefs
    from desktop_dedup.app.views.dialogs import Dialogs
    from desktop_dedup.app.window import MainWindow

    app = make_app()
    prefs = Prefs(QSettings(settings, QSettings.IniFormat))
    prefs.model = model
    w = MainWindow(prefs=prefs, library_path=library, dialogs=Dialogs(interactive=False))
    w.resize(1280, 800)
    w.show()
    loop = QEventLoop()
    w.libraryReady.connect(loop.quit)
    if not w._ready:
        loop.exec()
    phase = {"now": "start", "files": 0}
    events: list[tuple[float, str]] = []
    gaps: list[tuple[float, float, str]] = []
    state = {"last": time.perf_counter(), "t0": time.perf_counter(), "torch": "torch" in sys.modules}

    def progressed(p):
        if p.phase != phase["now"]:
            events.append((round(time.perf_counter() - state["t0"], 2), p.phase))
        phase.update(now=p.phase, files=p.total or phase["files"])

    w.library.scanProgress.connect(progressed)
    dog = open(watchdog, "w") if watchdog else None

    def tick():
        now = time.perf_counter()
        gaps.append((now - state["last"], now - state["t0"], phase["now"]))
        state["last"] = now
        if dog is not None:  # dumps every thread's stack if the GUI thread misses the next deadline
            faulthandler.dump_traceback_later(0.3, file=dog)
        if not state["torch"] and "torch" in sys.modules:
            state["torch"] = True
            events.append((round(now - state["t0"], 2), "torch in sys.modules"))

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    w.first_run.add_folders([photos])
    finished = {"at": None}

    def scan_finished(_result):
        finished["at"] = time.perf_counter()
        QTimer.singleShot(3000, loop.quit)  # then let the groups load and the first thumbnails render

    w.scan_ctl.finished.connect(scan_finished)
    timer.start()
    state["t0"] = state["last"] = time.perf_counter()
    w.first_run.scan_button.click()
    loop.exec()  # the GUI thread sleeps between events, as in the app
    seconds = (finished["at"] or time.perf_counter()) - state["t0"]
    timer.stop()
    if dog is not None:
        faulthandler.cancel_dump_traceback_later()
        dog.close()
    errors = [t for k, t in w.dialogs.log if k == "error"]
    groups = w.groups_model.rowCount()
    w.close()
    worst = sorted(gaps, reverse=True)[:8]
    model_loading = [t for t, e in events if e == "torch in sys.modules"][:1] + [t for t, e in events if e == "embed"][:1]
    by_phase: dict[str, float] = {}
    for g, t, p in gaps:
        if len(model_loading) == 2 and model_loading[0] - 0.5 <= t <= model_loading[1] + 0.2:
            p = "model load (torch import, one time)"
        by_phase[p] = max(by_phase.get(p, 0.0), round(g * 1000, 1))
    values = sorted(g for g, _t, _p in gaps)
    return {
        "files": phase["files"], "scan_seconds": round(seconds, 1), "groups": groups, "errors": errors,
        "ticks": len(gaps), "longest_stall_ms": round(worst[0][0] * 1000, 1) if worst else None,
        "p99_gap_ms": round(values[int(len(values) * 0.99) - 1] * 1000, 1) if values else None,
        "longest_stall_ms_by_phase": by_phase,
        "worst": [{"ms": round(g * 1000), "at_s": round(t, 2), "phase": p} for g, t, p in worst],
        "events": events,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300, help="generated pictures (when --photos is not given)")
    ap.add_argument("--photos", help="scan this folder instead of generated pictures")
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--keep", help="work folder to keep (default: a temporary one)")
    ap.add_argument("--watchdog", help="write all thread stacks to this file whenever the GUI stalls > 300 ms")
    ap.add_argument("--no-startup", action="store_true", help="skip the time-to-first-window probe")
    args = ap.parse_args(argv)
    work = args.keep or tempfile.mkdtemp(prefix="ui_stall_")
    os.makedirs(work, exist_ok=True)
    photos = args.photos or os.path.join(work, "photos")
    if not args.photos and not os.path.isdir(photos):
        make_images(photos, args.images)
    library = os.path.join(work, "library")
    result = {} if args.no_startup else {"startup_first_window_ms": startup_ms(os.path.join(work, "empty_library"))}
    result.update(measure_stall(photos, library, args.model, os.path.join(work, "settings.ini"), args.watchdog))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
