"""`desktop-dedup gui [--library DIR] [--milvus-uri URI] [--screenshot PNG]`: the app's entry point.

Nothing heavy is imported before the window shows: the engine (and torch, on the scan's worker thread)
loads later.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Optional

_T0 = time.perf_counter()


def seconds_since_process_start() -> float:
    """Time since the process started (Linux: /proc), else since this module was imported."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        start_ticks = int(fields[19])
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _T0


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="desktop-dedup gui", description="Open the Desktop Dedup window.")
    p.add_argument("--library", metavar="DIR", help="library folder (catalogue, thumbnails, history); "
                                                      "default: your user data folder")
    p.add_argument("--milvus-uri", metavar="URI", help="use this Milvus server instead of the built-in one")
    p.add_argument("--screenshot", metavar="PNG",
                   help="open the review window on the library, wait until it has loaded, save a "
                        "screenshot to PNG and exit")
    p.add_argument("--size", default="1280x800", help=argparse.SUPPRESS)
    p.add_argument("--startup-probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run a scan / download (scan_worker)
    argv = list(argv)
    if argv[:1] == ["gui"]:  # a frozen build may start its own executable as `gui --worker ...`
        argv = argv[1:]
    return p.parse_args(argv)


def make_app(argv0: str = "desktop-dedup"):
    """The QApplication with names, icon and theme (reuses an existing one)."""
    from PySide6.QtWidgets import QApplication

    from desktop_dedup import APP_DISPLAY_NAME, APP_NAME, __version__

    from .prefs import ORGANIZATION
    from .theme import apply_theme

    app = QApplication.instance() or QApplication([argv0])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_DISPLAY_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("desktop-dedup")
    apply_theme(app)
    return app


def take_screenshot(window, path: str, timeout: float, done) -> None:
    """Wait until the window has loaded its library, thumbnails and previews, then save it to `path`."""
    from PySide6.QtCore import QTimer

    start = time.monotonic()
    state = {"settled_since": None, "selected": False}

    def tick():
        now = time.monotonic()
        if window._ready and not state["selected"]:
            state["selected"] = True
            if window.groups_model.rowCount():
                window.groups_view.select_row(0)
        settled = window.is_settled() and state["selected"]
        if settled:
            state["settled_since"] = state["settled_since"] or now
        else:
            state["settled_since"] = None
        # settled for a short while (late repaints), or out of time
        if (state["settled_since"] and now - state["settled_since"] > 0.4) or now - start > timeout:
            timer.stop()
            window.repaint()
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            ok = window.grab().save(path)
            done(0 if ok and now - start <= timeout else (1 if not ok else 0))

    timer = QTimer(window)
    timer.setInterval(100)
    timer.timeout.connect(tick)
    timer.start()


def main(argv: Optional[list[str]] = None, *, engine=None) -> int:
    """Run the app; returns the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.worker:
        import json

        from .scan_worker import main as worker_main

        return worker_main(json.loads(args.worker))
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        if args.screenshot or args.startup_probe:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"  # rendering to a file needs no screen
        else:
            print("desktop-dedup: no display found (neither DISPLAY nor WAYLAND_DISPLAY is set). Run the app in "
                  "a desktop session, or use the command line: desktop-dedup scan --help", file=sys.stderr)
            return 2
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    embedded = QApplication.instance() is not None  # called from inside a running Qt program (tests)
    app = make_app()
    loop = QEventLoop() if embedded else app

    from . import errors
    from .views.dialogs import Dialogs
    from .window import MainWindow

    interactive = not (args.screenshot or args.startup_probe)
    dialogs = Dialogs(interactive=interactive)
    window = MainWindow(engine=engine, library_path=args.library, milvus_uri=args.milvus_uri, dialogs=dialogs)
    errors.install_excepthook(lambda message, hint: dialogs.error(window, message, hint))
    status = {"code": 0}

    def finish(code: int) -> None:
        status["code"] = code
        window.close()
        loop.quit()

    def first_shown():
        elapsed = seconds_since_process_start()
        errors.log(f"window shown {elapsed * 1000:.0f} ms after the process started")
        if args.startup_probe:
            print(f"first_window_ms={elapsed * 1000:.0f}", flush=True)
            finish(0)

    window.firstShown.connect(first_shown)
    if args.screenshot:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            w, h = 1280, 800
        window.resize(max(1280, w), max(800, h))
        take_screenshot(window, args.screenshot, args.timeout, finish)
    window.show()
    loop.exec()
    for kind, text in dialogs.log:
        if kind == "error" and not interactive:
            print(f"desktop-dedup: {text}", file=sys.stderr)
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())
