"""Work-arounds for known binding bugs (no Qt import here).

PySide6 6.12.0 under Python < 3.12 drops one reference to None on every call of a method that returns
nothing (QPainter.setPen, QLabel.setText, ...): after enough painting None's count reaches zero and the
interpreter aborts ("Fatal Python error: none_dealloc"). Python 3.12 made None, True and False immortal;
`protect_singletons()` does the same here by giving them a reference count no program can use up.
The real fix is a PySide6 without the bug (6.11.x works; pin `pyside6-essentials!=6.12.0` on Python 3.11).
"""
from __future__ import annotations

import sys
from typing import Optional

_done = False


def pyside_version() -> Optional[str]:
    from importlib import metadata

    for dist in ("PySide6-Essentials", "PySide6", "pyside6-essentials", "pyside6"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def affected(version: Optional[str] = None, python: tuple = tuple(sys.version_info[:2])) -> bool:
    version = version if version is not None else pyside_version()
    return python < (3, 12) and bool(version) and version.startswith("6.12.")


def protect_singletons() -> bool:
    """Make None / True / False effectively immortal when the running PySide6 needs it; True if applied."""
    global _done
    if _done or not affected():
        return _done
    import ctypes

    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    _done = True
    return True
