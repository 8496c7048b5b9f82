"""Pixel verification of candidate pairs: the same photo (an edited copy), another shot, or unrelated?

Stage 2 of grouping (stage 1 proposes candidate pairs by embedding similarity).

At decode time every image gets a compact *signature* (``make_signature``, ~15 KB): a grayscale
thumbnail with the true aspect ratio, ORB keypoints computed at a canonical size, and a few global
statistics.  ``compare`` then decides from two signatures alone:

1. **Same frame** (aspect ratios agree): the two thumbnails are sampled on the same grid.  A copy that
   was only resized, re-compressed, brightened, made grayscale or captioned agrees *cell by cell*
   (local normalised correlation, so brightness/contrast/gray do not matter) everywhere except a
   full-width overlay band; a burst frame from a static camera does not (the subject moved).
2. **Aligned** (crop, frame, small rotation): ORB matches + RANSAC give a similarity transform,
   refined by ECC on the thumbnails.  An edit never adds picture content, so one frame must lie
   *inside* the other (a moving-camera burst overlaps only partially); then the overlap is checked
   cell by cell as above, at the coarser of the two resolutions.

Everything is measured relative to the images themselves (normalised correlation, fractions of
cells, fractions of the frame), so the decision does not depend on a photo collection.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

import cv2
import numpy as np
from PIL import Image

SIGNATURE_VERSION = 4

#: Thumbnail pixel budget (a 4:3 picture gets 120 x 90) and longest side.
THUMB_AREA = 120 * 90
THUMB_MAX_SIDE = 160
#: Long side of the image ORB runs on (never upscaled beyond the input).
FEATURE_SIDE = 448
MAX_KEYPOINTS = 112
#: Block size (thumbnail pixels) of the stored clipped-channel map.
CLIP_BLOCK = 4
#: Blocks whose clipped share differs by more than this are ignored after a brightness/contrast edit.
CLIP_DIFF = 0.5

#: Common blur (thumbnail px) before comparing a pair that had to be resampled to align.
RESAMPLED_BLUR = 1.0
#: One frame must lie inside the other up to this many (outer thumbnail) pixels.
CONTAIN_TOL_PX = 0.6
#: Cell size (thumbnail pixels) of the local-agreement grid.
CELL = 8
#: A cell is informative when its std (0..255 levels) exceeds this in either image.
TEXTURE_STD = 4.0

_MAGIC = b"DDv"
#: Per-picture statistics stored in the signature header (float32 each, in this order).
STAT_KEYS = ("colorfulness", "clip_lo", "clip_hi", "entropy", "sharpness", "frame", "band", "luma_mean",
             "luma_std")
_HEADER = struct.Struct("<3sBHHHHHHH" + "f" * len(STAT_KEYS))  # magic, ver, src w, h, thumb w, h, feat w, h, nkp
_cv_threads_set = False


@dataclass
class Verdict:
    relation: str  # "duplicate" | "similar" | "different"
    score: float  # 0..1 confidence the pair is the same photo
    transform: str = ""  # human hint: "identical", "resized", "cropped", ...
    detail: dict = field(default_factory=dict)


@dataclass
class Signature:
    width: int
    height: int
    thumb: np.ndarray  # float32 (th, tw), 0..255
    clip: np.ndarray  # float32 (th, tw), 0..1: share of source pixels with a clipped colour channel
    feat_w: int
    feat_h: int
    kp: np.ndarray  # float32 (n, 2) in feature-image pixels
    desc: np.ndarray  # uint8 (n, 32)
    stats: dict  # STAT_KEYS -> float

    @property
    def colorfulness(self) -> float:
        return self.stats["colorfulness"]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _single_thread_cv() -> None:
    global _cv_threads_set
    if not _cv_threads_set:
        cv2.setNumThreads(1)
        _cv_threads_set = True


def _thumb_size(w: int, h: int) -> tuple[int, int]:
    s = (THUMB_AREA / float(w * h)) ** 0.5
    tw, th = max(1, round(w * s)), max(1, round(h * s))
    if max(tw, th) > THUMB_MAX_SIDE:
        k = THUMB_MAX_SIDE / max(tw, th)
        tw, th = max(1, round(tw * k)), max(1, round(th * k))
    return min(tw, w), min(th, h)


#: ORB detects this many candidates; MAX_KEYPOINTS are kept, spread over a KP_GRID x KP_GRID grid
#: (so that a small crop of the picture still holds enough of them).
KP_DETECT = 400
KP_GRID = 4


def _keypoints(feat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edge = 15 if max(feat.shape) < 200 else 31
    orb = cv2.ORB_create(nfeatures=KP_DETECT, scaleFactor=1.25, nlevels=6, edgeThreshold=edge,
                         patchSize=edge, fastThreshold=10)
    kps, desc = orb.detectAndCompute(feat, None)
    if desc is None or not kps:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    pts = np.array([p.pt for p in kps], np.float32)
    resp = np.array([p.response for p in kps], np.float32)
    if len(kps) > MAX_KEYPOINTS:
        h, w = feat.shape
        cell = (np.minimum(pts[:, 1] * KP_GRID // h, KP_GRID - 1) * KP_GRID
                + np.minimum(pts[:, 0] * KP_GRID // w, KP_GRID - 1)).astype(int)
        # rank within its grid cell by response; keep the best ranks first (round robin over cells)
        order = np.lexsort((-resp, cell))
        rank = np.empty(len(kps), int)
        start = 0
        for c in np.unique(cell[order]):
            n = int((cell == c).sum())
            rank[order[start:start + n]] = np.arange(n)
            start += n
        keep = np.lexsort((-resp, rank))[:MAX_KEYPOINTS]
        pts, desc = pts[keep], desc[keep]
    return pts, np.ascontiguousarray(desc, np.uint8)


def frame_fraction(gray: np.ndarray, tol: float = 4.0) -> float:
    """Width of a plain frame present on all four sides, as a fraction of the short side (0 = none).

    A frame is a run of uniform lines (std < tol) along every edge, starting with one colour on all four
    sides; further uniform lines of another colour count too (a frame added around a frame).
    """
    h, w = gray.shape
    if min(h, w) < 16:
        return 0.0
    g = gray.astype(np.float32)
    limit = min(h, w) // 4
    sides = [g, g[::-1, :], g.T, g[:, ::-1].T]  # lines from the top, bottom, left, right
    widths, colours = [], []
    for sd in sides:
        m = sd.shape[1] // 8  # ignore the line ends: they cross the frame of the sides next to it
        lines = sd[:limit, m:sd.shape[1] - m]
        c0 = float(np.median(lines[0]))
        ok = lines.std(axis=1) < tol
        n = int(np.argmin(ok)) if not ok.all() else limit
        widths.append(n)
        colours.append(c0)
    if min(widths) < 2 or max(colours) - min(colours) > 2 * tol:
        return 0.0
    return float(min(widths) / min(h, w))


def band_score(gray: np.ndarray) -> float:
    """How much the picture looks overlaid by a full-width horizontal bar (a caption band), 0..1.

    A bar has two straight edges across the whole width where almost every column steps the same way
    (darker going in, brighter going out, or the reverse).  Natural edges (a horizon) rarely pair up.
    """
    h, w = gray.shape
    if h < 16 or w < 16:
        return 0.0
    g = np.log(gray.astype(np.float32) + 8.0)
    d = np.diff(g, axis=0)  # row r -> r+1
    thr = 0.08
    down = (d < -thr).mean(axis=1)  # share of columns getting darker
    up = (d > thr).mean(axis=1)
    best = 0.0
    max_h = max(3, int(0.15 * h))
    for first, second in ((down, up), (up, down)):
        cand = np.flatnonzero(first > 0.6)
        for y0 in cand:
            seg = second[y0 + 2:y0 + max_h]
            if len(seg):
                best = max(best, min(float(first[y0]), float(seg.max())))
    return best


def make_signature(img: Image.Image) -> bytes:
    """Compact signature of an upright RGB image (any size; <= ~16 KB)."""
    _single_thread_cv()
    if img.mode != "RGB":
        img = img.convert("RGB")
    rgb = np.asarray(img)
    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    k = min(1.0, FEATURE_SIDE / max(w, h))
    fw, fh = max(1, round(w * k)), max(1, round(h * k))
    feat = cv2.resize(gray, (fw, fh), interpolation=cv2.INTER_AREA) if k < 1.0 else gray
    kp, desc = _keypoints(feat)
    tw, th = _thumb_size(w, h)
    thumb = cv2.resize(gray, (tw, th), interpolation=cv2.INTER_AREA) if (tw, th) != (w, h) else gray
    # where a colour channel is clipped: brightness/contrast edits lose texture there (luma alone hides it)
    r, g, b = cv2.split(rgb)
    chclip = ((cv2.max(cv2.max(r, g), b) >= 250) | (cv2.min(cv2.min(r, g), b) <= 5)).astype(np.float32)
    clipmap = cv2.resize(chclip, (_ceil_div(tw, CLIP_BLOCK), _ceil_div(th, CLIP_BLOCK)), interpolation=cv2.INTER_AREA)
    small = cv2.resize(rgb, (max(1, tw // 2), max(1, th // 2)), interpolation=cv2.INTER_AREA).astype(np.float32)
    rg = small[..., 0] - small[..., 1]
    yb = 0.5 * (small[..., 0] + small[..., 1]) - small[..., 2]
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    p = hist[hist > 0] / hist.sum()
    st = {
        "colorfulness": float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)),
        "clip_lo": float(hist[:3].sum() / hist.sum()),
        "clip_hi": float(hist[253:].sum() / hist.sum()),
        "entropy": float(-(p * np.log2(p)).sum()),
        "sharpness": float(cv2.Laplacian(feat, cv2.CV_32F).var()),
        "frame": frame_fraction(feat),
        "band": band_score(feat),
        "luma_mean": float(gray.mean()),
        "luma_std": float(gray.std()),
    }
    head = _HEADER.pack(_MAGIC, SIGNATURE_VERSION, min(w, 65535), min(h, 65535), tw, th, fw, fh, len(kp),
                        *[st[k] for k in STAT_KEYS])
    kq = np.round(kp * 16).astype("<u2")  # 1/16 px fixed point
    return head + np.ascontiguousarray(thumb, np.uint8).tobytes() + \
        np.round(clipmap * 255).astype(np.uint8).tobytes() + kq.tobytes() + \
        np.ascontiguousarray(desc, np.uint8).tobytes()


@lru_cache(maxsize=1024)  # ~90 KB each
def parse_signature(sig: bytes) -> Signature:
    """Decode a signature (cached: one image takes part in many pairs)."""
    if len(sig) < _HEADER.size:
        raise ValueError("signature too short")
    magic, ver, w, h, tw, th, fw, fh, n, *stv = _HEADER.unpack_from(sig, 0)
    if magic != _MAGIC or ver != SIGNATURE_VERSION:
        raise ValueError("unknown signature version")
    o = _HEADER.size
    cw, ch = _ceil_div(tw, CLIP_BLOCK), _ceil_div(th, CLIP_BLOCK)
    if len(sig) != o + tw * th + cw * ch + 36 * n:
        raise ValueError("corrupt signature")
    thumb = np.frombuffer(sig, np.uint8, tw * th, o).reshape(th, tw).astype(np.float32)
    o += tw * th
    cm = np.frombuffer(sig, np.uint8, cw * ch, o).reshape(ch, cw).astype(np.float32) / 255.0
    clip = np.kron(cm, np.ones((CLIP_BLOCK, CLIP_BLOCK), np.float32))[:th, :tw]
    o += cw * ch
    kp = np.frombuffer(sig, "<u2", 2 * n, o).reshape(n, 2).astype(np.float32) / 16.0
    o += 4 * n
    desc = np.frombuffer(sig, np.uint8, 32 * n, o).reshape(n, 32)
    return Signature(w, h, thumb, clip, fw, fh, kp, desc, dict(zip(STAT_KEYS, stv)))


# ----------------------------------------------------------------------------------------------
# Geometry helpers.  A 2x3 matrix maps pixel-centre coordinates of one thumbnail to another.
# ----------------------------------------------------------------------------------------------

def _h(M: np.ndarray) -> np.ndarray:
    return np.vstack([M, [0.0, 0.0, 1.0]])


def _inv(M: np.ndarray) -> np.ndarray:
    return np.linalg.inv(_h(M))[:2]


def _scale_of(M: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(M[:2, :2]))))


def _direct_transform(a: Signature, b: Signature) -> np.ndarray:
    """b thumb -> a thumb when both show the whole same frame (pixel-centre convention)."""
    ha, wa = a.thumb.shape
    hb, wb = b.thumb.shape
    sx, sy = wa / wb, ha / hb
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]], np.float64)


def _protrusion(M: np.ndarray, src_shape: tuple, dst_shape: tuple) -> float:
    """How far the src frame mapped by M sticks out of the dst frame, as a fraction of dst's long side."""
    hs, ws = src_shape
    hd, wd = dst_shape
    c = np.array([[-0.5, -0.5], [ws - 0.5, -0.5], [ws - 0.5, hs - 0.5], [-0.5, hs - 0.5]])
    p = c @ M[:, :2].T + M[:, 2]
    out = np.maximum.reduce([-0.5 - p[:, 0], p[:, 0] - (wd - 0.5), -0.5 - p[:, 1], p[:, 1] - (hd - 0.5),
                             np.zeros(4)])
    return float(out.max() / max(wd, hd))


