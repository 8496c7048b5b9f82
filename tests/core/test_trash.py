"""OS trash mechanism: files really land in $XDG_DATA_HOME/Trash with a .trashinfo, and really come back."""
from __future__ import annotations

import os
import struct
import sys
import time
from urllib.parse import quote

import pytest

from desktop_dedup.core import trash
from desktop_dedup.core.types import DedupError

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="freedesktop trash (Linux/BSD)")


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    home = tmp_path / "xdg"
    home.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home / "Trash"


def _write(path, data: bytes = b"photo-bytes") -> str:
    path = os.fsencode(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return os.fsdecode(path)


def _info(trash_path: str) -> bytes:
    d, name = os.path.split(os.fsencode(trash_path))
    with open(os.path.join(os.path.dirname(d), b"info", name + b".trashinfo"), "rb") as f:
        return f.read()


def test_send_to_trash_and_restore_round_trip(xdg, tmp_path):
    src = _write(tmp_path / "photos" / "a.jpg", b"A" * 100)
    st = os.stat(src)
    tp = trash.send_to_trash(src)

    assert not os.path.exists(src)
    assert os.path.dirname(tp) == str(xdg / "files")
    assert open(tp, "rb").read() == b"A" * 100
    info = _info(tp)
    assert info.startswith(b"[Trash Info]\n")
    assert b"Path=" + quote(os.fsencode(src)).encode() in info
    assert b"DeletionDate=" in info
    assert trash.locate(src) == tp
    (entry,) = trash.find_entries(src)
    assert entry.original_path == src and abs(entry.deleted_at - time.time()) < 5

    trash.restore(tp, src)
    assert open(src, "rb").read() == b"A" * 100
    assert os.stat(src).st_mtime_ns == st.st_mtime_ns
    assert not os.path.exists(tp)
    assert os.listdir(xdg / "info") == []
    assert trash.locate(src) == ""


def test_same_name_trashed_twice_gets_distinct_entries(xdg, tmp_path):
    src = str(tmp_path / "p" / "IMG_1.jpg")
    _write(src, b"first")
    tp1 = trash.send_to_trash(src)
    _write(src, b"second!")
    tp2 = trash.send_to_trash(src)

    assert tp1 != tp2 and os.path.exists(tp1) and os.path.exists(tp2)
    assert open(tp2, "rb").read() == b"second!"
    assert trash.locate(src) == tp2  # newest
    assert [e.trash_path for e in trash.find_entries(src)][0] == tp2
    assert trash.locate(src, size=5) == tp1

    trash.restore(tp2, src)
    assert open(src, "rb").read() == b"second!"
    assert trash.locate(src) == tp1  # the older copy is still there


def test_restore_refuses_to_overwrite(xdg, tmp_path):
    src = _write(tmp_path / "a.png", b"old")
    tp = trash.send_to_trash(src)
    _write(src, b"new file in its place")
    with pytest.raises(DedupError) as ei:
        trash.restore(tp, src)
    assert "exists" in ei.value.message
    assert open(src, "rb").read() == b"new file in its place"
    assert open(tp, "rb").read() == b"old"  # left in the trash, with its record
    assert trash.locate(src) == tp


def test_restore_refuses_broken_symlink_in_the_way(xdg, tmp_path):
    src = _write(tmp_path / "a.png", b"old")
    tp = trash.send_to_trash(src)
    os.symlink(tmp_path / "nowhere", src)
    with pytest.raises(DedupError):
        trash.restore(tp, src)
    assert os.path.islink(src) and os.path.exists(tp)


def test_restore_after_trash_was_emptied(xdg, tmp_path):
    src = _write(tmp_path / "a.jpg")
    tp = trash.send_to_trash(src)
    os.unlink(tp)
    os.unlink(os.path.join(xdg, "info", os.path.basename(tp) + ".trashinfo"))
    with pytest.raises(DedupError) as ei:
        trash.restore(tp, src)
    assert "no longer in the trash" in ei.value.message
    assert not os.path.exists(src)
    assert trash.locate(src) == ""


def test_restore_refuses_reused_trash_name(xdg, tmp_path):
    """Trash emptied, then another file trashed under the same name: never restore the stranger."""
    a = _write(tmp_path / "one" / "x.jpg", b"a")
    tp = trash.send_to_trash(a)
    os.unlink(tp)
    os.unlink(os.path.join(xdg, "info", "x.jpg.trashinfo"))
    b = _write(tmp_path / "two" / "x.jpg", b"b")
    assert trash.send_to_trash(b) == tp
    with pytest.raises(DedupError) as ei:
        trash.restore(tp, a)
    assert "another file" in ei.value.message
    assert not os.path.exists(a) and os.path.exists(tp)


def test_restore_recreates_missing_parent(xdg, tmp_path):
    src = _write(tmp_path / "deep" / "er" / "a.jpg")
    tp = trash.send_to_trash(src)
    os.rmdir(tmp_path / "deep" / "er")
    os.rmdir(tmp_path / "deep")
    trash.restore(tp, src)
    assert os.path.isfile(src)


@pytest.mark.parametrize(
    "name",
    [
        b"caf\xe9 not utf8.jpg",  # Latin-1 byte: undecodable as UTF-8
        "📷 holiday % 50%25.jpg".encode(),
        b"new\nline #?.jpg",
    ],
)
def test_weird_names(xdg, tmp_path, name):
    src = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"dir \xff", name))
    _write(src, b"w")
    tp = trash.send_to_trash(src)
    assert tp and os.path.exists(tp) and not os.path.exists(src)
    assert os.path.dirname(tp) == str(xdg / "files")
    assert trash.locate(src) == tp
    trash.restore(tp, src)
    assert open(src, "rb").read() == b"w"
    assert os.listdir(xdg / "files") == []


