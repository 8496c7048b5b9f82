"""Bad input: every broken, hostile or vanishing file is listed in `skipped` with a reason, the scan finishes
(exit 0), the valid photos are still grouped, and files_seen == embedded + reused + skipped.

The corpus is generated here (no binaries in the repo). Tests run as root in CI containers, where chmod 000 is
not enforced, so unreadable paths are ALSO simulated (os.scandir / open raising PermissionError for them).
"""
from __future__ import annotations

import builtins
import os
import shutil
import struct
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from desktop_dedup import cli
from desktop_dedup.core import decode as decode_mod
from desktop_dedup.core import scan as scan_mod
from tests.core._safety import MODEL, group_sets, iso, read_json  # noqa: F401 (fixture)
from tests.photos import save, scene

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths, symlinks and chmod")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_bomb(path: str, w: int = 30000, h: int = 30000) -> str:
    """A PNG that claims w x h RGB pixels of one colour (2.7 GB decoded) but is a few KB on disk.

    Only the first rows are actually in the stream: nothing of that size is ever allocated here.
    """
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * ((w * 3 + 1) * 64), 9)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b""))
    return path


def write_large_jpeg(path: str, w: int = 8000, h: int = 6000) -> str:
    small = np.asarray(scene(42, (80, 60)))
    big = Image.fromarray(small).resize((w, h), Image.NEAREST)
    big.save(path, "JPEG", quality=80)
    return path