def _feature_transform(a: Signature, b: Signature, max_rot_deg: float) -> Optional[tuple[np.ndarray, dict]]:
    """Similarity transform b thumb -> a thumb from ORB matches (None when there is no consistent one)."""
    if len(a.kp) < 5 or len(b.kp) < 5:
        return None
    bf = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    matches = [m for m in bf.match(b.desc, a.desc) if m.distance <= 64]
    if len(matches) < 5:
        return None
    pb = b.kp[[m.queryIdx for m in matches]]
    pa = a.kp[[m.trainIdx for m in matches]]
    M, inl = cv2.estimateAffinePartial2D(pb, pa, method=cv2.RANSAC, ransacReprojThreshold=3.0,
                                         maxIters=500, confidence=0.995, refineIters=10)
    if M is None:
        return None
    inl = inl.ravel().astype(bool)
    ni = int(inl.sum())
    if ni < 5:
        return None
    rot = float(np.degrees(np.arctan2(M[1, 0], M[0, 0])))
    if abs(rot) > max_rot_deg:
        return None
    # feature px -> thumb px (pixel-centre convention on both sides)
    ha, wa = a.thumb.shape
    hb, wb = b.thumb.shape
    ka = np.array([[wa / a.feat_w, 0, 0.5 * wa / a.feat_w - 0.5], [0, ha / a.feat_h, 0.5 * ha / a.feat_h - 0.5]])
    kb = np.array([[b.feat_w / wb, 0, 0.5 * b.feat_w / wb - 0.5], [0, b.feat_h / hb, 0.5 * b.feat_h / hb - 0.5]])
    Mt = (_h(ka) @ _h(M) @ _h(kb))[:2]
    info = {"matches": len(matches), "inliers": ni, "inlier_ratio": ni / len(matches), "rot_deg": rot}
    return Mt, info


