"""Photo sets for tests: distinct drawn scenes plus edited copies, written to a folder in one call.

Builds on tests/photos.py (scene drawing). Deterministic, no binaries in the repo::

    from tests.imagegen import write_set, variant, VARIANTS
    groups = write_set(tmp_path / "photos", n_scenes=4, copies=("exact", "resized"))
    # {original path: [original, copy paths...]} - each list is one expected duplicate group

Edited copies (`variant`): "exact" (byte copy), "resized" (0.75x), "recompressed" (JPEG quality 70),
"png" (same pixels, other format), "brighter" (+8%), "crop" (4% border cut).
"""
from __future__ import annotations

import os
import shutil
from typing import Iterable, Union

from PIL import Image, ImageEnhance

from tests.photos import save, scene

PathLike = Union[str, "os.PathLike[str]"]

VARIANTS = ("exact", "resized", "recompressed", "png", "brighter", "crop")


def variant(src: PathLike, dst: PathLike, kind: str) -> str:
    """Write an edited copy of the image file `src` to `dst` (see module docs for `kind`)."""
    src, dst = os.fspath(src), os.fspath(dst)
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    if kind == "exact":
        shutil.copyfile(src, dst)
        return dst
    with Image.open(src) as im:
        img = im.convert("RGB")
    if kind == "resized":
        return save(img.resize((max(1, img.width * 3 // 4), max(1, img.height * 3 // 4)), Image.LANCZOS), dst)
    if kind == "recompressed":
        return save(img, dst, quality=70)
    if kind == "png":
        if not dst.lower().endswith(".png"):
            raise ValueError("a 'png' variant needs a .png destination")
        return save(img, dst)
    if kind == "brighter":
        return save(ImageEnhance.Brightness(img).enhance(1.08), dst)
    if kind == "crop":
        dx, dy = max(1, img.width // 25), max(1, img.height // 25)
        return save(img.crop((dx, dy, img.width - dx, img.height - dy)), dst)
    raise ValueError(f"unknown variant {kind!r}; choose from {VARIANTS}")


def write_set(folder: PathLike, n_scenes: int = 3, copies: Iterable[str] = ("exact",),
              size: tuple[int, int] = (192, 144), first_seed: int = 0) -> dict[str, list[str]]:
    """Write `n_scenes` originals `sceneNN.jpg` plus each copy kind as `sceneNN_<kind>.<ext>` into `folder`.

    Returns {original path: [original, copy paths...]}; each list is one expected duplicate group.
    """
    folder = os.fspath(folder)
    out: dict[str, list[str]] = {}
    copies = list(copies)
    for i in range(first_seed, first_seed + n_scenes):
        orig = save(scene(i, size), os.path.join(folder, f"scene{i:02d}.jpg"))
        members = [orig]
        for kind in copies:
            ext = ".png" if kind == "png" else ".jpg"
            members.append(variant(orig, os.path.join(folder, f"scene{i:02d}_{kind}{ext}"), kind))
        out[orig] = members
    return out