def test_send_to_trash_missing_file_is_a_dedup_error(xdg, tmp_path):
    with pytest.raises(DedupError):
        trash.send_to_trash(str(tmp_path / "nope.jpg"))


def test_restore_without_trash_path_names_where_to_look(tmp_path):
    with pytest.raises(DedupError) as ei:
        trash.restore("", str(tmp_path / "gone.jpg"))
    assert "gone.jpg" in str(ei.value) and "Trash" in str(ei.value)


def test_locate_in_volume_trash_with_relative_path(xdg, tmp_path, monkeypatch):
    """$topdir/.Trash-$uid holds Path= relative to $topdir (as send2trash/GIO write it on other volumes)."""
    top = tmp_path / "vol"
    monkeypatch.setattr(trash, "_mount_point", lambda p: os.fsencode(top))
    tdir = top / f".Trash-{os.getuid()}"
    (tdir / "files").mkdir(parents=True)
    (tdir / "info").mkdir()
    (top / "pics").mkdir()
    (tdir / "files" / "b.2.jpg").write_bytes(b"vol")
    (tdir / "info" / "b.2.jpg.trashinfo").write_text("[Trash Info]\nPath=pics/b.jpg\nDeletionDate=2024-01-02T03:04:05\n")
    orig = str(top / "pics" / "b.jpg")
    assert trash.locate(orig) == str(tdir / "files" / "b.2.jpg")
    assert trash.locate(orig, since=time.time()) == ""  # deleted long ago
    trash.restore(trash.locate(orig), orig)
    assert (top / "pics" / "b.jpg").read_bytes() == b"vol"
    assert os.listdir(tdir / "info") == []


def _dollar_i(path: str, size: int, when: float, version: int) -> bytes:
    ft = int(when * 1e7) + 116444736000000000
    text = path.encode("utf-16-le") + b"\x00\x00"
    if version == 1:
        return struct.pack("<qqq", 1, size, ft) + text.ljust(520, b"\x00")
    return struct.pack("<qqqi", 2, size, ft, len(text) // 2) + text


@pytest.mark.parametrize("version", [1, 2])
def test_windows_recycle_bin_records(tmp_path, version):
    orig = "C:\\Users\\me\\Pictures\\é 📷.jpg"
    parsed = trash.parse_windows_info(_dollar_i(orig, 1234, 1_700_000_000.5, version))
    assert parsed == (orig, 1234, pytest.approx(1_700_000_000.5))
    assert trash.parse_windows_info(b"junk") is None

    sid = tmp_path / "S-1-5-21-1"
    sid.mkdir()
    (sid / "$IAB12CD.jpg").write_bytes(_dollar_i(os.path.abspath(str(tmp_path / "p.jpg")), 3, time.time(), version))
    (sid / "$RAB12CD.jpg").write_bytes(b"abc")
    found = trash._find_windows(os.path.abspath(str(tmp_path / "p.jpg")), bins=[str(sid)])
    assert [e.trash_path for e in found] == [str(sid / "$RAB12CD.jpg")]
    # restore moves $R back and drops the $I record
    trash.restore(found[0].trash_path, str(tmp_path / "p.jpg"))
    assert (tmp_path / "p.jpg").read_bytes() == b"abc"
    assert os.listdir(sid) == []