_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 25, 1e-4)


def _ecc_refine(tmpl: np.ndarray, inp: np.ndarray, W: np.ndarray, margin: int = 3) -> Optional[tuple[np.ndarray, float]]:
    """Refine W (tmpl coords -> inp coords) by ECC; None when it does not converge.

    The template loses a `margin` px rim: near the edge of an inner picture the outer one may mix in
    a frame or other content, which would pull the estimate.
    """
    h, w = tmpl.shape
    if h <= 2 * margin + 8 or w <= 2 * margin + 8:
        return None
    t = np.ascontiguousarray(tmpl[margin:h - margin, margin:w - margin])
    Wm = W.copy()
    Wm[:, 2] = W[:, 2] + W[:, :2] @ np.array([margin, margin], np.float64)
    try:
        cc, W2 = cv2.findTransformECC(t, inp, Wm.astype(np.float32), cv2.MOTION_AFFINE, _ECC_CRITERIA, None, 3)
    except cv2.error:
        return None
    W2 = W2.astype(np.float64)
    W2[:, 2] = W2[:, 2] - W2[:, :2] @ np.array([margin, margin], np.float64)
    return W2, float(cc)


# ----------------------------------------------------------------------------------------------
# Local agreement on the overlap
# ----------------------------------------------------------------------------------------------

