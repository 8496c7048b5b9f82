"""Faithful fast paths: bf16-mixed backend, full-resolution model input when draft decoding moves features."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from desktop_dedup.core import decode as decode_mod
from desktop_dedup.core.embed import embed_stream, prepare_input
from desktop_dedup.core.models import backends
from desktop_dedup.core.models.base import IMAGENET_MEAN, IMAGENET_STD, Embedder, preprocess_image


def _pre(im):
    return preprocess_image(im, 232, 224, IMAGENET_MEAN, IMAGENET_STD)


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory):
    p = tmp_path_factory.mktemp("fid") / "big.jpg"
    backends.photo_like(2200, 1650, 3).save(p, "JPEG", quality=90)  # draft mode decodes this at 1/2
    return str(p)


def test_model_input_request_gives_full_resolution_input(big_jpeg):
    plain = decode_mod.decode(big_jpeg)
    assert plain.model_input is None
    with decode_mod.model_input(_pre):
        full = decode_mod.decode(big_jpeg)
    with Image.open(big_jpeg) as im:
        want = _pre(im.convert("RGB"))  # the naive path: full decode + torchvision-style transform
    assert full.model_input.shape == (3, 224, 224)
    assert np.abs(full.model_input - want).max() < 0.02  # at most a rare 1-level rounding difference
    assert (np.abs(full.model_input - want) > 1e-4).mean() < 1e-3
    draft_in = _pre(plain.image)
    assert np.abs(draft_in - want).mean() > 10 * np.abs(full.model_input - want).mean()
    # the working image is what draft mode gives (same size, near-identical pixels), same facts
    assert full.image.size == plain.image.size == (1100, 825)
    diff = np.abs(np.asarray(full.image, np.int16) - np.asarray(plain.image, np.int16)).mean()
    assert diff < 3
    assert (full.width, full.height, full.pixel_hash) == (plain.width, plain.height, plain.pixel_hash)
    assert decode_mod.decode(big_jpeg).model_input is None  # the request ended with the block


def test_model_input_not_made_for_huge_frames(big_jpeg, monkeypatch):
    monkeypatch.setattr(decode_mod, "FULL_INPUT_MAX_PIXELS", 1_000_000)
    with decode_mod.model_input(_pre):
        d = decode_mod.decode(big_jpeg)
    assert d.model_input is None and d.image.size == (1100, 825)  # draft-decoded as without a request


def test_model_input_applies_exif_orientation(tmp_path):
    img = backends.photo_like(600, 400, 5)
    exif = Image.Exif()
    exif[decode_mod.EXIF_ORIENTATION] = 6
    p = tmp_path / "rot.jpg"
    img.save(p, "JPEG", quality=95, exif=exif.tobytes())
    with decode_mod.model_input(lambda im: im.size):
        d = decode_mod.decode(str(p))
    assert d.model_input == (400, 600) == d.image.size


def test_preprocess_box_resize_matches_full_resize():
    img = backends.photo_like(1000, 750, 1)
    ours = _pre(img)
    nw, nh = 309, 232
    ref = img.resize((nw, nh), Image.BILINEAR).crop((42, 4, 266, 228))
    ref = (np.asarray(ref, np.float32) - np.asarray(IMAGENET_MEAN, np.float32) * 255) / (
        np.asarray(IMAGENET_STD, np.float32) * 255)
    d = np.abs(ours - ref.transpose(2, 0, 1))
    assert d.max() < 0.02 and (d > 1e-4).mean() < 1e-3


class _Fake:
    """Embedder-like: records which input it got."""

    def __init__(self, full):
        self.full_res_input = full

    def preprocess(self, img):
        return np.full((3, 2, 2), float(min(img.size)), np.float32)


def test_prepare_input_asks_decode_for_full_resolution(big_jpeg):
    for full, expect in ((True, 1650.0), (False, 825.0)):
        emb = _Fake(full)
        prepared, arr = prepare_input(emb, decode_mod.decode, big_jpeg)
        assert arr[0, 0, 0] == expect and prepared.image.size == (1100, 825)
    # a prepare that doesn't go through core.decode still works (preprocess of its image)
    _, arr = prepare_input(_Fake(True), lambda j: Image.new("RGB", (30, 20)), 0)
    assert arr[0, 0, 0] == 20.0


def test_embed_stream_uses_full_resolution_input(big_jpeg):
    class E(_Fake):
        dim = 2

        def embed(self, batch):
            v = np.stack([batch[:, 0, 0, 0], np.ones(len(batch))], 1).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    out = list(embed_stream(E(True), [big_jpeg] * 3, decode_mod.decode, batch_size=2, workers=2))
    assert all(r.error is None and r.prepared.model_input is not None for r in out)


def test_choose_decode(monkeypatch):
    import torch

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    emb = Embedder("toy", module, 4, "cpu", model_id="toy:1")
    monkeypatch.delenv(backends.DECODE_ENV, raising=False)
    backends._draft_cache.clear()
    monkeypatch.setattr(backends, "draft_decode_cosine", lambda e: 0.990)
    assert backends.choose_decode(emb) == (True, 0.990)
    backends._draft_cache.clear()
    monkeypatch.setattr(backends, "draft_decode_cosine", lambda e: 0.9995)
    assert backends.choose_decode(emb) == (False, 0.9995)
    monkeypatch.setenv(backends.DECODE_ENV, "full")
    assert backends.choose_decode(emb) == (True, None)
    monkeypatch.setenv(backends.DECODE_ENV, "draft")
    assert backends.choose_decode(emb) == (False, None)
    monkeypatch.delenv(backends.DECODE_ENV)

    def broken(e):
        raise RuntimeError("x")

    backends._draft_cache.clear()
    monkeypatch.setattr(backends, "draft_decode_cosine", broken)
    assert backends.choose_decode(emb) == (False, None)  # a failed check keeps draft decoding
    backends._draft_cache.clear()


def test_draft_decode_cosine_measures_something():
    import torch

    torch.manual_seed(0)
    # a toy that only sees fine detail (a Laplacian) vs one that sees averages: the former moves more
    lap = torch.nn.Conv2d(3, 3, 3, padding=1, bias=False, groups=3)
    lap.weight.data[:] = torch.tensor([[0., -1, 0], [-1, 4, -1], [0, -1, 0]])
    fine = torch.nn.Sequential(lap, torch.nn.Flatten(), torch.nn.Linear(3 * 56 * 56, 64))
    coarse = torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten(), torch.nn.Linear(3 * 7 * 7, 64))
    cos = {}
    for name, m in (("fine", fine), ("coarse", coarse)):
        e = Embedder(name, m.eval(), 64, "cpu", model_id=name, input_size=56, resize=64)
        cos[name] = backends.draft_decode_cosine(e, n=1, size=(2048, 1536))
    assert 0 < cos["fine"] < cos["coarse"] <= 1.0 + 1e-6 and cos["coarse"] > 0.99


def test_bf16_mixed_backend():
    import torch
    from torchvision.models.resnet import BasicBlock, ResNet

    torch.manual_seed(0)
    m = ResNet(BasicBlock, [1, 1, 1, 1])  # a small torchvision ResNet: same structure as ResNet-50's
    m.fc = torch.nn.Identity()
    m.eval()
    x = backends.check_batch(64, 2)
    if not backends.cpu_has_fast_bf16():
        with pytest.raises(ValueError):
            backends.build(m, "cpu", "bf16-mixed", 64)
        return
    fwd = backends.build(m, "cpu", "bf16-mixed", 64)
    with torch.inference_mode():
        ref, got = m(x), fwd(x).float()
    assert got.shape == ref.shape
    assert torch.nn.functional.cosine_similarity(ref, got).min() > 0.99
    with pytest.raises(ValueError):
        backends.resnet_split(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)))
    assert backends.candidates("bf16", "cpu") == ["bf16", "bf16-mixed", "bf16-conv", "ort-fp32", "fp32-jit"]


def _toy():
    import torch

    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()


def test_ort_fp32_backend_exports_once_and_matches(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    import torch

    monkeypatch.setenv(backends.ONNX_CACHE_ENV, str(tmp_path / "onnx"))
    m = _toy()
    x = backends.check_batch(32, 3)
    fwd = backends.build(m, "cpu", "ort-fp32", 32)
    with torch.inference_mode():
        ref, got = m(x), fwd(x)
    assert torch.allclose(ref, got, atol=1e-4)
    files = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(files) == 1 and not list((tmp_path / "onnx").glob("*.partial"))
    # the second build reuses the cached graph; other weights get their own file
    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-export")))
    backends.build(m, "cpu", "ort-fp32", 32)
    with pytest.raises(AssertionError):
        m2 = _toy()
        m2[0].weight.data += 1
        backends.build(m2, "cpu", "ort-fp32", 32)
    # chosen by `choose` when the candidates before it are unavailable
    monkeypatch.undo()
    monkeypatch.setenv(backends.ONNX_CACHE_ENV, str(tmp_path / "onnx"))
    fwd, name, why = backends.choose(m, "cpu", "ort-fp32", 32)
    assert name == "ort-fp32" and why == ""


def test_ort_cache_is_pruned(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv(backends.ONNX_CACHE_ENV, str(tmp_path))
    for i in range(5):
        m = _toy()
        m[0].bias.data += i
        backends.export_onnx(m, 32)
    assert len(list(tmp_path.glob("*.onnx"))) == backends.ONNX_CACHE_KEEP
