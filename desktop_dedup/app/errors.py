"""Friendly errors: a DedupError shows its message and hint; anything else is logged with its traceback to
a log file in the library folder and shown as a short message that says where the details are."""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import traceback
from typing import Callable, Optional

from desktop_dedup.core.types import DedupError

LOG_NAME = "desktop-dedup.log"
_log_dir: Optional[str] = None
_showing = False


def set_log_dir(path: Optional[str]) -> None:
    global _log_dir
    _log_dir = path


def log_path() -> str:
    base = _log_dir
    if not base:
        try:
            import platformdirs

            base = platformdirs.user_log_dir("desktop-dedup", appauthor=False)
        except Exception:  # pragma: no cover
            base = tempfile.gettempdir()
    return os.path.join(base, LOG_NAME)


def log(text: str) -> str:
    path = log_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n{text.rstrip()}\n")
    except OSError:
        pass
    return path


def log_exception(exc: BaseException, context: str = "") -> str:
    tb = getattr(exc, "traceback_text", None) or "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))
    return log((context + "\n" if context else "") + tb)


def friendly(exc: BaseException, doing: str = "") -> tuple[str, str]:
    """(message, hint) for the user; never a traceback."""
    if isinstance(exc, DedupError):
        return exc.message, exc.hint
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory.", "Close other programs and try again."
    if isinstance(exc, PermissionError):
        return (f"Permission denied: {getattr(exc, 'filename', '') or exc}.",
                "Check that you may read (and, to trash, write) this folder.")
    if isinstance(exc, OSError) and getattr(exc, "strerror", None):
        return (f"{exc.strerror}: {getattr(exc, 'filename', '') or ''}".rstrip(": "),
                "Check that the disk or folder is still available, then try again.")
    path = log_exception(exc, doing)
    what = f"Something unexpected went wrong while {doing}." if doing else "Something unexpected went wrong."
    return what, f"Your photos were not changed. The details were saved to {path}; please include that file " \
                 "if you report the problem."


def install_excepthook(show: Callable[[str, str], None]) -> None:
    """Route uncaught exceptions (GUI and threads) to the log file and a friendly dialog."""

    def hook(exc_type, exc, tb):
        global _showing
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        if exc.__traceback__ is None:
            exc = exc.with_traceback(tb)
        message, hint = friendly(exc) if isinstance(exc, DedupError) else (None, None)
        if message is None:
            path = log_exception(exc, "uncaught exception")
            message = "Something unexpected went wrong."
            hint = (f"Your photos were not changed. The details were saved to {path}. You can keep working; "
                    "if it happens again, please report it with that file.")
        if _showing:
            return
        _showing = True
        try:
            show(message, hint)
        finally:
            _showing = False

    def thread_hook(args):
        log_exception(args.exc_value, f"uncaught exception in thread {getattr(args.thread, 'name', '?')}")

    sys.excepthook = hook
    threading.excepthook = thread_hook
