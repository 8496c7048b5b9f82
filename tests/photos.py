"""Small synthetic photos for tests: distinct 'scenes' and edited copies, drawn on the fly (no binaries in the repo)."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps


def scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like picture: a smooth gradient background, several random shapes, fine noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, d = rng.uniform(-1, 1, 3)
        base[..., c] = 128 + 90 * np.sin(a * xx / w * 6 + b * yy / h * 6 + d * 3)
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(10, w // 2), y0 + rng.integers(10, h // 2)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    arr = np.asarray(img).astype(np.int16) + rng.integers(-6, 7, (h, w, 3))
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def save(img: Image.Image, path: str, **kw) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fmt = kw.pop("format", None)
    if fmt is None and path.lower().endswith((".jpg", ".jpeg")):
        kw.setdefault("quality", 92)
    img.save(path, format=fmt, **kw)
    return path


def resized(img: Image.Image, factor: float) -> Image.Image:
    return img.resize((max(1, int(img.width * factor)), max(1, int(img.height * factor))), Image.LANCZOS)


def cropped(img: Image.Image, keep: float) -> Image.Image:
    w, h = img.size
    cw, ch = int(w * keep), int(h * keep)
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    return img.crop((x0, y0, x0 + cw, y0 + ch))


def brightened(img: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(factor)


def grayscale(img: Image.Image) -> Image.Image:
    return ImageOps.grayscale(img)


def with_exif_orientation(img: Image.Image, path: str, orientation: int = 6) -> str:
    """Store pixels rotated so that a viewer applying EXIF `orientation` shows `img` upright."""
    inverse = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}
    stored = img.transpose(inverse[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(stored, path, exif=exif.tobytes())


def make_library(root: str, n_scenes: int = 4, size=(320, 240)) -> dict:
    """A small library: each scene with a byte copy, a resized and a recompressed copy; returns {name: path}."""
    files = {}
    for i in range(n_scenes):
        img = scene(100 + i, size)
        files[f"s{i}"] = save(img, os.path.join(root, f"scene{i}", f"IMG_{i:04d}.jpg"))
        files[f"s{i}_resized"] = save(resized(img, 0.5), os.path.join(root, "copies", f"small_{i}.jpg"))
        files[f"s{i}_q40"] = save(img, os.path.join(root, "copies", f"q40_{i}.jpg"), quality=40)
    return files