def _resample_into(srcs: list, M_src_to_ref: np.ndarray, ref_shape: tuple,
                   margin: float = 0.0) -> tuple[list, np.ndarray]:
    """Warp images of the src frame into the ref frame (anti-aliased when they shrink).

    Returns (warped images, valid mask: ref pixels that map at least `margin` + 0.5 px inside src).
    """
    s = _scale_of(M_src_to_ref)
    h, w = ref_shape
    Mi = _inv(M_src_to_ref)  # ref -> src
    out = []
    for src in srcs:
        if s < 0.87:
            src = cv2.GaussianBlur(src, (0, 0), 0.45 * np.sqrt(1.0 / (s * s) - 1.0))
        out.append(cv2.warpAffine(src, Mi, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REPLICATE))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sx = Mi[0, 0] * xs + Mi[0, 1] * ys + Mi[0, 2]
    sy = Mi[1, 0] * xs + Mi[1, 1] * ys + Mi[1, 2]
    hs, ws = srcs[0].shape
    m = margin + 0.5
    mask = (sx >= m) & (sx <= ws - 1 - m) & (sy >= m) & (sy <= hs - 1 - m)
    return out, mask


def _band_rows(ref: np.ndarray, mov: np.ndarray, valid: np.ndarray, max_frac: float = 0.14) -> Optional[tuple[int, int]]:
    """Find a full-width overlay band (a caption bar): consecutive rows where most pixels changed.

    Change is measured on a log scale, so a semi-opaque dark bar over a dark picture still counts.
    Returns (start, stop) rows (with a 1-row margin) or None.
    """
    changed = (np.abs(np.log((mov + 8.0) / (ref + 8.0))) > 0.22) & valid
    n_valid = valid.sum(axis=1)
    frac = changed.sum(axis=1) / np.maximum(n_valid, 1)
    lines = (frac > 0.5) & (n_valid > 0.8 * valid.shape[1])
    return _longest_run(lines, len(lines), max_frac)


def _band_rows_raw(ref: np.ndarray, mov: np.ndarray, valid: np.ndarray) -> Optional[tuple[int, int]]:
    """Rows whose typical brightness ratio departs from the picture's (before any tone mapping)."""
    lr = np.log((mov + 8.0) / (ref + 8.0))
    rows = valid.sum(axis=1) > 0.8 * valid.shape[1]
    if rows.sum() < 8:
        return None
    med = (lr * valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)  # row means of the log ratio
    dev = np.abs(med - np.median(med[rows])) > 0.3
    return _longest_run(dev & rows, len(dev))


def _longest_run(lines: np.ndarray, n: int, max_frac: float = 0.14) -> Optional[tuple[int, int]]:
    """Longest run of True lines (1-line gaps allowed), with a 1-line margin; None if too short/long."""
    if not lines.any():
        return None
    idx = np.flatnonzero(lines)
    best, start, prev = (0, 0), idx[0], idx[0]
    for i in list(idx[1:]) + [None]:
        if i is None or i > prev + 2:
            if prev + 1 - start > best[1] - best[0]:
                best = (start, prev + 1)
            if i is None:
                break
            start = i
        prev = i
    length = best[1] - best[0]
    if length < 2 or length > max_frac * n:
        return None
    return max(0, int(best[0]) - 1), min(n, int(best[1]) + 1)


