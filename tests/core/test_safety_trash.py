"""Safe actions (issue 6): trash refuses anything unsafe, goes to the real OS trash, is journalled and undoable.

Photos are small drawn scenes; duplicates are byte copies so the groups do not depend on model tuning.
Every test has its own $XDG_DATA_HOME (freedesktop trash) and library.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.core._safety import MODEL, REPO, cli, group_sets, iso, read_json, scan  # noqa: F401 (fixture)
from tests.photos import save, scene

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="freedesktop trash (Linux/BSD)")


@pytest.fixture(scope="module")
def _scanned_template(tmp_path_factory):
    """Scan once per module: a (+2 byte copies), b (+1 copy), c and e singletons, one file outside the roots.

    Each test gets a fresh copy of photos + library at the SAME absolute paths (the catalog stores absolute
    paths; copies keep size and mtime, so the library sees unchanged files).
    """
    base = tmp_path_factory.mktemp("safety")
    work = base / "work"
    p = str(work / "photos")
    a = save(scene(0, (160, 120)), os.path.join(p, "a.jpg"))
    a1, a2 = os.path.join(p, "a_copy1.jpg"), os.path.join(p, "sub", "a_copy2.jpg")
    os.makedirs(os.path.dirname(a2))
    shutil.copyfile(a, a1)
    shutil.copyfile(a, a2)
    b = save(scene(1, (160, 120)), os.path.join(p, "b.jpg"))
    b1 = os.path.join(p, "b_copy.jpg")
    shutil.copyfile(b, b1)
    c = save(scene(2, (160, 120)), os.path.join(p, "c.jpg"))
    e = save(scene(3, (160, 120)), os.path.join(p, "e.jpg"))
    outside = save(scene(0, (160, 120)), str(work / "elsewhere" / "a.jpg"))
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("XDG_DATA_HOME", str(base / "xdg"))
        mp.setenv("DESKTOP_DEDUP_PRECISION", "fp32")
        result = scan(str(work / "library"), [p])
    finally:
        mp.undo()
    exact = group_sets(result.groups, ("exact",))
    assert frozenset({a, a1, a2}) in exact and frozenset({b, b1}) in exact, result.groups
    shutil.copytree(work, base / "template", symlinks=True)
    return base, dict(a=a, a1=a1, a2=a2, b=b, b1=b1, c=c, e=e, outside=outside)


@pytest.fixture
def photos(iso, _scanned_template):
    """The scanned set, fresh for this test; `iso` gives this test its own OS trash."""
    base, names = _scanned_template
    work = base / "work"
    shutil.rmtree(work)
    shutil.copytree(base / "template", work, symlinks=True)

    class Iso(iso):
        root = work
        photos = str(work / "photos")
        library = str(work / "library")

    class P:
        pass

    for k, v in names.items():
        setattr(P, k, v)
    P.iso = Iso
    return P


def _lib(iso):
    from desktop_dedup.core.library import Library

    return Library.open(iso.library)


def _trashinfo_paths(iso) -> dict[str, str]:
    """{original path: trashed file} from the real freedesktop trash under $XDG_DATA_HOME/Trash."""
    from urllib.parse import unquote_to_bytes

    out = {}
    if not os.path.isdir(iso.trash_info):
        return out
    for name in os.listdir(iso.trash_info):
        with open(os.path.join(iso.trash_info, name), "rb") as fh:
            for line in fh.read().splitlines():
                if line.startswith(b"Path="):
                    orig = os.fsdecode(unquote_to_bytes(line[5:]))
                    out[orig] = os.path.join(iso.trash_files, name[:-len(".trashinfo")])
    return out


def _reasons(outcome) -> dict[str, str]:
    return {r["path"]: r["reason"] for r in outcome.refused}


def test_last_copy_is_kept_whatever_the_order(photos):
    """Asking for every copy of a group in one call, in any order: all but one go, the last one is refused."""
    members = [photos.a, photos.a1, photos.a2]
    for order in itertools.permutations(members):
        with _lib(photos.iso) as lib:
            out = lib.trash(list(order))
            assert len(out.trashed) == 2, (order, out)
            (ref,) = out.refused
            assert ref["path"] == order[-1]
            assert "last remaining copy" in ref["reason"]
            assert os.path.exists(order[-1])
            assert sum(os.path.exists(m) for m in members) == 1
            undo = lib.undo()
        assert sorted(r["path"] for r in undo.restored) == sorted(order[:2])
        assert all(os.path.exists(m) for m in members)


def test_last_copy_is_kept_across_calls_and_outside_deletions(photos):
    with _lib(photos.iso) as lib:
        assert lib.trash([photos.a]).trashed
    with _lib(photos.iso) as lib:  # a new session: the earlier action still counts
        assert lib.trash([photos.a2]).trashed
        out = lib.trash([photos.a1])
        assert not out.trashed and "last remaining copy" in _reasons(out)[photos.a1]
        assert os.path.exists(photos.a1)
    # the other copy deleted outside the app: b is now the last copy
    os.remove(photos.b1)
    with _lib(photos.iso) as lib:
        out = lib.trash([photos.b])
        assert not out.trashed and "last remaining copy" in _reasons(out)[photos.b]
        assert os.path.exists(photos.b)


def test_a_modified_other_copy_does_not_count_as_a_copy(photos):
    """b1 edited in place (same size, mtime put back): b is then the only true copy and must stay."""
    st = os.stat(photos.b1)
    with open(photos.b1, "r+b") as fh:
        fh.seek(st.st_size // 2)
        byte = fh.read(1)
        fh.seek(st.st_size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(photos.b1, ns=(st.st_atime_ns, st.st_mtime_ns))
    with _lib(photos.iso) as lib:
        out = lib.trash([photos.b])
    assert not out.trashed, out
    assert os.path.exists(photos.b)


@pytest.mark.parametrize("change", ["size", "mtime", "same_size_mid_file_edit"])
def test_changed_since_scan_is_refused_untouched(photos, change):
    path = photos.a1
    st = os.stat(path)
    if change == "size":
        with open(path, "ab") as fh:
            fh.write(b"\0")
    elif change == "mtime":
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    else:
        with open(path, "r+b") as fh:
            fh.seek(st.st_size // 2)
            byte = fh.read(1)
            fh.seek(st.st_size // 2)
            fh.write(bytes([byte[0] ^ 0x55]))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(path).st_size == st.st_size and os.stat(path).st_mtime_ns == st.st_mtime_ns
    before = open(path, "rb").read()
    with _lib(photos.iso) as lib:
        out = lib.trash([path])
    assert not out.trashed
    assert "changed since the scan" in _reasons(out)[path]
    assert open(path, "rb").read() == before
    assert _trashinfo_paths(photos.iso) == {}


def test_refusals_outside_missing_unknown_and_unique(photos):
    new_file = save(scene(9, (160, 120)), os.path.join(photos.iso.photos, "added_after_scan.jpg"))
    missing = os.path.join(photos.iso.photos, "gone.jpg")
    with _lib(photos.iso) as lib:
        out = lib.trash([photos.outside, missing, new_file, photos.c])
    r = _reasons(out)
    assert not out.trashed
    assert "outside the indexed folders" in r[photos.outside]
    assert "no longer there" in r[missing]
    assert "not in the library" in r[new_file]
    assert "no duplicate" in r[photos.c] and "--unique-ok" in r[photos.c]
    for p in (photos.outside, new_file, photos.c):
        assert os.path.exists(p)
    assert _trashinfo_paths(photos.iso) == {}


def test_similar_only_member_needs_unique_ok(photos):
    """A file that is only in a `similar` group has no duplicate: refused unless unique_ok."""
    with _lib(photos.iso) as lib:
        model = lib.info()["model"]
        stored = lib.catalog.stored_groups(model)
        stored = [g for g in stored if photos.c not in g["files"] and photos.e not in g["files"]]
        stored.append({"id": "sim-c-e", "kind": "similar", "keep": photos.e, "reason": "test",
                       "similarity": 0.9, "files": [photos.c, photos.e]})
        lib.catalog.replace_groups(model, stored)
        out = lib.trash([photos.c])
        assert not out.trashed and "no duplicate" in _reasons(out)[photos.c]
        out = lib.trash([photos.c], unique_ok=True)
        assert [t["path"] for t in out.trashed] == [photos.c]
    assert not os.path.exists(photos.c)


def test_trash_goes_to_os_trash_and_undo_restores_in_a_new_process(photos):
    data = open(photos.a1, "rb").read()
    mtime = os.stat(photos.a1).st_mtime_ns
    with _lib(photos.iso) as lib:
        out = lib.trash([photos.a1])
    (t,) = out.trashed
    assert not os.path.exists(photos.a1)
    # really in the freedesktop trash, with a .trashinfo naming the original path
    assert _trashinfo_paths(photos.iso) == {photos.a1: t["trash_path"]}
    assert open(t["trash_path"], "rb").read() == data
    # undo from a fresh process (restart)
    r = cli("undo", "--library", photos.iso.library)
    assert r.returncode == 0, r.stderr
    assert b"restored" in r.stdout
    assert open(photos.a1, "rb").read() == data
    assert os.stat(photos.a1).st_mtime_ns == mtime
    assert _trashinfo_paths(photos.iso) == {}
    r = cli("undo", "--library", photos.iso.library)
    assert r.returncode == 0 and b"nothing to undo" in r.stdout
    # the restored file is a copy again: it can be trashed again
    with _lib(photos.iso) as lib:
        assert lib.trash([photos.a1]).trashed


def test_undo_never_overwrites(photos):
    with _lib(photos.iso) as lib:
        (t,) = lib.trash([photos.a1]).trashed
    with open(photos.a1, "wb") as fh:
        fh.write(b"a new file that took the name")
    with _lib(photos.iso) as lib:
        out = lib.undo()
    assert not out.restored
    (ref,) = out.refused
    assert ref["path"] == photos.a1 and ref["reason"]
    assert open(photos.a1, "rb").read() == b"a new file that took the name"
    assert os.path.exists(t["trash_path"])
    assert _trashinfo_paths(photos.iso) == {photos.a1: t["trash_path"]}
    # as the reason says: move the other file away and retry (a new process)
    os.rename(photos.a1, photos.a1 + ".mine")
    r = cli("undo", "--library", photos.iso.library)
    assert r.returncode == 0 and f"restored {photos.a1}".encode() in r.stdout, (r.stdout, r.stderr)
    assert open(photos.a1, "rb").read() == open(photos.a, "rb").read()
    assert _trashinfo_paths(photos.iso) == {}
    r = cli("undo", "--library", photos.iso.library)
    assert r.returncode == 0 and b"nothing to undo" in r.stdout


def test_cli_contract_trash_json_exit_codes_undo_all_history(photos):
    lib = photos.iso.library
    out_json = str(photos.iso.root / "trash.json")
    # one call: one trashed, one refused -> exit 3, JSON lists both
    r = cli("trash", photos.a1, photos.c, "--library", lib, "--json", out_json)
    assert r.returncode == 3, (r.stdout, r.stderr)
    j = read_json(out_json)
    assert [t["path"] for t in j["trashed"]] == [photos.a1] and j["trashed"][0]["trash_path"]
    assert [x["path"] for x in j["refused"]] == [photos.c] and j["refused"][0]["reason"]
    # everything trashed -> exit 0
    r = cli("trash", photos.b1, "--library", lib, "--json", out_json)
    assert r.returncode == 0, r.stderr
    assert read_json(out_json) == {"trashed": [{"path": photos.b1, "trash_path": read_json(out_json)["trashed"][0]["trash_path"]}],
                                   "refused": []}
    # bad arguments -> exit 2
    assert cli("trash", "--library", lib).returncode == 2
    assert cli("undo", "--library", lib, "--bogus").returncode == 2
    # history lists both actions, newest first
    r = cli("history", "--library", lib, "--json")
    assert r.returncode == 0, r.stderr
    hist = json.loads(r.stdout)["actions"]
    assert [a["kind"] for a in hist] == ["trash", "trash"]
    assert [f["path"] for f in hist[0]["files"]] == [photos.b1]
    assert [f["path"] for f in hist[1]["files"]] == [photos.a1]
    assert not any(a["undone"] for a in hist)
    # undo --all: both actions, newest first
    r = cli("undo", "--all", "--library", lib)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.decode().splitlines() if ln.startswith("restored ")]
    assert lines[:2] == [f"restored {photos.b1}", f"restored {photos.a1}"]
    assert os.path.exists(photos.a1) and os.path.exists(photos.b1)
    hist = json.loads(cli("history", "--library", lib, "--json").stdout)["actions"]
    assert all(a["undone"] for a in hist)
    r = cli("undo", "--all", "--library", lib)
    assert r.returncode == 0 and b"nothing to undo" in r.stdout


CRASH_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from desktop_dedup.core import trash as trash_mod
    from desktop_dedup.core.library import Library
    real = trash_mod.send_to_trash
    calls = []
    def send_then_die(path):
        calls.append(path)
        tp = real(path)
        if len(calls) == 2:          # second file moved, its outcome not journalled yet: die hard
            os.kill(os.getpid(), signal.SIGKILL)
        return tp
    trash_mod.send_to_trash = send_then_die
    lib = Library.open(sys.argv[1])
    lib.trash(sys.argv[2:])
""")


