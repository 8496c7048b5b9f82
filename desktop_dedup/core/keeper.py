"""Which member of a group to keep: the one most likely to be the original.

A copy is usually *derived* from the original by one edit, and edits lose something: resizing and
cropping lose pixels or picture content, re-compression loses quality, grayscale loses colour, a
brightness/contrast change clips or compresses the tones.  Some edits make a file *bigger* without
making it better (a frame, a caption, a lossless re-save of a JPEG), so "keep the largest" is not enough.

Signals (all generic, none specific to a benchmark):
- content pixels: displayed pixels minus a plain frame (from the signature);
- defects relative to the rest of the group: a caption/overlay bar, an added frame, grayscale among
  colour copies, tones that deviate from the group's consensus;
- compression: lossless > JPEG quality (from the quantisation tables); a lossless file with exactly the
  pixels of a JPEG (same pixel hash) was made *from* that JPEG, so the JPEG is the source;
- how many identical copies a version has (copies are made of the original);
- capture time (EXIF) earlier, then file size, modification time, path (deterministic).
"""
from __future__ import annotations

import math
from statistics import median
from typing import Optional

from PIL import Image

from .types import FileInfo

LOSSLESS = {"PNG", "TIFF", "BMP", "WEBP-LOSSLESS", "PPM", "TGA"}


def file_facts(img: Image.Image) -> dict:
    """File-level facts for the keeper, from a PIL image as opened (before any conversion)."""
    facts: dict = {"format": img.format or ""}
    q = _jpeg_quality(img)
    if q is not None:
        facts["jpeg_quality"] = q
    if img.format == "WEBP":
        facts["lossless"] = bool(getattr(img, "info", {}).get("lossless", False))
    return facts


#: IJG standard luminance quantisation table (natural order), quality 50.
_IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
             14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_ZIGZAG = (0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
           14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39,
           46, 53, 60, 61, 54, 47, 55, 62, 63)


