"""group.py: duplicate stars with the original kept, bursts as similar, deterministic in any input order."""
from __future__ import annotations

import random

import pytest

from desktop_dedup.core import verify
from desktop_dedup.core.group import build_groups
from desktop_dedup.core.types import FileInfo

from .test_verify import EDITS, jpeg, scene


@pytest.fixture(scope="module")
def library():
    """contents + files: one photo with 6 edited copies (+ a byte copy), a 3-shot burst, 2 unrelated photos."""
    original = jpeg(scene(11))
    images = {"orig": original}
    for name in ("resized", "recompressed", "grayscale", "cropped", "framed", "captioned"):
        images[name] = EDITS[name](original)
    for k, xy in enumerate(((0.3, 0.45), (0.42, 0.5), (0.55, 0.55))):
        images[f"burst{k}"] = jpeg(scene(12, subject_xy=xy, shift=(2 * k, k)))
    images["other1"] = jpeg(scene(13))
    images["other2"] = jpeg(scene(14))
    contents, files = {}, []
    for cid, (name, img) in enumerate(sorted(images.items()), start=1):
        contents[cid] = {"id": cid, "hash": f"{cid:040x}", "size": 1000 + cid, "width": img.width,
                         "height": img.height, "format": "JPEG", "capture_time": None, "camera": None,
                         "facts": {"format": "JPEG", "jpeg_quality": 30 if name == "recompressed" else 90},
                         "pixel_hash": None, "signature": verify.make_signature(img),
                         "sig_version": verify.SIGNATURE_VERSION}
        files.append(FileInfo(path=f"/p/{name}.jpg", size=100_000 + cid, mtime=1e9 + cid,
                              content_hash=contents[cid]["hash"], width=img.width, height=img.height,
                              format="JPEG", content_id=cid))
        if name == "orig":  # a byte-identical copy elsewhere: same content
            files.append(FileInfo(path="/q/orig copy.jpg", size=100_000 + cid, mtime=2e9,
                                  content_hash=contents[cid]["hash"], width=img.width, height=img.height,
                                  format="JPEG", content_id=cid))
    # every content is a candidate of every other (cosine is only a hint for "similar")
    neighbours = {a: [(b, 0.8) for b in contents if b != a] for a in contents}
    return files, contents, neighbours


def _summary(groups):
    return [(g.kind, tuple(g.paths), g.keep, g.id) for g in groups]


def test_family_burst_and_unrelated(library):
    files, contents, neighbours = library
    groups = build_groups(files, contents, neighbours)
    dup = [g for g in groups if g.kind in ("exact", "near")]
    sim = [g for g in groups if g.kind == "similar"]
    family = {"/p/orig.jpg", "/q/orig copy.jpg"} | {f"/p/{n}.jpg" for n in
                                                    ("resized", "recompressed", "grayscale", "cropped",
                                                     "framed", "captioned")}
    assert len(dup) == 1 and set(dup[0].paths) == family
    assert dup[0].keep in ("/p/orig.jpg", "/q/orig copy.jpg")
    assert dup[0].kind == "near" and dup[0].reclaimable_bytes > 0
    bursts = {f"/p/burst{k}.jpg" for k in range(3)}
    assert any(bursts <= set(g.paths) for g in sim)
    assert not any(set(g.paths) & {"/p/other1.jpg", "/p/other2.jpg"} for g in dup + sim)


def test_deterministic_whatever_the_input_order(library):
    files, contents, neighbours = library
    ref = _summary(build_groups(files, contents, neighbours))
    rng = random.Random(5)
    for _ in range(3):
        f2 = files[:]
        rng.shuffle(f2)
        keys = list(neighbours)
        rng.shuffle(keys)
        n2 = {k: rng.sample(neighbours[k], len(neighbours[k])) for k in keys}
        c2 = {k: contents[k] for k in rng.sample(list(contents), len(contents))}
        assert _summary(build_groups(f2, c2, n2)) == ref


def test_neighbour_lists_may_be_one_sided(library):
    """A pair seen from one side only (top-k asymmetry) is verified all the same."""
    files, contents, neighbours = library
    one_sided = {a: [(b, c) for b, c in nb if b > a] for a, nb in neighbours.items()}
    assert _summary(build_groups(files, contents, one_sided)) == _summary(build_groups(files, contents, neighbours))


def test_identical_pixels_confirmed_by_full_hash(library):
    files, contents, neighbours = library
    orig = next(f for f in files if f.path == "/p/orig.jpg")
    row = dict(contents[orig.content_id], id=99, hash="f" * 40, size=5)  # same pixels, other bytes (a PNG)
    c2 = {k: dict(v) for k, v in contents.items()}  # build_groups records confirmed pixel hashes
    c2[99] = row
    f2 = files + [FileInfo(path="/p/orig.png", size=300_000, mtime=3e9, content_hash=row["hash"],
                           width=orig.width, height=orig.height, format="PNG", content_id=99)]
    c2[99]["format"] = "PNG"
    c2[99]["facts"] = {"format": "PNG"}
    n2 = {a: nb + [(99, 0.99)] for a, nb in neighbours.items()}
    n2[99] = [(b, 0.99) for b in contents]
    same = {orig.content_id: "px", 99: "px"}
    groups = build_groups(f2, c2, n2, pixel_hash_of=lambda c: same.get(c))
    dup = [g for g in groups if g.kind != "similar"]
    assert len(dup) == 1 and "/p/orig.png" in dup[0].paths
    assert dup[0].keep != "/p/orig.png"  # the lossless re-save of a JPEG is not the original