def test_crash_in_the_middle_of_a_trash_action_is_reconciled(photos):
    """SIGKILL after a file moved but before the journal recorded it: the next start finds it in the trash."""
    p = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, photos.iso.library, photos.a1, photos.b1, photos.a2],
                       env={**os.environ, "PYTHONPATH": REPO}, capture_output=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert not os.path.exists(photos.a1) and not os.path.exists(photos.b1) and os.path.exists(photos.a2)
    with _lib(photos.iso) as lib:  # reconcile on open
        (act,) = lib.history()
        states = {f["path"]: f["status"] for f in act["files"]}
        assert states == {photos.a1: "done", photos.b1: "done"}
        # b1 is in the trash: b is now the last copy and must be refused
        out = lib.trash([photos.b])
        assert not out.trashed and "last remaining copy" in _reasons(out)[photos.b]
        undo = lib.undo()
    assert sorted(r["path"] for r in undo.restored) == sorted([photos.a1, photos.b1])
    assert os.path.exists(photos.a1) and os.path.exists(photos.b1)
    assert _trashinfo_paths(photos.iso) == {}


def test_odd_paths_same_file_twice_relative_and_non_utf8_names(iso, monkeypatch):
    weird = os.path.join(os.fsencode(iso.photos), b"caf\xe9 \xf0\x9f\x93\xb7")
    os.makedirs(weird)
    a = save(scene(0, (160, 120)), os.path.join(iso.photos, "a.jpg"))
    w1 = os.fsdecode(os.path.join(weird, b"\xff copy \xf0\x9f\x98\x80.jpg"))
    w2 = os.fsdecode(os.path.join(weird, b"second \xe9.jpg"))
    for w in (w1, w2):
        shutil.copyfile(a, os.fsencode(w))
    result = scan(iso.library, [iso.photos])
    assert frozenset({a, w1, w2}) in group_sets(result.groups, ("exact",))
    # the same file listed twice (once relative) counts once; a then remains the last copy
    monkeypatch.chdir(iso.photos)
    with _lib(iso) as lib:
        out = lib.trash([w1, os.path.relpath(w1), "a.jpg", w2])
    assert [t["path"] for t in out.trashed] == [w1, a]
    r = _reasons(out)
    assert set(r) == {w2}, r
    assert "last remaining copy" in r[w2]
    assert os.path.exists(os.fsencode(w2)) and not os.path.lexists(os.fsencode(w1))
    assert _trashinfo_paths(iso).keys() == {w1, a}
    # undo in a new process restores the non-UTF-8 name exactly
    p = cli("undo", "--library", iso.library)
    assert p.returncode == 0, p.stderr
    assert os.path.exists(os.fsencode(w1)) and os.path.exists(a)
    assert open(os.fsencode(w1), "rb").read() == open(a, "rb").read()
    # and the CLI takes such a path as an argument (bytes in argv) and prints it, also on a strict UTF-8 terminal
    strict = {"PYTHONIOENCODING": "utf-8:strict"}
    p = cli("trash", w1, "--library", iso.library, "--json", str(iso.root / "t.json"), env=strict)
    assert p.returncode == 0, p.stderr
    assert [t["path"] for t in read_json(str(iso.root / "t.json"))["trashed"]] == [w1]
    assert os.fsencode(w1) in p.stdout
    p = cli("history", "--library", iso.library, "--json", env=strict)
    assert p.returncode == 0, p.stderr
    assert os.fsencode(w1) in p.stdout
    p = cli("undo", "--library", iso.library, env=strict)
    assert p.returncode == 0 and os.fsencode(w1) in p.stdout, p.stderr
