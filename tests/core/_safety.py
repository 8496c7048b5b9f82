"""Shared helpers for the safety / bad-input / crash tests: an isolated environment and a CLI runner."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Optional

import pytest

MODEL = "efficientnet-lite0"  # real ImageNet weights ship with the package: works offline
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def iso(tmp_path, monkeypatch):
    """Isolated run: own OS trash ($XDG_DATA_HOME), plain fp32 (no slow JIT warm-up), paths for photos/library."""
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    monkeypatch.setenv("DESKTOP_DEDUP_PRECISION", "fp32")
    monkeypatch.delenv("DESKTOP_DEDUP_TEST_PAUSE_AT", raising=False)

    class Iso:
        root = tmp_path
        photos = str(tmp_path / "photos")
        library = str(tmp_path / "library")
        trash_files = str(xdg / "Trash" / "files")
        trash_info = str(xdg / "Trash" / "info")

    os.makedirs(Iso.photos)
    return Iso


def scan(library: str, roots: list[str], **kw):
    """An in-process scan; returns the ScanResult (the library is closed again)."""
    from desktop_dedup.core.library import Library

    with Library.open(library) as lib:
        return lib.scan(roots, model=MODEL, **kw)


def cli(*args: str, env: Optional[dict] = None, timeout: float = 180, **kw) -> subprocess.CompletedProcess:
    """Run `python -m desktop_dedup ARGS` in a new process (inherits the test's environment)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = REPO + os.pathsep + e.get("PYTHONPATH", "")
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "desktop_dedup", *args], env=e, capture_output=True,
                          timeout=timeout, **kw)


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        return json.load(fh)


def group_sets(groups, kinds=("exact", "near")) -> set[frozenset[str]]:
    """Groups (Group objects or JSON dicts) of the given kinds as a set of frozensets of paths."""
    out = set()
    for g in groups:
        kind = g["kind"] if isinstance(g, dict) else g.kind
        files = g["files"] if isinstance(g, dict) else g.paths
        if kind in kinds:
            out.add(frozenset(files))
    return out
