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


def _jpeg_quality(img: Image.Image) -> Optional[int]:
    qt = getattr(img, "quantization", None)
    if not qt or 0 not in qt:
        return None
    total = sum(qt[0])
    if total <= 64:
        return 100
    scale = total * 100.0 / 4130.0  # IJG luminance table sums to 4130 at quality 50
    quality = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return int(max(1, min(100, round(quality))))


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


def _content_pixels(row: dict, st: dict) -> float:
    w, h = row.get("width") or 0, row.get("height") or 0
    fr = min(0.3, st.get("frame", 0.0))
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

    pix = {f.path: _content_pixels(rows[f.content_id], stats[f.content_id]) for f in files}
    top = max(pix.values())
    cand = [f for f in files if pix[f.path] >= 0.9 * top] if not similar else list(files)

    col = [stats[f.content_id].get("colorfulness", 0.0) for f in files]
    band = [stats[f.content_id].get("band", 0.0) for f in files]
    frame = [stats[f.content_id].get("frame", 0.0) for f in files]
    lmean = [stats[f.content_id].get("luma_mean", 0.0) for f in files]
    lstd = [stats[f.content_id].get("luma_std", 0.0) for f in files]
    med = {k: median(v) for k, v in (("col", col), ("band", band), ("frame", frame), ("lmean", lmean),
                                     ("lstd", lstd))}

    def defects(f: FileInfo) -> int:
        st = stats[f.content_id]
        if not st:
            return 0
        d = 0
        d += st.get("band", 0.0) > 0.5 and med["band"] < 0.5  # an overlay bar the others lack
        d += st.get("frame", 0.0) > med["frame"] + 0.02  # an added frame
        d += st.get("colorfulness", 0.0) < 3.0 and med["col"] > 8.0  # grayscale among colour copies
        if len(files) >= 3:  # tones off the group's consensus (brightened, darkened, contrast)
            d += abs(st.get("luma_mean", 0.0) - med["lmean"]) > 6.0
            d += abs(math.log((st.get("luma_std", 0.0) + 1.0) / (med["lstd"] + 1.0))) > 0.08
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