@pytest.fixture
def corpus(iso):
    """The hostile corpus plus valid photos (with the groups they must form)."""
    p = iso.photos
    c = {}
    # valid photos and their expected exact groups
    c["a"] = save(scene(0, (160, 120)), os.path.join(p, "a.jpg"))
    c["a_copy"] = os.path.join(p, "nested", "a_copy.jpg")
    os.makedirs(os.path.dirname(c["a_copy"]))
    shutil.copyfile(c["a"], c["a_copy"])
    c["b"] = save(scene(1, (160, 120)), os.path.join(p, "b.png"))
    weird_dir = os.path.join(os.fsencode(p), b"caf\xe9 \xf0\x9f\x93\xb7 dir")  # Latin-1 byte (not UTF-8) + emoji
    os.makedirs(weird_dir)
    c["b_weird"] = os.fsdecode(os.path.join(weird_dir, b"\xff\xfe photo \xf0\x9f\x98\x80.png"))
    shutil.copyfile(c["b"], os.fsencode(c["b_weird"]))
    c["large"] = write_large_jpeg(os.path.join(p, "large_8000x6000.jpg"))
    c["large_copy"] = os.path.join(p, "nested", "large_copy.jpg")
    shutil.copyfile(c["large"], c["large_copy"])
    # the vanishing and changing files: each has an exact copy so their content is also reachable elsewhere
    c["d"] = save(scene(2, (160, 120)), os.path.join(p, "d_deleted_during_scan.jpg"))
    c["d_copy"] = os.path.join(p, "nested", "d_copy.jpg")
    shutil.copyfile(c["d"], c["d_copy"])
    c["m"] = save(scene(3, (160, 120)), os.path.join(p, "m_modified_during_scan.jpg"))
    c["m_copy"] = os.path.join(p, "nested", "m_copy.jpg")
    shutil.copyfile(c["m"], c["m_copy"])
    c["u"] = save(scene(4, (160, 120)), os.path.join(p, "unique.jpg"))
    c["h"] = save(scene(8, (160, 120)), os.path.join(p, "h_deleted_before_hash.jpg"))
    c["hm"] = save(scene(9, (160, 120)), os.path.join(p, "hm_modified_before_hash.jpg"))

    # broken input
    good = open(c["a"], "rb").read()
    c["corrupt"] = os.path.join(p, "corrupt.jpg")
    with open(c["corrupt"], "wb") as fh:
        fh.write(good[:20] + bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8)))
    c["trunc_jpg"] = os.path.join(p, "truncated.jpg")
    with open(c["trunc_jpg"], "wb") as fh:
        fh.write(good[: len(good) // 2])
    png = open(c["b"], "rb").read()
    c["trunc_png"] = os.path.join(p, "truncated.png")
    with open(c["trunc_png"], "wb") as fh:
        fh.write(png[: len(png) // 2])
    c["empty"] = os.path.join(p, "empty.jpg")
    open(c["empty"], "wb").close()
    c["text"] = os.path.join(p, "notes.jpg")
    with open(c["text"], "w") as fh:
        fh.write("this is a text file, not a photo\n" * 20)
    c["html"] = os.path.join(p, "page.png")
    with open(c["html"], "w") as fh:
        fh.write("<!DOCTYPE html><html><body><img src='x.png'></body></html>\n")
    c["bomb"] = write_png_bomb(os.path.join(p, "bomb.png"))
    assert os.path.getsize(c["bomb"]) < 100_000
    # unreadable file and folder (really chmod 000, and simulated below for root)
    c["locked_file"] = save(scene(5, (160, 120)), os.path.join(p, "locked.jpg"))
    c["locked_dir"] = os.path.join(p, "locked_dir")
    save(scene(6, (160, 120)), os.path.join(c["locked_dir"], "inside.jpg"))
    os.chmod(c["locked_file"], 0)
    os.chmod(c["locked_dir"], 0)
    # a named pipe called .jpg: opening it would block forever
    c["fifo"] = os.path.join(p, "pipe.jpg")
    os.mkfifo(c["fifo"])
    # links
    c["loop_dir"] = os.path.join(p, "nested", "loop")
    os.symlink("..", c["loop_dir"])
    c["self_link"] = os.path.join(p, "self_loop.jpg")
    os.symlink("self_loop.jpg", c["self_link"])
    c["broken"] = os.path.join(p, "broken_link.jpg")
    os.symlink("does_not_exist.jpg", c["broken"])
    yield c
    os.chmod(c["locked_dir"], 0o755)
    os.chmod(c["locked_file"], 0o644)


def _simulate_permissions(monkeypatch, locked_file: str, locked_dir: str) -> None:
    real_scandir, real_open = os.scandir, builtins.open

    def scandir(path="."):
        if os.fsdecode(path) == locked_dir:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    def guarded_open(file, *a, **kw):
        if isinstance(file, (str, bytes, os.PathLike)) and os.fsdecode(file) == locked_file:
            raise PermissionError(13, "Permission denied", file)
        return real_open(file, *a, **kw)

    monkeypatch.setattr(scan_mod.os, "scandir", scandir)
    monkeypatch.setattr(builtins, "open", guarded_open)


def _hook_decode(monkeypatch, deleted: str, modified: str) -> list[str]:
    """Delete / rewrite a file at the moment the pipeline decodes it (after the walk and the hash)."""
    real = decode_mod.decode
    hits: list[str] = []

    def decode(path, *a, **kw):
        if path == deleted and os.path.exists(path):
            hits.append(path)
            os.remove(path)
        elif path == modified and path not in hits:
            hits.append(path)
            save(scene(77, (160, 120)), path)  # now another picture
            st = os.stat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 3_000_000_000))
        return real(path, *a, **kw)

    monkeypatch.setattr(decode_mod, "decode", decode)
    return hits


def _hook_hash(monkeypatch, deleted: str, modified: str) -> list[str]:
    """Delete / rewrite a file after the walk saw it, just before it is hashed."""
    from desktop_dedup.core import library as library_mod

    real = library_mod.hash_file
    hits: list[str] = []

    def hash_file(path):
        if path == deleted and os.path.exists(path):
            hits.append(path)
            os.remove(path)
        elif path == modified and path not in hits:
            hits.append(path)
            save(scene(78, (200, 150)), path)
            st = os.stat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 3_000_000_000))
        return real(path)

    monkeypatch.setattr(library_mod, "hash_file", hash_file)
    return hits


