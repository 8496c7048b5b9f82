"""Decision thresholds for verify.py, derived from measurements instead of fixed constants.

Two sources of labelled pairs:

* ``synthetic_pairs(images)``: from a sample of the user's own photos, *edited copies* (resize,
  re-compression, crop, brightness, grayscale, frame, caption, small rotation) as positives and
  *pseudo-bursts* as negatives: the same photo with a region moved (a subject that moved between two
  shots) on an otherwise static frame, re-captured with fresh noise.  "A different shot" is defined
  physically: at least `MIN_MOVED_AREA` of the picture moved by a visible amount.
* labelled real pairs (research: ``thresholds_from(pos, neg)`` on a benchmark half).

``thresholds_from`` puts each residual threshold at the geometric mean of a high quantile of the
positives and a low quantile of the negatives *on the same measurement path* (same frame / aligned),
clamped to a band around verify.DEFAULT_THRESHOLDS so a small or odd sample cannot move them far.
The result is a plain dict the caller stores with the index (Library.settings_set) and passes back to
verify.compare(..., thresholds=...).
"""
from __future__ import annotations

import io
import math
from typing import Iterable, Optional

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from . import verify

#: A pseudo-burst moves a region of this share of the picture (min, max).
MIN_MOVED_AREA, MAX_MOVED_AREA = 0.03, 0.10
#: How far thresholds may move from the defaults (factor).
CLAMP = 1.6


