"""keeper.py: the suggested keeper is the original, not the biggest file."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from desktop_dedup.core import keeper, verify
from desktop_dedup.core.types import FileInfo

from .test_verify import EDITS, jpeg, scene


def _row(img: Image.Image, cid: int, fmt: str = "JPEG", q: int | None = 90, pixel_hash: str | None = None,
         capture: str | None = None) -> dict:
    facts = {"format": fmt}
    if q is not None:
        facts["jpeg_quality"] = q
    return {"id": cid, "hash": f"h{cid}", "width": img.width, "height": img.height, "format": fmt,
            "capture_time": capture, "facts": facts, "pixel_hash": pixel_hash,
            "signature": verify.make_signature(img), "sig_version": verify.SIGNATURE_VERSION}


def _file(cid: int, img: Image.Image, path: str, size: int, mtime: float = 1e9) -> FileInfo:
    return FileInfo(path=path, size=size, mtime=mtime, content_hash=f"h{cid}", width=img.width,
                    height=img.height, format="JPEG", content_id=cid)


@pytest.fixture(scope="module")
def original() -> Image.Image:
    return jpeg(scene(3))


def _pair(original, copy, **copy_row) -> tuple[list[FileInfo], dict]:
    contents = {1: _row(original, 1), 2: _row(copy, 2, **copy_row)}
    # the copy is written later and is often bigger (frame, caption, lossless re-save)
    files = [_file(1, original, "a/orig.jpg", 100_000, mtime=2e9), _file(2, copy, "b/copy.jpg", 150_000, mtime=1e9)]
    return files, contents


@pytest.mark.parametrize("name", ["resized", "recompressed", "grayscale", "cropped", "framed", "captioned",
                                  "rotated5"])
def test_keeper_prefers_original_over_one_copy(original, name):
    copy = EDITS[name](original)
    files, contents = _pair(original, copy, q=30 if name == "recompressed" else 90)
    assert keeper.choose_keeper(files, contents) == "a/orig.jpg"
    assert keeper.choose_keeper(list(reversed(files)), contents) == "a/orig.jpg"


def test_lossless_resave_of_a_jpeg_is_not_the_original(original):
    files, contents = _pair(original, original, fmt="PNG", q=None, pixel_hash="px")
    contents[1]["pixel_hash"] = "px"
    assert keeper.choose_keeper(files, contents) == "a/orig.jpg"
    # but a lossless picture with its own pixels beats a lossy copy of it
    files2, contents2 = _pair(original, original, fmt="PNG", q=None)
    contents2[1]["facts"]["jpeg_quality"] = 75
    assert keeper.choose_keeper(files2, contents2) == "b/copy.jpg"


def test_keeper_in_a_whole_family(original):
    """Original + many edited copies: the original wins although several copies are bigger."""
    contents, files = {1: _row(original, 1, pixel_hash="p1")}, [_file(1, original, "o.jpg", 100_000)]
    variants = ["resized", "recompressed", "brightened", "darkened", "contrast", "grayscale", "cropped",
                "framed", "captioned", "rotated5"]
    for i, name in enumerate(variants, start=2):
        img = EDITS[name](original)
        contents[i] = _row(img, i, q=30 if name == "recompressed" else 90)
        files.append(_file(i, img, f"v{i}.jpg", 120_000 + i))
    rng = np.random.default_rng(0)
    for _ in range(3):
        order = list(rng.permutation(len(files)))
        assert keeper.choose_keeper([files[k] for k in order], contents) == "o.jpg"
    # the star centre ranks the original first too
    ranks = {f.path: keeper.original_score([f], contents) for f in files}
    assert max(ranks, key=ranks.get) == "o.jpg"


def test_similar_group_prefers_sharp_full_resolution_shot(original):
    blurred = original.filter(__import__("PIL.ImageFilter", fromlist=["x"]).GaussianBlur(3))
    contents = {1: _row(original, 1), 2: _row(blurred, 2), 3: _row(original.resize((320, 240)), 3)}
    files = [_file(1, original, "sharp.jpg", 90_000), _file(2, blurred, "blur.jpg", 95_000),
             _file(3, original.resize((320, 240)), "small.jpg", 30_000)]
    assert keeper.choose_keeper(files, contents, similar=True) == "sharp.jpg"


def test_deterministic_tie_break_and_missing_signatures(original):
    contents = {1: {"width": 640, "height": 480, "facts": {}}, 2: {"width": 640, "height": 480, "facts": {}}}
    files = [_file(1, original, "b.jpg", 1000), _file(2, original, "a.jpg", 1000)]
    assert keeper.choose_keeper(files, contents) == "a.jpg"
    assert keeper.choose_keeper(list(reversed(files)), contents) == "a.jpg"
    with pytest.raises(ValueError):
        keeper.choose_keeper([], contents)


def test_file_facts_reads_jpeg_quality(original):
    for q in (30, 90):
        buf = io.BytesIO()
        original.save(buf, "JPEG", quality=q)
        buf.seek(0)
        facts = keeper.file_facts(Image.open(buf))
        assert facts["format"] == "JPEG" and abs(facts["jpeg_quality"] - q) <= 2
    buf = io.BytesIO()
    original.save(buf, "PNG")
    buf.seek(0)
    assert "jpeg_quality" not in keeper.file_facts(Image.open(buf))


def test_plain_background_is_not_an_added_frame(original):
    """A studio shot on white looks 'framed' on its own; only a frame the other versions lack counts."""
    studio = jpeg(ImageOps.expand(original.resize((560, 400)), border=40, fill=(255, 255, 255)))
    contents, files = {1: _row(studio, 1, pixel_hash="p1")}, [_file(1, studio, "o.jpg", 100_000)]
    for i, name in enumerate(["captioned", "resized", "grayscale", "framed"], start=2):
        img = EDITS[name](studio)
        contents[i] = _row(img, i)
        files.append(_file(i, img, f"v{i}.jpg", 150_000 + i))
    assert keeper.choose_keeper(files, contents) == "o.jpg"
