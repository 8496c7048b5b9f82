"""Decode stage: open any supported photo as an upright RGB image at a reduced size, safely.

- EXIF orientation is applied (a copy rotated by EXIF is the same picture).
- JPEGs use draft mode (DCT scaling) so a 24 MP file is never fully decoded to make a 224 px input,
  unless the caller asked for a model input computed from the full-resolution pixels (`model_input`):
  then the file is decoded at full size, the model input is made from it, and the working image is a
  box reduction to the size draft mode would have given.
- HEIC/HEIF through pillow-heif, camera RAW through rawpy's embedded JPEG preview.
- A decompression bomb, a truncated or corrupt file or a non-image raise SkipFile with a reason.
"""
from __future__ import annotations

import contextlib
import io
import os
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import xxhash
from PIL import Image, ImageFile, UnidentifiedImageError

from .scan import format_family
from .types import SkipFile

#: Refuse images above this many pixels (a decompression bomb guard; 16k x 16k).
MAX_PIXELS = 256_000_000
#: The decoded working image keeps at least this many pixels on its short side (when the file has them).
WORK_SHORT_SIDE = 512
#: A full-resolution model input (see `model_input`) only up to this size; larger JPEGs stay draft-decoded
#: (memory: a decode worker holds the whole frame, 3 bytes a pixel).
FULL_INPUT_MAX_PIXELS = 64_000_000

ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.MAX_IMAGE_PIXELS = None  # our own check below gives a clearer reason than PIL's warning

_heif_registered = False
_request = threading.local()  # .fn: model-input function asked for by `model_input` (this thread)

EXIF_ORIENTATION = 0x0112
EXIF_IFD = 0x8769
TAG_DATETIME_ORIGINAL = 0x9003
TAG_DATETIME = 0x0132
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_BODY_SERIAL = 0xA431


@dataclass
class Decoded:
    """A decoded photo: the working image plus facts about the file."""

    image: Image.Image  # RGB, upright, reduced (short side >= WORK_SHORT_SIDE when available)
    width: int  # displayed full-resolution size (orientation applied)
    height: int
    format: str  # PIL format name of the file (JPEG, PNG, HEIF, RAW...)
    capture_time: Optional[str] = None
    camera: Optional[str] = None
    camera_serial: Optional[str] = None
    pixel_hash: Optional[str] = None  # hash of the full-resolution upright pixels, when decoded at full size
    facts: dict = field(default_factory=dict)  # file-level facts for the keeper (e.g. JPEG quality)
    model_input: Any = None  # fn(full-resolution upright image) when asked for with `model_input(fn)`


@contextlib.contextmanager
def model_input(fn: Optional[Callable[[Image.Image], Any]]) -> Iterator[None]:
    """In this block (this thread only), `decode` also returns `fn(full-resolution upright RGB image)`
    as Decoded.model_input and does not draft-decode JPEGs. fn=None: no request (plain decode).

    For embedders whose features move with the small pixel differences of a reduced decode
    (see models.backends.draft_decode_cosine): their input then matches a full decode exactly."""
    prev = getattr(_request, "fn", None)
    _request.fn = fn
    try:
        yield
    finally:
        _request.fn = prev


