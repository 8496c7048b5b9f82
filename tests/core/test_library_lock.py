"""One library, one user at a time; libraries the app cannot read are refused with a message, never misread.

- A second app instance (another process, or a second open in this one) gets "library is in use" (CLI: exit 1
  with that message, no traceback) while the first holds it, and the library is intact afterwards, even when the
  holder was killed in the middle of a scan.
- A catalog from an older format, a newer app version, a foreign SQLite file or garbage bytes: refused with a
  clear message, and the file is left byte-for-byte as it was.
"""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from desktop_dedup import cli
from desktop_dedup.core.library import CATALOG_NAME, JOURNAL_NAME, Library
from desktop_dedup.core.types import DedupError, LibraryInUseError
from tests.core._safety import MODEL, REPO, group_sets, iso, read_json  # noqa: F401 (fixture)
from tests.photos import save, scene

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

HOLDER = """
import sys, time
from desktop_dedup.core.library import Library
lib = Library.open(sys.argv[1])
print("HELD", flush=True)
time.sleep(600)
"""


def _cli_subprocess(*args, env=None):
    e = {**os.environ, "PYTHONPATH": REPO, **(env or {})}
    return subprocess.run([sys.executable, "-m", "desktop_dedup", *args], env=e, capture_output=True, timeout=120)


def _wait_for(proc, marker: bytes, read, timeout=120):
    deadline = time.monotonic() + timeout
    while marker not in read():
        assert proc.poll() is None, read()[-2000:]
        assert time.monotonic() < deadline, f"no {marker!r}"
        time.sleep(0.1)


def test_second_open_in_the_same_process_is_refused(iso):
    with Library.open(iso.library):
        with pytest.raises(LibraryInUseError) as ei:
            Library.open(iso.library)
        assert "in use" in ei.value.message
    with Library.open(iso.library) as lib:  # released on close
        assert lib.info()["files"] == 0


def test_other_process_holding_the_library_blocks_every_command(iso):
    out = iso.root / "holder.out"
    with open(out, "wb") as fh:
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, iso.library], stdout=fh, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONPATH": REPO})
    try:
        _wait_for(holder, b"HELD", lambda: open(out, "rb").read())
        save(scene(0, (96, 72)), os.path.join(iso.photos, "a.jpg"))
        for args in (["info"], ["history"], ["undo"], ["groups"],
                     ["trash", os.path.join(iso.photos, "a.jpg")],
                     ["scan", iso.photos, "--model", MODEL]):
            r = _cli_subprocess(*args, "--library", iso.library)
            err = r.stderr.decode()
            assert r.returncode == 1, (args, r.returncode, err)
            assert "is in use" in err and "Traceback" not in err, (args, err)
            assert os.path.exists(os.path.join(iso.photos, "a.jpg"))
    finally:
        holder.kill()
        holder.wait()
    r = _cli_subprocess("info", "--library", iso.library)
    assert r.returncode == 0, r.stderr


def test_scan_killed_while_holding_the_library_leaves_it_usable(iso, monkeypatch):
    """The holder is a real scan, killed mid-embedding: a second scan meanwhile is refused, then resumes fine."""
    for i in range(6):
        p = save(scene(i, (96, 72)), os.path.join(iso.photos, f"s{i}.jpg"))
    copy = os.path.join(iso.photos, "s0_copy.jpg")
    with open(p.replace("s5", "s0"), "rb") as a, open(copy, "wb") as b:
        b.write(a.read())
    log = iso.root / "scan.err"
    env = {**os.environ, "PYTHONPATH": REPO, "DESKTOP_DEDUP_PRECISION": "fp32",
           "DESKTOP_DEDUP_TEST_PAUSE_AT": "embed:3"}
    with open(log, "wb") as fh:
        first = subprocess.Popen([sys.executable, "-m", "desktop_dedup", "scan", iso.photos, "--library", iso.library,
                                  "--model", MODEL], stdout=subprocess.DEVNULL, stderr=fh, env=env)
    try:
        _wait_for(first, b"DESKTOP_DEDUP_PAUSED embed:3", lambda: open(log, "rb").read(), timeout=240)
        # meanwhile, a second instance (in this process, through the CLI entry point)
        monkeypatch.setenv("DESKTOP_DEDUP_PRECISION", "fp32")
        assert cli.main(["scan", iso.photos, "--library", iso.library, "--model", MODEL]) == 1
        with pytest.raises(LibraryInUseError):
            Library.open(iso.library)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    db = sqlite3.connect(os.path.join(iso.library, CATALOG_NAME))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    out = str(iso.root / "scan.json")
    assert cli.main(["scan", iso.photos, "--library", iso.library, "--model", MODEL, "--json", out]) == 0
    j = read_json(out)
    assert j["stats"]["files_seen"] == 7 and j["stats"]["skipped"] == 0
    assert frozenset({os.path.join(iso.photos, "s0.jpg"), copy}) in group_sets(j["groups"], ("exact",))


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _make_library(path) -> None:
    with Library.open(path):
        pass


