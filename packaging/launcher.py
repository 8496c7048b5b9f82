"""Entry point of the frozen app (PyInstaller): `desktop-dedup [command ...]`, no command = the window.

Handles what only matters frozen: multiprocessing.freeze_support(), and on Windows importing torch
before Qt when a torch build is bundled (c10.dll fails with WinError 1114 if Qt's DLLs load first).
"""
import importlib.util
import multiprocessing
import os
import sys


def _prepare() -> None:
    multiprocessing.freeze_support()
    if getattr(sys, "frozen", False):
        # a windowed build has no console streams; give them a sink so prints never crash
        if sys.stdout is None:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        if sys.stderr is None:
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    if sys.platform == "win32" and importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401  - must precede PySide6 on Windows


def main() -> int:
    _prepare()
    from desktop_dedup.cli import main as cli_main

    return cli_main(sys.argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