def _draft_factor(w: int, h: int, short_side: int) -> int:
    """The DCT scale draft mode picks for a (short_side, short_side) request (PIL: 1, 2, 4 or 8)."""
    scale = min(w // short_side, h // short_side)
    return next(s for s in (8, 4, 2, 1) if scale >= s)


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except Exception:  # pragma: no cover - optional at run time
            pass
        _heif_registered = True


def _open_raw(path: str) -> Image.Image:
    """The embedded JPEG preview of a camera RAW file (falls back to a half-size demosaic)."""
    try:
        import rawpy
    except ImportError as exc:  # pragma: no cover
        raise SkipFile("camera RAW support (rawpy) is not installed") from exc
    try:
        with rawpy.imread(path) as raw:
            try:
                thumb = raw.extract_thumb()
            except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
                thumb = None
            if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
                img = Image.open(io.BytesIO(thumb.data))
                img.load()
                img.format = "RAW"
                return img
            if thumb is not None and thumb.format == rawpy.ThumbFormat.BITMAP:
                img = Image.fromarray(thumb.data)
                img.format = "RAW"
                return img
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
            img = Image.fromarray(rgb)
            img.format = "RAW"
            return img
    except SkipFile:
        raise
    except Exception as exc:
        raise SkipFile(f"not a readable camera RAW file ({type(exc).__name__})") from exc


def _exif_facts(img: Image.Image) -> tuple[Optional[str], Optional[str], Optional[str], int]:
    """(capture time ISO, camera, serial, orientation) from EXIF, all optional."""
    try:
        exif = img.getexif()
    except Exception:
        return None, None, None, 1
    if not exif:
        return None, None, None, 1
    orientation = exif.get(EXIF_ORIENTATION, 1) or 1
    try:
        sub = exif.get_ifd(EXIF_IFD)
    except Exception:
        sub = {}
    raw_time = sub.get(TAG_DATETIME_ORIGINAL) or exif.get(TAG_DATETIME)
    capture = None
    if isinstance(raw_time, str) and len(raw_time) >= 19 and raw_time[:4].isdigit():
        capture = raw_time[:10].replace(":", "-") + "T" + raw_time[11:19]
    make = str(exif.get(TAG_MAKE) or "").strip("\x00 ").strip()
    model = str(exif.get(TAG_MODEL) or "").strip("\x00 ").strip()
    camera = None
    if make or model:
        camera = model if model.lower().startswith(make.lower()) else f"{make} {model}".strip()
    serial = sub.get(TAG_BODY_SERIAL)
    serial = str(serial).strip("\x00 ") if serial else None
    return capture, camera or None, serial, int(orientation) if isinstance(orientation, int) else 1


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() or 1.0
        img = Image.fromarray((arr * (255.0 / (65535.0 if hi > 255 else 255.0))).clip(0, 255).astype("uint8"))
        return img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    return img.convert("RGB")


def jpeg_quality(img: Image.Image) -> Optional[int]:
    """Estimate the JPEG quality (1-100) from the luminance quantisation table (IJG scaling)."""
    q = getattr(img, "quantization", None)
    if not q or 0 not in q:
        return None
    table = list(q[0])
    # IJG standard luminance table, natural order sum = 4130 at quality 50
    total = sum(table)
    if total <= 64:
        return 100
    scale = total * 100.0 / 4130.0
    quality = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return int(max(1, min(100, round(quality))))


def decode(path: str, *, short_side: int = WORK_SHORT_SIDE, full_pixel_hash: bool = True) -> Decoded:
    """Decode `path` into an upright RGB working image. Raises SkipFile with a reason on bad input."""
    family = format_family(path)
    try:
        size = os.path.getsize(path)
    except FileNotFoundError as exc:
        raise SkipFile("file disappeared during the scan") from exc
    except OSError as exc:
        raise SkipFile(f"cannot read: {exc.strerror or exc}") from exc
    if size == 0:
        raise SkipFile("empty file (0 bytes)")
    if family in ("HEIF", "AVIF"):
        _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if family == "RAW":
                img = _open_raw(path)
                file_format = "RAW"
            else:
                img = Image.open(path)
                file_format = img.format or family
            return _decode_opened(img, file_format, short_side, full_pixel_hash)
    except SkipFile:
        raise
    except UnidentifiedImageError as exc:
        raise SkipFile("not an image (or an unsupported format)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SkipFile("image too large: exceeds the decompression-bomb safety limit") from exc
    except PermissionError as exc:
        raise SkipFile("cannot read: permission denied") from exc
    except FileNotFoundError as exc:
        raise SkipFile("file disappeared during the scan") from exc
    except MemoryError as exc:
        raise SkipFile("image too large to decode in memory") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower():
            raise SkipFile("truncated or incomplete image file") from exc
        raise SkipFile(f"corrupt or unreadable image ({msg[:120]})") from exc


def _decode_opened(img: Image.Image, file_format: str, short_side: int, full_pixel_hash: bool) -> Decoded:
    w, h = img.size
    if w <= 0 or h <= 0:
        raise SkipFile("image has no pixels")
    if w * h > MAX_PIXELS:
        raise SkipFile(
            f"image too large: {w}x{h} = {w * h / 1e6:.0f} MP exceeds the "
            f"{MAX_PIXELS / 1e6:.0f} MP decompression-bomb safety limit"
        )
    capture, camera, serial, orientation = _exif_facts(img)
    facts: dict = {"format": file_format}
    if file_format == "JPEG":
        facts["jpeg_quality"] = jpeg_quality(img)
    if getattr(img, "is_animated", False):
        img.seek(0)
    reduced = False
    want_input = getattr(_request, "fn", None) if w * h <= FULL_INPUT_MAX_PIXELS else None
    factor = _draft_factor(w, h, short_side) if file_format == "JPEG" and min(w, h) > short_side else 1
    if factor > 1 and want_input is None:
        # DCT scaling: decode at 1/2, 1/4 or 1/8 while keeping both sides >= short_side
        img.draft("RGB", (short_side, short_side))
        reduced = img.size != (w, h)
    img.load()
    if orientation in (5, 6, 7, 8):
        disp_w, disp_h = h, w
    else:
        disp_w, disp_h = w, h
    img = _to_rgb(img)
    if orientation != 1:
        img = _apply_orientation(img, orientation)
    model_in = None
    if want_input is not None:
        model_in = want_input(img)
        if factor > 1:  # the working image draft mode would have made (same size), by box filter
            img = img.reduce(factor)
            reduced = True
    pixel_hash = None
    if full_pixel_hash and not reduced and img.size == (disp_w, disp_h):
        pixel_hash = xxhash.xxh3_128(img.tobytes()).hexdigest() + f":{disp_w}x{disp_h}"
    if min(img.size) > short_side * 2:
        scale = short_side / min(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR, reducing_gap=2.0)
    return Decoded(
        image=img,
        width=disp_w,
        height=disp_h,
        format=file_format,
        capture_time=capture,
        camera=camera,
        camera_serial=serial,
        pixel_hash=pixel_hash,
        facts=facts,
        model_input=model_in,
    )


def _apply_orientation(img: Image.Image, orientation: int) -> Image.Image:
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    return img.transpose(method) if method is not None else img


def full_pixel_hash(path: str) -> Optional[str]:
    """Hash of the full-resolution upright pixels (slow: a full decode). None if undecodable."""
    try:
        d = decode(path, short_side=1 << 30, full_pixel_hash=True)
    except SkipFile:
        return None
    return d.pixel_hash
