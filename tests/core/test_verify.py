"""verify.py: edited copies verify as duplicates, another shot as similar, another photo as different."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from desktop_dedup.core import verify

W, H = 640, 480


def _texture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Photo-like luminance: smooth noise at several scales, 0..1."""
    out = np.zeros((h, w), np.float32)
    for scale, amp in ((64, 1.0), (16, 0.6), (6, 0.45), (2, 0.2)):
        small = rng.random((h // scale + 2, w // scale + 2)).astype(np.float32)
        im = Image.fromarray((small * 255).astype(np.uint8)).resize((w + 2 * scale, h + 2 * scale), Image.BICUBIC)
        out += amp * np.asarray(im, np.float32)[scale:scale + h, scale:scale + w] / 255.0
    out -= out.min()
    return out / out.max()


def scene(seed: int, subject_xy=(0.3, 0.45), shift=(0, 0), size=(W, H)) -> Image.Image:
    """A textured background with a few shapes and a textured 'subject' disc at subject_xy."""
    rng = np.random.default_rng(seed)
    w, h = size
    pad = 40
    bg = _texture(rng, w + 2 * pad, h + 2 * pad)
    rgb = np.stack([bg * 200 + 30, bg * 170 + 40, (1 - bg) * 100 + 60], axis=-1)
    img = Image.fromarray(rgb.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = rng.integers(0, w, 2)
        r = int(rng.integers(20, 60))
        d.rectangle([x, y, x + 2 * r, y + r], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    # subject: a disc with its own texture
    sub_tex = _texture(np.random.default_rng(seed + 1000), 160, 160)
    sub = Image.fromarray((np.stack([sub_tex * 255, sub_tex * 80, 255 - sub_tex * 200], -1)).astype(np.uint8))
    mask = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(mask).ellipse([0, 0, 159, 159], fill=255)
    sx, sy = int(subject_xy[0] * w) + pad, int(subject_xy[1] * h) + pad
    img.paste(sub, (sx - 80, sy - 80), mask)
    x0, y0 = pad + shift[0], pad + shift[1]
    return img.crop((x0, y0, x0 + w, y0 + h))


def jpeg(img: Image.Image, q: int = 90) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=q)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def caption(img: Image.Image) -> Image.Image:
    w, h = img.size
    band = max(8, round(h * 0.05))
    y0 = int(0.7 * (h - band))
    base = img.convert("RGBA")
    over = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    d.rectangle((0, y0, w, y0 + band), fill=(0, 0, 0, 150))
    d.text((w // 3, y0 + 2), "Summer holidays 2019", fill=(255, 255, 255, 230))
    return Image.alpha_composite(base, over).convert("RGB")


def rot_crop(img: Image.Image, angle: float = 5.0) -> Image.Image:
    w, h = img.size
    r = img.rotate(angle, resample=Image.BICUBIC, expand=True)
    a = np.radians(abs(angle))
    cw = int((w * np.cos(a) - h * np.sin(a)) / np.cos(2 * a)) - 2
    ch = int((h * np.cos(a) - w * np.sin(a)) / np.cos(2 * a)) - 2
    x0, y0 = (r.width - cw) // 2, (r.height - ch) // 2
    return r.crop((x0, y0, x0 + cw, y0 + ch))


@pytest.fixture(scope="module")
def original() -> Image.Image:
    return jpeg(scene(1))


@pytest.fixture(scope="module")
def sig_original(original) -> bytes:
    return verify.make_signature(original)


EDITS = {
    "resized": lambda im: jpeg(im.resize((W // 2, H // 2), Image.LANCZOS)),
    "thumbnail": lambda im: jpeg(im.resize((200, 150), Image.LANCZOS)),
    "recompressed": lambda im: jpeg(im, 30),
    "brightened": lambda im: jpeg(ImageEnhance.Brightness(im).enhance(1.3)),
    "darkened": lambda im: jpeg(ImageEnhance.Brightness(im).enhance(0.7)),
    "contrast": lambda im: jpeg(ImageEnhance.Contrast(im).enhance(1.4)),
    "grayscale": lambda im: jpeg(im.convert("L")).convert("RGB"),
    "cropped": lambda im: jpeg(im.crop((50, 40, 50 + int(W * 0.8), 40 + int(H * 0.8)))),
    "cropped60": lambda im: jpeg(im.crop((200, 150, 200 + int(W * 0.6), 150 + int(H * 0.6)))),
    "square": lambda im: jpeg(im.crop((100, 0, 100 + H, H))),
    "framed": lambda im: jpeg(ImageOps.expand(im, border=24, fill=(255, 255, 255))),
    "captioned": lambda im: jpeg(caption(im)),
    "rotated5": lambda im: jpeg(rot_crop(im, 5.0)),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_edited_copy_is_duplicate(original, sig_original, name):
    copy = EDITS[name](original)
    v = verify.compare(sig_original, verify.make_signature(copy))
    assert v.relation == "duplicate", (name, v.detail)
    assert 0.5 <= v.score <= 1.0
    # symmetric
    assert verify.compare(verify.make_signature(copy), sig_original).relation == "duplicate"


def test_transform_hints(original, sig_original):
    def hint(name):
        return verify.compare(sig_original, verify.make_signature(EDITS[name](original))).transform

    assert "resized" in hint("resized")
    assert "grayscale" in hint("grayscale")
    assert "cropped" in hint("cropped")
    assert "framed" in hint("framed")
    assert "captioned" in hint("captioned")
    assert "rotated" in hint("rotated5")


def test_identical_pixels(original, sig_original):
    v = verify.compare(sig_original, verify.make_signature(original.copy()))
    assert v.relation == "duplicate" and v.transform == "identical" and v.score > 0.99
    row = {"signature": sig_original, "sig_version": verify.SIGNATURE_VERSION}
    assert verify.verify_contents(row, dict(row), cosine=1.0).relation == "identical"


def test_burst_frame_is_similar_not_duplicate(sig_original):
    # the subject moved and the camera shifted a little: another shot of the same scene
    other = jpeg(scene(1, subject_xy=(0.45, 0.5), shift=(6, 3)))
    v = verify.compare(sig_original, verify.make_signature(other))
    assert v.relation == "similar", v.detail
    assert v.score < 0.5


def test_static_camera_burst_is_not_duplicate(sig_original):
    other = jpeg(scene(1, subject_xy=(0.4, 0.45)))  # only the subject moved
    v = verify.compare(sig_original, verify.make_signature(other))
    assert v.relation == "similar", v.detail


def test_unrelated_is_different(sig_original):
    v = verify.compare(sig_original, verify.make_signature(jpeg(scene(7))))
    assert v.relation == "different"
    flat = Image.new("RGB", (W, H), (128, 128, 128))
    assert verify.compare(sig_original, verify.make_signature(flat)).relation == "different"


def test_rotations_option(original, sig_original):
    turned = verify.make_signature(jpeg(original.transpose(Image.Transpose.ROTATE_90)))
    mirrored = verify.make_signature(jpeg(original.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    assert verify.compare(sig_original, turned).relation != "duplicate"
    assert verify.compare(sig_original, mirrored).relation != "duplicate"
    v = verify.compare(sig_original, turned, rotations=True)
    assert v.relation == "duplicate" and "rotated" in v.transform
    v = verify.compare(sig_original, mirrored, rotations=True)
    assert v.relation == "duplicate" and "mirrored" in v.transform


def test_signature_is_compact_and_versioned(original, sig_original):
    assert len(sig_original) <= 16 * 1024
    small = verify.make_signature(original.resize((40, 30)))  # tiny pictures still work
    assert verify.parse_signature(small).thumb.shape == (30, 40)
    assert verify.compare(small, small).relation == "duplicate"
    with pytest.raises(ValueError):
        verify.parse_signature(b"nonsense")
    # a stale or missing signature is never evidence of a duplicate
    row = {"signature": b"old", "sig_version": verify.SIGNATURE_VERSION - 1}
    good = {"signature": sig_original, "sig_version": verify.SIGNATURE_VERSION}
    assert verify.verify_contents(row, good, cosine=0.99).relation == "similar"
    assert verify.verify_contents({"signature": None}, good, cosine=0.2).relation == "different"


def test_signature_stats_detect_frame_and_caption(original, sig_original):
    st = verify.parse_signature(sig_original).stats
    framed = verify.parse_signature(verify.make_signature(EDITS["framed"](original))).stats
    capt = verify.parse_signature(verify.make_signature(EDITS["captioned"](original))).stats
    assert framed["frame"] > st["frame"] + 0.02
    assert capt["band"] > 0.5 > st["band"]


def test_small_crop_found_without_keypoints(original, sig_original, monkeypatch):
    """When feature matching finds nothing, a small crop is still located (template search)."""
    crop = verify.make_signature(EDITS["cropped60"](original))
    monkeypatch.setattr(verify, "_feature_transform", lambda a, b, r: None)
    v = verify.compare(sig_original, crop)
    assert v.relation == "duplicate" and "cropped" in v.transform
    # with a low embedding cosine the (costly) search is skipped
    T = dict(verify.DEFAULT_THRESHOLDS, template_cosine=0.5)
    assert verify.compare(sig_original, crop, cosine=0.3, thresholds=T).relation != "duplicate"
    # and an unrelated picture is not "found" in it
    assert verify.compare(sig_original, verify.make_signature(jpeg(scene(8)))).relation == "different"