def _tone_map(x: np.ndarray, y: np.ndarray, img: np.ndarray, bins: int = 16) -> tuple[np.ndarray, float]:
    """Monotone tone curve taking x values to y values, from corresponding pixels (conditional medians).

    Robust to a local overlay (a caption covers a minority of every brightness bin) and to
    clipping, gamma or contrast changes.  Returns (img mapped, overall gain).
    """
    order = np.argsort(x, kind="stable")
    n = (len(x) // bins) * bins
    if n == 0:
        return img + float(np.median(y) - np.median(x)), 1.0
    # equal-count bins over the sorted x (the few leftover brightest pixels join no bin)
    xs, ys = x[order][:n].reshape(bins, -1), y[order][:n].reshape(bins, -1)
    cx, cy = np.median(xs, axis=1), np.median(ys, axis=1)
    cy = np.maximum.accumulate(cy)
    cx, keep = np.unique(cx, return_index=True)
    cy = cy[keep]
    if len(cx) < 2:
        return img + float(np.median(y) - np.median(x)), 1.0
    gain = float((cy[-1] - cy[0]) / max(cx[-1] - cx[0], 1e-6))
    # linear extrapolation beyond the end bins
    lo = (cy[1] - cy[0]) / max(cx[1] - cx[0], 1e-6)
    hi = (cy[-1] - cy[-2]) / max(cx[-1] - cx[-2], 1e-6)
    out = np.interp(img, cx, cy)
    out = np.where(img < cx[0], cy[0] + (img - cx[0]) * lo, out)
    out = np.where(img > cx[-1], cy[-1] + (img - cx[-1]) * hi, out)
    return np.clip(out, 0.0, 255.0).astype(np.float32), gain


_DEBUG: Optional[list] = None  # research hook: when a list, _agreement appends its arrays


def _agreement(ref: np.ndarray, mov: np.ndarray, valid: np.ndarray, ref_clip: np.ndarray,
               mov_clip: np.ndarray, blur: float = 0.6) -> dict:
    """Cell-by-cell agreement of two aligned grayscale images on `valid` pixels.

    `blur` (px) is applied to both first: a resampled pair is compared without its near-Nyquist
    detail, which differs between resampling chains even for identical pictures.
    """
    ref_raw, mov_raw = ref, mov
    r = int(np.ceil(2 * blur))  # blurred pixels near an edge mix in content the other image lacks
    valid = cv2.erode(valid.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8),
                      borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    ref = cv2.GaussianBlur(ref, (0, 0), blur)
    mov = cv2.GaussianBlur(mov, (0, 0), blur)
    out: dict = {"overlap": float(valid.mean())}
    vr, vm = ref[valid], mov[valid]
    if vr.size < 64:
        out["cells"] = 0
        return out
    # rows that a caption bar darkened/brightened as a whole must not steer the tone curve
    fit = valid.copy()
    pre = _band_rows_raw(ref, mov, valid)
    if pre is not None:
        fit[pre[0]:pre[1], :] = False
        if fit.sum() >= 64:
            vr, vm = ref[fit], mov[fit]
    mov_n, gain = _tone_map(vm[::2], vr[::2], mov)
    out["gain"] = gain
    res = np.abs(mov_n - ref)
    out["res_med"] = float(np.median(res[valid]))
    # full-width overlay band (caption bar) excluded from the test
    v2 = valid.copy()
    band = _band_rows(ref, mov_n, valid)
    if band is not None:
        v2[band[0]:band[1], :] = False
    out["band"] = band
    h, w = ref.shape
    ch, cw = h // CELL, w // CELL
    if ch < 1 or cw < 1:
        out["cells"] = 0
        return out
    oy, ox = (h - ch * CELL) // 2, (w - cw * CELL) // 2

    def cells(a):
        return a[oy:oy + ch * CELL, ox:ox + cw * CELL].reshape(ch, CELL, cw, CELL)

    # pixels clipped in either image carry no evidence (a brightened copy loses its highlights)
    clip = (ref_raw >= 245) | (ref_raw <= 8) | (mov_raw >= 245) | (mov_raw <= 8)
    shift = float(np.median(vm) - np.median(vr))
    out["shift"] = shift
    if abs(np.log(max(gain, 1e-3))) > 0.06 or abs(shift) > 6.0:
        # a brightness/contrast edit: where clipping differs, texture was lost in one of them
        clip |= (np.abs(ref_clip - mov_clip) > CLIP_DIFF)
    clip = cv2.dilate(clip.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    X, Y = cells(ref), cells(mov_n)
    Wt = cells(v2 & ~clip).astype(np.float32)
    full = cells(v2).all(axis=(1, 3))
    n = Wt.sum(axis=(1, 3))
    usable = full & (n >= 0.5 * CELL * CELL)
    nn = np.maximum(n, 1.0)
    mx = (Wt * X).sum(axis=(1, 3)) / nn
    my = (Wt * Y).sum(axis=(1, 3)) / nn
    dx, dy = (X - mx[:, None, :, None]) * Wt, (Y - my[:, None, :, None]) * Wt
    sxx, syy, sxy = (dx * dx).sum(axis=(1, 3)) / nn, (dy * dy).sum(axis=(1, 3)) / nn, (dx * dy).sum(axis=(1, 3)) / nn
    sdx, sdy = np.sqrt(sxx), np.sqrt(syy)
    ncc = sxy / np.maximum(sdx * sdy, 1e-6)
    textured = usable & (np.maximum(sdx, sdy) > TEXTURE_STD)
    nt = int(textured.sum())
    out["cells"] = int(full.sum())
    out["textured"] = nt
    vv = v2 & ~clip
    out["rms"] = float(np.sqrt(np.mean(res[vv] ** 2))) if vv.sum() > 64 else 99.0
    out["std"] = float(min(ref[vv].std(), mov_n[vv].std())) if vv.sum() > 64 else 0.0
    if nt == 0:
        return out
    # unexplained structure per cell: 1 - ncc, with flat-vs-textured cells counted as fully changed
    flat_one = textured & (np.minimum(sdx, sdy) < 0.25 * np.maximum(sdx, sdy))
    err = np.where(flat_one, 1.0, np.clip(1.0 - ncc, 0.0, 2.0))
    e = err[textured]
    wts = np.maximum(sdx, sdy)[textured]
    out["err_mean"] = float(e.mean())
    out["err_wmean"] = float((e * wts).sum() / wts.sum())
    for t in (0.02, 0.05, 0.1, 0.2):
        out[f"bad{int(t * 100):02d}"] = float((e > t).mean())
    out["err_p90"] = float(np.percentile(e, 90))
    if _DEBUG is not None:
        _DEBUG.append({"ref": ref, "mov": mov_n, "valid": v2, "err": np.where(textured, err, -1.0),
                       "origin": (oy, ox)})
    return out


# ----------------------------------------------------------------------------------------------
# Pair analysis
# ----------------------------------------------------------------------------------------------

#: Same-frame pairs whose coarse (24 x 18) thumbnails correlate less than this are not analysed further.
PREFILTER_NCC = 0.3


def _global_ncc(x: np.ndarray, y: np.ndarray) -> float:
    x = cv2.resize(x, (24, 18), interpolation=cv2.INTER_AREA).ravel()
    y = cv2.resize(y, (24, 18), interpolation=cv2.INTER_AREA).ravel()
    x, y = x - x.mean(), y - y.mean()
    return float(x @ y / np.sqrt((x @ x) * (y @ y) + 1e-9))


def _same_frame(a: Signature, b: Signature) -> Optional[dict]:
    """Agreement when both thumbnails show the same whole frame (aspect ratios agree)."""
    if abs(np.log((a.width / a.height) / (b.width / b.height))) > 0.02:
        return None
    # cheap reject: a copy of the whole frame correlates with it globally (an overlay or tone change
    # lowers this a little, a different picture a lot)
    g = _global_ncc(a.thumb, b.thumb)
    if g < PREFILTER_NCC:
        return {"cells": 0, "prefilter": g}
    M = _direct_transform(a, b)
    # thumbnails of same-size pictures come from identical resampling; a resized copy's do not
    blur = 0.6 if (a.width, a.height) == (b.width, b.height) else RESAMPLED_BLUR
    if _scale_of(M) < 1.0:  # warp the finer thumbnail into the coarser one
        (mov, mclip), valid = _resample_into([b.thumb, b.clip], M, a.thumb.shape)
        st = _agreement(a.thumb, mov, valid, a.clip, mclip, blur)
    else:
        (mov, mclip), valid = _resample_into([a.thumb, a.clip], _inv(M), b.thumb.shape)
        st = _agreement(b.thumb, mov, valid, b.clip, mclip, blur)
    return st


#: Scales tried when searching a small crop inside a picture by template matching (crop side / side).
_TM_SCALES = np.arange(0.40, 0.96, 0.05)
#: Coarse template-matching correlation needed before a crop placement is verified.
TM_MIN_NCC = 0.75


def _template_transform(a: Signature, b: Signature) -> Optional[tuple[np.ndarray, dict]]:
    """b thumb -> a thumb placing b as an upright crop of a (no rotation) by multi-scale template
    matching, for crops too small for feature matching.  A proposal only: compare() verifies it."""
    ha, wa = a.thumb.shape
    hb, wb = b.thumb.shape
    if min(ha, wa, hb, wb) < 24:
        return None
    small_a = cv2.resize(a.thumb, (wa // 2, ha // 2), interpolation=cv2.INTER_AREA)
    best = (-1.0, 0.0, (0, 0))
    for s in _TM_SCALES:  # coarse: both at half resolution
        w, h = int(round(wb * s / 2)), int(round(hb * s / 2))
        if w >= wa // 2 or h >= ha // 2 or w < 8 or h < 8:
            continue
        t = cv2.resize(b.thumb, (w, h), interpolation=cv2.INTER_AREA)
        _, mx, _, loc = cv2.minMaxLoc(cv2.matchTemplate(small_a, t, cv2.TM_CCOEFF_NORMED))
        if mx > best[0]:
            best = (mx, s, loc)
    if best[0] < TM_MIN_NCC:
        return None
    fine = (-1.0, 0.0, (0, 0))
    for s in np.linspace(best[1] - 0.04, best[1] + 0.04, 5):  # refine at full resolution
        w, h = int(round(wb * s)), int(round(hb * s))
        if w >= wa or h >= ha or w < 16 or h < 16:
            continue
        t = cv2.resize(b.thumb, (w, h), interpolation=cv2.INTER_AREA)
        _, mx, _, loc = cv2.minMaxLoc(cv2.matchTemplate(a.thumb, t, cv2.TM_CCOEFF_NORMED))
        if mx > fine[0]:
            fine = (mx, s, loc, w, h)
    if fine[0] < TM_MIN_NCC:
        return None
    _, s, (x0, y0), w, h = fine
    sx, sy = w / wb, h / hb
    M = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]])
    return M, {"template_ncc": float(fine[0])}


def _aligned(a: Signature, b: Signature, max_rot_deg: float, templates: bool = True) -> Optional[dict]:
    """Agreement after feature (or template) + ECC alignment, with the containment test."""
    ft = _feature_transform(a, b, max_rot_deg)
    if ft is None and templates:
        # a small crop may hold too few keypoints: look for it by template matching, either way round
        ft = _template_transform(a, b)
        if ft is None:
            tb = _template_transform(b, a)
            ft = (_inv(tb[0]), tb[1]) if tb is not None else None
    if ft is None:
        return None
    M, info = ft  # b -> a
    out = dict(info)
    out["scale"] = _scale_of(M)
    # which frame is inside the other?  (an edit never adds picture content)
    pb_in_a = _protrusion(M, b.thumb.shape, a.thumb.shape)
    pa_in_b = _protrusion(_inv(M), a.thumb.shape, b.thumb.shape)
    inner_is_b = pb_in_a <= pa_in_b
    out["protrusion0"] = min(pb_in_a, pa_in_b)
    if out["protrusion0"] > 0.06:
        out["contained"] = False
        return out
    # ECC refinement: template = inner frame, input = outer frame
    inner, outer = (b, a) if inner_is_b else (a, b)
    tmpl, inp, W = inner.thumb, outer.thumb, (M if inner_is_b else _inv(M))
    r = _ecc_refine(tmpl, inp, W)
    if r is not None and np.all(np.isfinite(r[0])) and abs(np.log(_scale_of(r[0]) / _scale_of(W))) < 0.1:
        W, out["ecc"] = r
    out["protrusion"] = _protrusion(W, tmpl.shape, inp.shape)
    out["contained"] = out["protrusion"] * max(inp.shape) <= CONTAIN_TOL_PX
    out["inner_cover"] = _scale_of(W) ** 2 * tmpl.size / inp.size  # share of the outer frame covered
    if out["inner_cover"] < 0.97:
        # is the outer picture's extra area a plain frame (added border) or real picture (a crop)?
        ho, wo = inp.shape
        ones = np.ones(tmpl.shape, np.float32)
        cover = cv2.warpAffine(ones, W, (wo, ho), flags=cv2.INTER_LINEAR, borderValue=0)
        rim = cover < 0.01
        rim = cv2.erode(rim.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if rim.sum() >= 8:
            out["rim_std"] = float(inp[rim].std())
            out["framed"] = out["rim_std"] < min(6.0, 0.25 * float(inp.std()))
    # compare at the coarser resolution: W maps inner -> outer
    if _scale_of(W) < 1.0:  # inner is finer: warp inner into outer frame
        (mov, mclip), valid = _resample_into([inner.thumb, inner.clip], W, inp.shape)
        st = _agreement(outer.thumb, mov, valid, outer.clip, mclip, RESAMPLED_BLUR)
    else:
        (mov, mclip), valid = _resample_into([outer.thumb, outer.clip], _inv(W), tmpl.shape)
        st = _agreement(inner.thumb, mov, valid, inner.clip, mclip, RESAMPLED_BLUR)
    out.update(st)
    out["inner"] = "b" if inner_is_b else "a"
    out["rot_deg"] = float(np.degrees(np.arctan2(W[1, 0], W[0, 0])))
    out["scale"] = _scale_of(W) if inner_is_b else 1.0 / max(_scale_of(W), 1e-9)
    return out


#: Decision thresholds (see calibrate.py).  All are relative measures: 1 - local normalised correlation
#: averaged over informative cells, shares of cells, pixel levels only for textureless pictures.
DEFAULT_THRESHOLDS: dict = {
    "min_cells": 8,  # fewer informative cells than this: judge on the pixel residual instead
    "same_err": 0.024,  # same frame: mean (1 - ncc) over cells
    "same_bad": 0.02,  # same frame: share of cells with 1 - ncc > 0.2
    "aligned_err": 0.022,  # after alignment (crop, frame, rotation)
    "aligned_bad": 0.03,
    "flat_rms": 5.0,  # textureless pictures: rms residual (levels) ...
    "flat_rms_rel": 0.12,  # ... and relative to the picture's contrast
    "similar_inliers": 12,  # same scene: consistent feature matches ...
    "similar_ratio": 0.3,  # ... and their share
    "similar_err": 0.5,  # or a same-frame residual this low
    "similar_cosine": 0.9,  # or (when given) an embedding cosine this high
    "template_cosine": 0.0,  # search small crops by template matching only above this cosine (when given)
}

_DIHEDRAL = {  # name -> function on a 2-D array (how b may have been turned relative to a)
    "rotated 90": lambda x: np.rot90(x, 1),
    "rotated 180": lambda x: np.rot90(x, 2),
    "rotated 270": lambda x: np.rot90(x, 3),
    "mirrored": lambda x: x[:, ::-1],
    "flipped": lambda x: x[::-1, :],
    "transposed": lambda x: x.T,
    "transversed": lambda x: np.rot90(x, 2).T,
}


def _turned(b: Signature, fn) -> Signature:
    t = np.ascontiguousarray(fn(b.thumb))
    c = np.ascontiguousarray(fn(b.clip))
    w, h = (b.width, b.height) if t.shape == b.thumb.shape else (b.height, b.width)
    return Signature(w, h, t, c, b.feat_w, b.feat_h, b.kp[:0], b.desc[:0], b.stats)


def _is_dup(x: dict, kind: str, T: dict) -> bool:
    if kind == "feat" and not x.get("contained"):
        return False
    if x.get("cells", 0) < 4:
        return False
    if x.get("textured", 0) < T["min_cells"]:
        if kind == "feat":  # a plain patch fits anywhere: an aligned part must show some detail
            return False
        rms = x.get("rms", 99.0)
        return rms <= T["flat_rms"] and rms <= max(2.0, T["flat_rms_rel"] * x.get("std", 0.0))
    e, bad = ("same_err", "same_bad") if kind == "direct" else ("aligned_err", "aligned_bad")
    return x.get("err_mean", 9.0) <= T[e] and x.get("bad20", 9.0) <= T[bad]


def _score(x: dict, kind: str, T: dict) -> float:
    """Confidence the pair is the same photo: 1 at zero residual, 0.5 at the threshold."""
    if x.get("textured", 0) < T["min_cells"]:
        r = x.get("rms", 99.0) / max(T["flat_rms"], 1e-6)
    else:
        e = T["same_err"] if kind == "direct" else T["aligned_err"]
        r = x.get("err_mean", 9.0) / e
    return float(np.clip(0.5 ** r, 0.0, 1.0))


def analyse_pair(sig_a: bytes, sig_b: bytes, *, rotations: bool = False, full: bool = True,
                 thresholds: Optional[dict] = None, cosine: Optional[float] = None) -> dict:
    """Raw measurements for a pair: "direct" (same frame), "feat" (aligned), "turn" (rotated/mirrored).

    With full=False it stops as soon as one of them proves a duplicate (what compare() uses).
    """
    _single_thread_cv()
    T = thresholds or DEFAULT_THRESHOLDS
    a, b = parse_signature(sig_a), parse_signature(sig_b)
    out: dict = {}
    d = _same_frame(a, b)
    if d is not None:
        out["direct"] = d
        if not full and _is_dup(d, "direct", T):
            return out
    templates = cosine is None or cosine >= T.get("template_cosine", 0.0)
    f = _aligned(a, b, 180.0 if rotations else 20.0, templates)
    if f is not None:
        out["feat"] = f
        if not full and _is_dup(f, "feat", T):
            return out
    if rotations:
        for name, fn in _DIHEDRAL.items():
            bt = _turned(b, fn)
            d = _same_frame(a, bt)
            if d is not None:
                d["turn"] = name
                out["turn"] = d
                if _is_dup(d, "direct", T):
                    break
    return out


def _hint(a: Signature, b: Signature, x: dict, kind: str) -> str:
    """Human description of how b differs from a."""
    parts = []
    if kind == "turn":
        parts.append(x["turn"])
    if kind == "feat":
        if x.get("framed"):
            parts.append("framed")
        elif x.get("inner_cover", 1.0) < 0.97:
            parts.append("cropped")
        if abs(x.get("rot_deg", 0.0)) > 1.0:
            parts.append("rotated")
    if x.get("band") is not None:
        parts.append("captioned")
    lo, hi = sorted((a.colorfulness, b.colorfulness))
    if lo < 3.0 and hi > 10.0:
        parts.append("grayscale")
    if abs(np.log(max(x.get("gain", 1.0), 1e-3))) > 0.1 or abs(x.get("shift", 0.0)) > 10.0:
        parts.append("brightness/contrast")
    if not parts or kind == "direct":
        if (a.width, a.height) != (b.width, b.height):
            parts.insert(0, "resized")
        elif not parts:
            parts.append("identical" if x.get("rms", 99.0) < 0.5 else "re-compressed")
    return ", ".join(parts)


def decide(a: Signature, b: Signature, d: dict, *, cosine: Optional[float] = None,
           thresholds: Optional[dict] = None) -> Verdict:
    """Turn analyse_pair measurements into a Verdict."""
    T = thresholds or DEFAULT_THRESHOLDS
    for kind in ("direct", "feat", "turn"):
        x = d.get(kind)
        if x is not None and _is_dup(x, "feat" if kind == "feat" else "direct", T):
            sc = _score(x, "feat" if kind == "feat" else "direct", T)
            return Verdict("duplicate", max(sc, 0.5), _hint(a, b, x, kind), d)
    best = max([_score(x, "feat" if k == "feat" else "direct", T) for k, x in d.items()
                if x.get("cells", 0) >= 4] + [0.0])
    f = d.get("feat", {})
    same_scene = (f.get("inliers", 0) >= T["similar_inliers"] and f.get("inlier_ratio", 0.0) >= T["similar_ratio"]) \
        or d.get("direct", {}).get("err_mean", 9.0) <= T["similar_err"] \
        or (cosine is not None and cosine >= T["similar_cosine"])
    if same_scene:
        return Verdict("similar", min(best, 0.49), "another shot", d)
    return Verdict("different", min(best, 0.49), "", d)


def compare(sig_a: bytes, sig_b: bytes, *, rotations: bool = False, cosine: Optional[float] = None,
            thresholds: Optional[dict] = None) -> Verdict:
    """Classify a candidate pair: "duplicate" (same photo, maybe edited), "similar" (another shot of the
    same scene) or "different".  `rotations` also accepts copies turned by 90/180 degrees or mirrored;
    `cosine` (the embedding similarity, if known) only helps to call a pair "similar"."""
    if (len(sig_b), sig_b) < (len(sig_a), sig_a):  # the same verdict whichever way round
        sig_a, sig_b = sig_b, sig_a
    d = analyse_pair(sig_a, sig_b, rotations=rotations, full=False, thresholds=thresholds, cosine=cosine)
    return decide(parse_signature(sig_a), parse_signature(sig_b), d, cosine=cosine, thresholds=thresholds)


def verify_contents(row_a: dict, row_b: dict, *, cosine: Optional[float] = None, rotations: bool = False,
                    thresholds: Optional[dict] = None) -> Verdict:
    """compare() for two catalog content rows (group.py's entry point).

    Adds relation "identical" (same size, no measurable difference at signature size; the caller
    confirms on full-resolution pixels).  Without a current signature on both sides there is no pixel
    evidence: the pair is at most "similar" (from the cosine), never a duplicate.
    """
    sa, sb = row_a.get("signature"), row_b.get("signature")
    ok = sa and sb and row_a.get("sig_version", SIGNATURE_VERSION) == SIGNATURE_VERSION \
        and row_b.get("sig_version", SIGNATURE_VERSION) == SIGNATURE_VERSION
    T = thresholds or DEFAULT_THRESHOLDS
    if ok:
        try:
            v = compare(bytes(sa), bytes(sb), rotations=rotations, cosine=cosine, thresholds=thresholds)
        except ValueError:
            ok = False
    if not ok:
        rel = "similar" if cosine is not None and cosine >= T["similar_cosine"] else "different"
        return Verdict(rel, 0.0, "", {"reason": "no pixel signature"})
    if v.relation == "duplicate" and v.transform == "identical":
        v.relation = "identical"
    return v


#: Loose cosine floors for the neighbour search (a crop keeps only part of the picture, so its
#: embedding can be far from the original's; pixel verification does the precision work).
_FLOORS: dict = {"efficientnet-lite0": 0.35}


#: Embedding cosine above which two pictures are the same scene ("similar") even when their pixels do
#: not align (other viewpoint).  Per model: cosine scales differ.  lite0: distinct dev photos stay
#: below 0.70 (7,140 pairs), other shots of one scene reach 0.75-0.95.
_SIMILAR_COSINE: dict = {"efficientnet-lite0": 0.75}
#: Cosine below which a pair is not searched for a small crop (the costly template search); lite0: a 60%
#: crop of a dev photo keeps cosine >= 0.55, distinct dev photos are below 0.44 in 99% of pairs.
_TEMPLATE_COSINE: dict = {"efficientnet-lite0": 0.5}


def thresholds_for(model: Optional[str]) -> dict:
    """DEFAULT_THRESHOLDS with the model-specific values filled in."""
    T = dict(DEFAULT_THRESHOLDS)
    if model in _SIMILAR_COSINE:
        T["similar_cosine"] = _SIMILAR_COSINE[model]
    if model in _TEMPLATE_COSINE:
        T["template_cosine"] = _TEMPLATE_COSINE[model]
    return T


def candidate_floor(model: str) -> Optional[float]:
    """Cosine below which a neighbour is not worth verifying (None: no floor)."""
    return _FLOORS.get(model)