def _set_meta(path, key, value) -> None:
    db = sqlite3.connect(os.path.join(path, CATALOG_NAME))
    db.execute("UPDATE meta SET value=? WHERE key=?", (value, key))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def _foreign_sqlite(path) -> None:
    os.makedirs(path)
    db = sqlite3.connect(os.path.join(path, CATALOG_NAME))
    db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO photos(name) VALUES ('holiday.jpg')")
    db.commit()
    db.close()


def _garbage(path) -> None:
    os.makedirs(path)
    with open(os.path.join(path, CATALOG_NAME), "wb") as fh:
        fh.write(os.urandom(3000))


def _journal_garbage(path) -> None:
    _make_library(path)
    with open(os.path.join(path, JOURNAL_NAME), "wb") as fh:
        fh.write(b"\x00garbage" * 500)


def _journal_newer(path) -> None:
    _make_library(path)
    db = sqlite3.connect(os.path.join(path, JOURNAL_NAME))
    db.execute("PRAGMA user_version=99")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


CASES = {
    "older_format_0": (lambda p: (_make_library(p), _set_meta(p, "schema_version", "0")), "old format"),
    "newer_version": (lambda p: (_make_library(p), _set_meta(p, "schema_version", "99")), "newer version"),
    "other_app": (lambda p: (_make_library(p), _set_meta(p, "app", "some-other-app")), "not a desktop-dedup library"),
    "foreign_sqlite": (_foreign_sqlite, "not a desktop-dedup library"),
    "garbage_bytes": (_garbage, "not a desktop-dedup library"),
    "journal_garbage": (_journal_garbage, "journal"),
    "journal_newer": (_journal_newer, "newer version"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unreadable_library_is_refused_with_a_message_and_left_untouched(iso, case, capsys):
    make, expected = CASES[case]
    lib = os.path.join(str(iso.root), "lib_" + case)
    make(lib)
    catalog = os.path.join(lib, JOURNAL_NAME if case.startswith("journal") else CATALOG_NAME)
    before = _sha(catalog)
    with pytest.raises(DedupError) as ei:
        Library.open(lib)
    assert not isinstance(ei.value, LibraryInUseError)
    assert expected in f"{ei.value.message} {ei.value.hint}", ei.value.message
    assert ei.value.hint
    # the CLI says the same, with exit 1 and no traceback, for any command
    assert cli.main(["info", "--library", lib]) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert _sha(catalog) == before, "the refused catalog was modified"
    # and the lock is not left held: a later attempt gets the same message, not "in use"
    with pytest.raises(DedupError) as ei2:
        Library.open(lib)
    assert not isinstance(ei2.value, LibraryInUseError)


def test_stale_lock_file_from_a_dead_process_does_not_block(iso):
    _make_library(iso.library)
    with open(os.path.join(iso.library, "library.lock"), "w") as fh:
        fh.write("999999\n")
    with Library.open(iso.library) as lib:
        assert lib.info()["path"] == iso.library