def _jpeg_quality(img: Image.Image) -> Optional[int]:
    """IJG-equivalent quality (1..100) of a JPEG from its luminance quantisation table."""
    qt = getattr(img, "quantization", None)
    if not qt or 0 not in qt or len(qt[0]) != 64:
        return None
    import numpy as np

    t = np.array(qt[0], np.int64)
    q = np.arange(1, 101)
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)[:, None]
    ref = np.clip((np.array(_IJG_LUMA)[None, :] * scale + 50) // 100, 1, 255)
    err = np.minimum(np.abs(ref - t[None, :]).sum(1), np.abs(ref - t[list(_ZIGZAG)][None, :]).sum(1))
    return int(q[int(np.argmin(err))])


def _stats(row: dict) -> dict:
    """Signature statistics of a content row ({} when unavailable)."""
    sig = row.get("signature")
    if not sig:
        return {}
    try:
        from .verify import parse_signature

        return parse_signature(bytes(sig)).stats
    except Exception:
        return {}


def _quality(row: dict) -> float:
    facts = row.get("facts") or {}
    fmt = (row.get("format") or facts.get("format") or "").upper()
    if fmt in LOSSLESS or facts.get("lossless"):
        return 101.0
    q = facts.get("jpeg_quality")
    if q is not None:
        return float(q)
    return 90.0 if fmt in ("HEIF", "HEIC", "AVIF", "WEBP") else 80.0


def _is_lossy(row: dict) -> bool:
    return _quality(row) <= 100.0


def _content_pixels(row: dict, st: dict, base_frame: float = 0.0) -> float:
    """Displayed pixels minus a plain frame wider than `base_frame` (a plain margin the other versions
    show too, e.g. a white studio background, is picture, not an added frame)."""
    w, h = row.get("width") or 0, row.get("height") or 0
    fr = st.get("frame", 0.0)
    fr = min(0.3, fr) if fr > base_frame + 0.02 else 0.0  # a plain edge of a few pixels is not a frame
    short = min(w, h)
    return max(1.0, (w - 2 * fr * short) * (h - 2 * fr * short))


def original_score(files: list[FileInfo], contents: dict[int, dict]) -> tuple:
    """Sortable rank (higher = more likely the original) of one node: files sharing the same pixels.

    Used to pick the centre of a duplicate star, without knowing the rest of the group.
    """
    best = None
    for cid in sorted({f.content_id for f in files}):
        row = contents.get(cid, {})
        st = _stats(row)
        pix = _content_pixels(row, st)
        defects = (st.get("band", 0.0) > 0.5) + (st.get("frame", 0.0) > 0.02)
        key = (round(math.log2(pix) * 4), -defects, st.get("colorfulness", 0.0) > 3.0, _quality(row))
        best = key if best is None or key > best else best
    return (*(best or (0, 0, False, 0.0)), len(files))


def choose_keeper(files: list[FileInfo], contents: dict[int, dict], similar: bool = False) -> str:
    """Path of the member to keep (see module doc); for a `similar` group the best shot."""
    if not files:
        raise ValueError("empty group")
    rows = {f.content_id: contents.get(f.content_id, {}) for f in files}
    stats = {c: _stats(r) for c, r in rows.items()}
    # how many files show exactly the same pixels (same content, or same full-resolution pixel hash)
    same: dict = {}
    for f in files:
        r = rows[f.content_id]
        same.setdefault(r.get("pixel_hash") or ("c", f.content_id), []).append(f)
    twins = {f.path: len(same[rows[f.content_id].get("pixel_hash") or ("c", f.content_id)]) for f in files}
    # a lossless file whose pixels equal a JPEG's was made from it
    resaved = set()
    for group in same.values():
        if any(_is_lossy(rows[f.content_id]) for f in group):
            resaved.update(f.path for f in group if not _is_lossy(rows[f.content_id]))

    def aspect(f: FileInfo) -> float:
        r = rows[f.content_id]
        return math.log(max(r.get("width") or 1, 1) / max(r.get("height") or 1, 1))

    def others(f: FileInfo, k: str, same_frame: bool = False) -> float:
        """Median of statistic k over the other members (optionally only those framed alike: a crop's
        tones legitimately differ)."""
        v = [stats[g.content_id].get(k, 0.0) for g in files if g.content_id != f.content_id and stats[g.content_id]
             and (not same_frame or abs(aspect(g) - aspect(f)) < 0.02)]
        return median(v) if v else stats[f.content_id].get(k, 0.0)

    pix = {f.path: _content_pixels(rows[f.content_id], stats[f.content_id], others(f, "frame")) for f in files}
    top = max(pix.values())
    cand = [f for f in files if pix[f.path] >= 0.9 * top] if not similar else list(files)

    def defects(f: FileInfo) -> int:
        """Edits this member shows and the rest of the group does not."""
        st = stats[f.content_id]
        if not st:
            return 0
        d = 0
        d += st.get("band", 0.0) > 0.5 and others(f, "band") < 0.5  # an overlay bar
        d += st.get("frame", 0.0) > others(f, "frame") + 0.02  # an added frame
        d += st.get("colorfulness", 0.0) < 3.0 and others(f, "colorfulness") > 8.0  # grayscale among colour
        if len(files) >= 3:  # tones off the group's consensus (brightened, darkened, more contrast)
            d += abs(st.get("luma_mean", 0.0) - others(f, "luma_mean", True)) > 6.0
            d += abs(math.log((st.get("luma_std", 0.0) + 1.0) / (others(f, "luma_std", True) + 1.0))) > 0.08
        return int(d)

    def key(f: FileInfo) -> tuple:
        r = rows[f.content_id]
        st = stats[f.content_id]
        cap = r.get("capture_time") or f.capture_time
        if similar:
            return (round(math.log2(pix[f.path]) * 4), -defects(f), st.get("sharpness", 0.0), _quality(r),
                    f.size, -f.mtime, _neg(f.path))
        return (-defects(f), f.path not in resaved, _quality(r), twins[f.path], round(math.log2(pix[f.path]) * 8),
                cap is not None, _neg_str(cap), f.size, -f.mtime, _neg(f.path))

    return max(cand, key=key).path


def _neg(s: str) -> tuple:
    """Sort key that prefers the lexicographically smallest string under max()."""
    return tuple(-ord(c) for c in s)


def _neg_str(s: Optional[str]) -> tuple:
    return _neg(s) if s else ()
