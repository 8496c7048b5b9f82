"""Decode stage: orientation, draft decoding, formats, bombs, bad files."""
import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from desktop_dedup.core.decode import MAX_PIXELS, decode
from desktop_dedup.core.types import SkipFile

from ..photos import save, scene, with_exif_orientation


def test_exif_orientation_is_applied(tmp_path):
    img = scene(3, (300, 200))
    p = with_exif_orientation(img, str(tmp_path / "rot.jpg"), 6)
    d = decode(p)
    assert (d.width, d.height) == (300, 200)
    assert d.image.size == (300, 200)
    plain = decode(save(img, str(tmp_path / "plain.jpg")))
    diff = np.abs(np.asarray(d.image, np.int16) - np.asarray(plain.image, np.int16)).mean()
    assert diff < 4


def test_large_jpeg_is_draft_decoded_but_reports_full_size(tmp_path):
    img = scene(4, (800, 600)).resize((4000, 3000))
    p = save(img, str(tmp_path / "big.jpg"))
    d = decode(p)
    assert (d.width, d.height) == (4000, 3000)
    assert min(d.image.size) < 3000 and min(d.image.size) >= 512
    assert d.pixel_hash is None  # not decoded at full size
    assert d.facts["jpeg_quality"] in range(85, 100)


def test_png_of_decoded_jpeg_pixels_has_same_pixel_hash(tmp_path):
    p = save(scene(5, (400, 300)), str(tmp_path / "a.jpg"))
    with Image.open(p) as im:
        im.convert("RGB").save(str(tmp_path / "a.png"))
    assert decode(p).pixel_hash == decode(str(tmp_path / "a.png")).pixel_hash


@pytest.mark.parametrize("ext,fmt", [(".png", "PNG"), (".webp", "WEBP"), (".tif", "TIFF"), (".bmp", "BMP"),
                                     (".gif", "GIF")])
def test_common_formats(tmp_path, ext, fmt):
    p = save(scene(6, (120, 90)), str(tmp_path / f"x{ext}"))
    d = decode(p)
    assert d.image.mode == "RGB" and (d.width, d.height) == (120, 90) and d.format == fmt


def test_heic(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    p = str(tmp_path / "x.heic")
    try:
        scene(7, (128, 96)).save(p, format="HEIF")
    except Exception as exc:  # encoder missing in this build
        pytest.skip(f"no HEIF encoder: {exc}")
    d = decode(p)
    assert (d.width, d.height) == (128, 96) and d.image.mode == "RGB"


def test_transparent_png_becomes_rgb_on_white(tmp_path):
    rgba = Image.new("RGBA", (50, 40), (255, 0, 0, 0))
    p = str(tmp_path / "t.png")
    rgba.save(p)
    d = decode(p)
    assert d.image.getpixel((10, 10)) == (255, 255, 255)


def _bomb_png(path, w, h):
    raw = zlib.compress(b"\x00" * 1024)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                 + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def test_decompression_bomb_is_skipped_with_reason(tmp_path):
    p = str(tmp_path / "bomb.png")
    _bomb_png(p, 30000, 30000)
    with pytest.raises(SkipFile, match="too large"):
        decode(p)
    assert 30000 * 30000 > MAX_PIXELS


@pytest.mark.parametrize("content,reason", [
    (b"", "empty"),
    (b"hello, not an image", "not an image"),
    (b"<html><body>nope</body></html>", "not an image"),
])
def test_non_images_are_skipped(tmp_path, content, reason):
    p = tmp_path / "x.jpg"
    p.write_bytes(content)
    with pytest.raises(SkipFile, match=reason):
        decode(str(p))


def test_truncated_jpeg_is_skipped(tmp_path):
    p = save(scene(8, (300, 200)), str(tmp_path / "t.jpg"))
    data = open(p, "rb").read()
    open(p, "wb").write(data[: len(data) // 2])
    with pytest.raises(SkipFile):
        decode(p)


def test_raw_preview_path_uses_embedded_jpeg(tmp_path, monkeypatch):
    """No RAW encoder is available here, so rawpy is faked; the preview path itself is real."""
    import sys
    import types as _types

    jpeg = io.BytesIO()
    scene(9, (200, 150)).save(jpeg, format="JPEG")

    class Thumb:
        format = "jpeg"
        data = jpeg.getvalue()

    class Raw:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def extract_thumb(self):
            return Thumb()

    fake = _types.SimpleNamespace(
        imread=lambda path: Raw(), ThumbFormat=_types.SimpleNamespace(JPEG="jpeg", BITMAP="bitmap"),
        LibRawNoThumbnailError=type("E1", (Exception,), {}),
        LibRawUnsupportedThumbnailError=type("E2", (Exception,), {}))
    monkeypatch.setitem(sys.modules, "rawpy", fake)
    p = tmp_path / "x.NEF"
    p.write_bytes(b"raw bytes")
    d = decode(str(p))
    assert d.format == "RAW" and (d.width, d.height) == (200, 150)


def test_real_rawpy_rejects_garbage_raw(tmp_path):
    pytest.importorskip("rawpy")
    p = tmp_path / "x.cr2"
    p.write_bytes(os.urandom(4096))
    with pytest.raises(SkipFile, match="RAW"):
        decode(str(p))