def test_bad_input_corpus_is_skipped_with_reasons_and_valid_photos_grouped(iso, corpus, monkeypatch):
    _simulate_permissions(monkeypatch, corpus["locked_file"], corpus["locked_dir"])
    # the decode hook targets the path the pipeline picks for a content: make sure it's the one we delete
    hits = _hook_decode(monkeypatch, corpus["d"], corpus["m"])
    hash_hits = _hook_hash(monkeypatch, corpus["h"], corpus["hm"])
    out = str(iso.root / "scan.json")
    rc = cli.main(["scan", iso.photos, "--library", iso.library, "--model", MODEL, "--json", out])
    assert rc == 0
    j = read_json(out)
    skipped = {s["path"]: s["reason"] for s in j["skipped"]}
    st = j["stats"]
    assert st["embedded"] + st["reused"] + st["skipped"] == st["files_seen"], st
    assert st["skipped"] == len(j["skipped"])
    assert all(r.strip() for r in skipped.values())

    def reason(key):
        assert corpus[key] in skipped, f"{key} not in skipped: {sorted(skipped)}"
        return skipped[corpus[key]].lower()

    assert "corrupt" in reason("corrupt") or "truncated" in reason("corrupt")
    assert "truncated" in reason("trunc_jpg") or "corrupt" in reason("trunc_jpg")
    assert "truncated" in reason("trunc_png") or "corrupt" in reason("trunc_png")
    assert "empty" in reason("empty")
    assert "not an image" in reason("text")
    assert "not an image" in reason("html")
    assert "too large" in reason("bomb") and "30000x30000" in reason("bomb")
    assert "permission denied" in reason("locked_file")
    assert "permission denied" in reason("locked_dir")
    assert "loop" in reason("loop_dir")
    assert reason("self_link")  # "cannot read: Too many levels of symbolic links"
    assert "broken symlink" in reason("broken")
    assert "not a regular file" in reason("fifo")
    assert sorted(hits) == sorted([corpus["d"], corpus["m"]]), hits
    assert "disappeared" in reason("d")
    assert "changed" in reason("m")
    assert sorted(hash_hits) == sorted([corpus["h"], corpus["hm"]]), hash_hits
    assert "disappeared" in reason("h")
    assert "changed" in reason("hm")

    # valid photos: indexed (not skipped) and grouped
    for key in ("a", "a_copy", "b", "b_weird", "large", "large_copy", "d_copy", "m_copy", "u"):
        assert corpus[key] not in skipped, (key, skipped.get(corpus[key]))
    exact = group_sets(j["groups"], ("exact",))
    assert frozenset({corpus["a"], corpus["a_copy"]}) in exact
    assert frozenset({corpus["b"], corpus["b_weird"]}) in exact
    assert frozenset({corpus["large"], corpus["large_copy"]}) in exact
    # the deleted file is in no group; the modified one is not grouped with its former copy
    grouped = {p for g in j["groups"] for p in g["files"]}
    assert corpus["d"] not in grouped
    assert not any({corpus["m"], corpus["m_copy"]} <= set(g["files"]) for g in j["groups"])
    # files seen: every image name under the root (the loop and the unreadable folder count as one entry each)
    assert st["files_seen"] >= 20

    # a second scan (nothing changed any more) is consistent and re-embeds nothing valid
    monkeypatch.undo()
    os.chmod(corpus["locked_dir"], 0o755)
    os.chmod(corpus["locked_file"], 0o644)
    rc = cli.main(["scan", iso.photos, "--library", iso.library, "--model", MODEL, "--json", out])
    assert rc == 0
    j2 = read_json(out)
    st2 = j2["stats"]
    assert st2["embedded"] + st2["reused"] + st2["skipped"] == st2["files_seen"], st2
    skipped2 = {s["path"] for s in j2["skipped"]}
    # the modified file is indexed now (as the new picture it is), the unlocked ones too
    assert corpus["m"] not in skipped2 and corpus["locked_file"] not in skipped2 and corpus["hm"] not in skipped2
    assert corpus["h"] not in skipped2  # gone for good: forgotten
    assert corpus["corrupt"] in skipped2 and corpus["bomb"] in skipped2
    assert frozenset({corpus["d_copy"]}) not in group_sets(j2["groups"])
    assert group_sets(j2["groups"], ("exact",)) >= {frozenset({corpus["a"], corpus["a_copy"]}),
                                                    frozenset({corpus["b"], corpus["b_weird"]})}
    # only what changed or was unreadable gets embedded: m, hm (new contents), locked.jpg, locked_dir/inside.jpg
    assert st2["embedded"] <= 4, st2
