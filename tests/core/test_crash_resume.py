"""Crash and resume: a CLI scan killed with a real SIGKILL (during embedding, between the Milvus insert and the
catalog commit, during grouping) and started again gives the same groups as an uninterrupted run, does not embed
again what was stored, and leaves the catalog and Milvus Lite agreeing on which contents have vectors.

The engine's test hook DESKTOP_DEDUP_TEST_PAUSE_AT=<point> makes the scan print a marker and block there; the
test then kills it. COMMIT_EVERY is lowered to 4 in the child so a small set spans several index commits.
"""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.core._safety import MODEL, REPO, read_json
from tests.photos import save, scene

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

N_SCENES = 12  # unique contents; 3 of them also get a byte copy
RUNNER = """
import sys
import desktop_dedup.core.library as L
L.COMMIT_EVERY = 4
from desktop_dedup.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    folder = str(root / "photos")
    os.makedirs(os.path.join(folder, "copies"))
    for i in range(N_SCENES):
        p = save(scene(i, (128, 96)), os.path.join(folder, f"s{i:02d}.jpg"))
        if i % 4 == 0:
            shutil.copyfile(p, os.path.join(folder, "copies", f"s{i:02d}_copy.jpg"))
    return root, folder


def _env(root, **extra) -> dict:
    env = dict(os.environ)
    env.update({"PYTHONPATH": REPO, "DESKTOP_DEDUP_PRECISION": "fp32", "XDG_DATA_HOME": str(root / "xdg")})
    env.pop("DESKTOP_DEDUP_TEST_PAUSE_AT", None)
    env.update(extra)
    return env


def _scan_args(folder, library, out):
    return ["scan", folder, "--library", library, "--model", MODEL, "--json", out]


def _run(library, folder, out, monkeypatch) -> dict:
    """The CLI scan, run in this process (the restart after a crash; saves a model load per run)."""
    from desktop_dedup import cli

    monkeypatch.setenv("DESKTOP_DEDUP_PRECISION", "fp32")
    monkeypatch.delenv("DESKTOP_DEDUP_TEST_PAUSE_AT", raising=False)
    assert cli.main(_scan_args(folder, library, out)) == 0
    return read_json(out)


def _groups(j) -> set:
    return {(g["kind"], frozenset(g["files"])) for g in j["groups"]}


_REFERENCE: dict = {}


def _reference(root, folder, monkeypatch) -> dict:
    """An uninterrupted run (computed once per module)."""
    if "j" not in _REFERENCE:
        j = _run(str(root / "ref_library"), folder, str(root / "ref.json"), monkeypatch)
        assert j["stats"]["embedded"] == N_SCENES
        assert sum(1 for g in j["groups"] if g["kind"] == "exact") == 3
        _REFERENCE["j"] = j
    return _REFERENCE["j"]


def _kill_at(root, folder, library, point: str, timeout: float = 240) -> None:
    """Start a CLI scan in a new process that blocks at `point`, wait for its marker, SIGKILL it."""
    log = str(root / f"pause_{point.replace(':', '_')}.log")
    cmd = [sys.executable, "-c", RUNNER, *_scan_args(folder, library, str(root / "killed.json"))]
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,
                                env=_env(root, DESKTOP_DEDUP_TEST_PAUSE_AT=point))
    try:
        deadline = time.monotonic() + timeout
        marker = f"DESKTOP_DEDUP_PAUSED {point}".encode()
        while True:
            text = open(log, "rb").read()
            if marker in text:
                break
            assert proc.poll() is None, f"scan ended before reaching {point}: {text[-2000:]!r}"
            assert time.monotonic() < deadline, f"never reached {point}"
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not os.path.exists(str(root / "killed.json"))


def _catalog_embedded(library) -> set[int]:
    db = sqlite3.connect(os.path.join(library, "catalog.sqlite3"))
    try:
        return {r[0] for r in db.execute("SELECT content_id FROM embeddings WHERE model=?", (MODEL,))}
    finally:
        db.close()


def _milvus_ids(library) -> set[int]:
    from desktop_dedup.core.library import Library

    with Library.open(library) as lib:
        return lib._index(MODEL).all_ids()


# point -> (contents recorded in the catalog at the kill, vectors in Milvus at the kill)
POINTS = {
    "embed:6": (4, 4),      # mid-embedding: one commit of 4 done, 2 more embedded but not stored
    "insert:1": (0, 4),     # first batch in Milvus, catalog commit not done
    "insert:2": (4, 8),     # second batch in Milvus, its catalog commit not done
    "group": (N_SCENES, N_SCENES),  # everything stored, grouping under way
}


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_then_resume_equals_uninterrupted_run(photos, point, monkeypatch):
    root, folder = photos
    reference = _reference(root, folder, monkeypatch)
    library = str(root / f"lib_{point.replace(':', '_')}")
    _kill_at(root, folder, library, point)
    stored, in_milvus = _catalog_embedded(library), _milvus_ids(library)
    assert (len(stored), len(in_milvus)) == POINTS[point]
    # the catalog never claims a vector Milvus does not have (Milvus first, then the catalog)
    assert stored <= in_milvus

    j = _run(library, folder, str(root / f"resumed_{point.replace(':', '_')}.json"), monkeypatch)
    st = j["stats"]
    assert not j["cancelled"]
    assert _groups(j) == _groups(reference), point
    assert st["files_seen"] == reference["stats"]["files_seen"]
    assert st["embedded"] + st["reused"] + st["skipped"] == st["files_seen"]
    # nothing the catalog had stored is embedded again (Milvus-only vectors lack decoded facts: redone)
    assert st["embedded"] + len(stored) == N_SCENES, (point, st)
    # the catalog and Milvus agree, both ways, and hold every content exactly once
    cat, vec = _catalog_embedded(library), _milvus_ids(library)
    assert cat == vec and len(cat) == N_SCENES, (sorted(cat), sorted(vec))
    # and the library keeps working: another run reuses everything
    j3 = _run(library, folder, str(root / "third.json"), monkeypatch)
    assert j3["stats"]["embedded"] == 0 and _groups(j3) == _groups(reference)