def _jpeg(img: Image.Image, q: int = 90) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _caption(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    band = max(8, round(0.05 * h))
    y0 = int(rng.random() * (h - band))
    base = img.convert("RGBA")
    over = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    d.rectangle((0, y0, w, y0 + band), fill=(0, 0, 0, 150))
    d.text((int(rng.random() * w * 0.5), y0 + 1), "caption text 2024", fill=(255, 255, 255, 230))
    return Image.alpha_composite(base, over).convert("RGB")


def _rot_crop(img: Image.Image, angle: float) -> Image.Image:
    w, h = img.size
    r = img.rotate(angle, resample=Image.BICUBIC, expand=True)
    a = math.radians(abs(angle))
    cw = int((w * math.cos(a) - h * math.sin(a)) / math.cos(2 * a)) - 2
    ch = int((h * math.cos(a) - w * math.sin(a)) / math.cos(2 * a)) - 2
    if cw < 16 or ch < 16:
        return img
    x0, y0 = (r.width - cw) // 2, (r.height - ch) // 2
    return r.crop((x0, y0, x0 + cw, y0 + ch))


def edited_copies(img: Image.Image, rng: np.random.Generator) -> list[tuple[str, Image.Image]]:
    """The edits a duplicate finder must accept, applied to one photo."""
    w, h = img.size

    def crop(keep: float) -> Image.Image:
        cw, ch = max(8, int(w * keep)), max(8, int(h * keep))
        x0, y0 = int(rng.random() * (w - cw)), int(rng.random() * (h - ch))
        return img.crop((x0, y0, x0 + cw, y0 + ch))

    b = max(1, round(0.05 * min(w, h)))
    return [
        ("resized", _jpeg(img.resize((max(8, w // 4), max(8, h // 4)), Image.LANCZOS))),
        ("recompressed", _jpeg(img, 30)),
        ("brightness", _jpeg(ImageEnhance.Brightness(img).enhance(1.3))),
        ("contrast", _jpeg(ImageEnhance.Contrast(img).enhance(1.4))),
        ("grayscale", _jpeg(img.convert("L")).convert("RGB")),
        ("cropped", _jpeg(crop(0.8))),
        ("cropped", _jpeg(crop(0.6))),
        ("framed", _jpeg(ImageOps.expand(img, border=b, fill=(255, 255, 255)))),
        ("captioned", _jpeg(_caption(img, rng))),
        ("rotated", _jpeg(_rot_crop(img, float(rng.choice([-5.0, 5.0]))))),
    ]


def pseudo_burst(img: Image.Image, rng: np.random.Generator, tries: int = 8) -> Optional[Image.Image]:
    """Another 'shot': a textured region of MIN..MAX_MOVED_AREA moved by a few percent, fresh sensor noise.

    None when no visible move could be made (a flat picture).
    """
    w, h = img.size
    src = np.asarray(img, np.float32)
    for _ in range(tries):
        area = rng.uniform(MIN_MOVED_AREA, MAX_MOVED_AREA) * w * h
        aspect = rng.uniform(0.6, 1.6)
        rw, rh = int(math.sqrt(area * aspect)), int(math.sqrt(area / aspect))
        rw, rh = max(4, min(rw, w - 2)), max(4, min(rh, h - 2))
        x0, y0 = int(rng.random() * (w - rw)), int(rng.random() * (h - rh))
        dx = int(rng.choice([-1, 1]) * rng.uniform(0.03, 0.08) * w)
        dy = int(rng.uniform(-0.03, 0.03) * h)
        patch = img.crop((x0, y0, x0 + rw, y0 + rh))
        mask = Image.new("L", (rw, rh), 0)
        ImageDraw.Draw(mask).ellipse((0, 0, rw - 1, rh - 1), fill=255)
        mask = mask.filter(ImageFilter.GaussianBlur(max(1, rw // 20)))
        out = img.copy()
        out.paste(patch, (min(max(0, x0 + dx), w - rw), min(max(0, y0 + dy), h - rh)), mask)
        arr = np.asarray(out, np.float32)
        if (np.abs(arr - src).max(axis=2) > 16).mean() < 0.5 * MIN_MOVED_AREA:
            continue  # moved over a plain area: nothing visibly changed
        arr = arr + rng.normal(0, 2.0, (h, w, 1)).astype(np.float32)
        return _jpeg(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    return None


def synthetic_pairs(images: Iterable[Image.Image], seed: int = 0, max_side: int = 768) -> tuple[list, list]:
    """(positives, negatives): analyse_pair measurements of edited copies and pseudo-bursts."""
    rng = np.random.default_rng(seed)
    pos, neg = [], []
    for img in images:
        img = img.convert("RGB")
        if max(img.size) > max_side:
            k = max_side / max(img.size)
            img = img.resize((max(8, round(img.width * k)), max(8, round(img.height * k))), Image.LANCZOS)
        base = _jpeg(img, 95)
        sa = verify.make_signature(base)
        for _name, copy in edited_copies(base, rng):
            pos.append(verify.analyse_pair(sa, verify.make_signature(copy)))
        for _ in range(2):
            other = pseudo_burst(base, rng)
            if other is not None:
                neg.append(verify.analyse_pair(sa, verify.make_signature(other)))
    return pos, neg


def _ok_path(x: dict, path: str) -> bool:
    return "err_mean" in x and x.get("textured", 0) >= verify.DEFAULT_THRESHOLDS["min_cells"] \
        and (path != "feat" or bool(x.get("contained")))


def _errs(ds: list[dict], path: str, positives: bool) -> np.ndarray:
    """err_mean on `path`; a positive counts only on the path that explains it best."""
    v = []
    for d in ds:
        x = d.get(path)
        if x is None or not _ok_path(x, path):
            continue
        if positives:
            other = d.get("feat" if path == "direct" else "direct")
            if other is not None and _ok_path(other, "feat" if path == "direct" else "direct") \
                    and other["err_mean"] < x["err_mean"]:
                continue
        v.append(x["err_mean"])
    return np.array(v, float)


def thresholds_from(pos: list[dict], neg: list[dict], base: Optional[dict] = None,
                    q_pos: float = 0.99, q_neg: float = 0.02) -> dict:
    """Thresholds between labelled positives (copies) and negatives (other shots); see module doc."""
    T = dict(base or verify.DEFAULT_THRESHOLDS)
    for path, key in (("direct", "same_err"), ("feat", "aligned_err")):
        p, n = _errs(pos, path, True), _errs(neg, path, False)
        p = p[np.isfinite(p)]
        n = n[np.isfinite(n)]
        if len(p) < 5 or len(n) < 5:
            continue
        hi = max(float(np.quantile(p, q_pos)), 1e-3)
        lo = max(float(np.quantile(n, q_neg)), 1e-3)
        t = math.sqrt(hi * lo) if lo > hi else hi
        d = verify.DEFAULT_THRESHOLDS[key]
        T[key] = float(min(max(t, d / CLAMP), d * CLAMP))
    return T


def self_calibrate(images: Iterable[Image.Image], seed: int = 0) -> dict:
    """Thresholds from synthetic edits and pseudo-bursts of a sample of the user's photos."""
    pos, neg = synthetic_pairs(images, seed)
    return thresholds_from(pos, neg)
