"""Scan stage: which files are found, loops, exclusions, hidden folders, whole-content hash."""
import os

from desktop_dedup.core.scan import Excluder, hash_file, walk

from ..photos import save, scene


def _touch_img(path):
    return save(scene(1, (32, 24)), path)


def test_walk_finds_images_in_several_roots_and_ignores_other_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _touch_img(str(a / "x.jpg"))
    _touch_img(str(a / "sub" / "y.PNG"))
    _touch_img(str(b / "z.webp"))
    (a / "notes.txt").write_text("hi")
    found = sorted(os.path.relpath(f.path, tmp_path) for f in walk([str(a), str(b)]))
    assert found == ["a/sub/y.PNG", "a/x.jpg", "b/z.webp"]


def test_walk_skips_hidden_and_system_folders_unless_asked(tmp_path):
    _touch_img(str(tmp_path / ".hidden" / "x.jpg"))
    _touch_img(str(tmp_path / "@eaDir" / "y.jpg"))
    _touch_img(str(tmp_path / "ok" / "z.jpg"))
    assert [os.path.basename(f.path) for f in walk([str(tmp_path)])] == ["z.jpg"]
    assert len(list(walk([str(tmp_path)], include_hidden=True))) == 3


def test_exclusion_globs_match_relative_paths_and_basenames(tmp_path):
    _touch_img(str(tmp_path / "keep" / "a.jpg"))
    _touch_img(str(tmp_path / "exports" / "b.jpg"))
    _touch_img(str(tmp_path / "keep" / "thumb_c.jpg"))
    names = [os.path.basename(f.path) for f in walk([str(tmp_path)], ["exports", "thumb_*"])]
    assert names == ["a.jpg"]
    assert Excluder(["2019/*"])("2019/x.jpg") and not Excluder(["2019/*"])("2020/x.jpg")


def test_symlink_loop_is_reported_not_followed_forever(tmp_path):
    _touch_img(str(tmp_path / "d" / "a.jpg"))
    os.symlink(str(tmp_path / "d"), str(tmp_path / "d" / "loop"))
    skips = []
    found = list(walk([str(tmp_path)], on_skip=skips.append))
    assert [os.path.basename(f.path) for f in found] == ["a.jpg"]
    assert any("loop" in s.reason for s in skips)


def test_symlinked_file_and_its_target_are_one_file(tmp_path):
    target = _touch_img(str(tmp_path / "real" / "a.jpg"))
    os.symlink(target, str(tmp_path / "alias.jpg"))
    found = list(walk([str(tmp_path)]))
    assert [f.path for f in found] == [target]


def test_broken_symlink_is_skipped_with_reason(tmp_path):
    os.symlink(str(tmp_path / "missing.jpg"), str(tmp_path / "dangling.jpg"))
    skips = []
    assert list(walk([str(tmp_path)], on_skip=skips.append)) == []
    assert skips and skips[0].reason == "broken symlink"


def test_hash_covers_the_whole_file_not_a_prefix(tmp_path):
    p = tmp_path / "big.bin"
    data = bytearray(os.urandom(3 << 20))
    p.write_bytes(bytes(data))
    h1 = hash_file(str(p))
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed mid-file
    p.write_bytes(bytes(data))
    assert hash_file(str(p)) != h1
