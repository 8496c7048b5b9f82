"""Model registry, weight resolution (offline), and the embedders' behaviour."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance

from desktop_dedup.core import models
from desktop_dedup.core.models import weights
from desktop_dedup.core.types import DedupError, ModelUnavailableError

BENCH = Path(__file__).resolve().parents[3] / "shared" / "bench" / "dev" / "originals"
V2, V1 = weights.RESNET50_FILES


def synth_photo(seed: int, size=(640, 480)) -> Image.Image:
    """A photo-like image: gradients + noise + random shapes."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([(xx / w) * rng.uniform(80, 255), (yy / h) * rng.uniform(80, 255),
                     ((xx + yy) / (w + h)) * rng.uniform(80, 255)], axis=2)
    base += rng.normal(0, 8, base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.integers(0, w - 40), rng.integers(0, h - 40)
        box = (int(x0), int(y0), int(x0 + rng.integers(30, w // 2)), int(y0 + rng.integers(30, h // 2)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=color)
    return img


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No bundled dir, an empty private hub cache, downloads that fail like they do offline."""
    import torch

    monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
    monkeypatch.delenv("DESKTOP_DEDUP_DEVICE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch" / "hub"))
    calls = []

    def no_network(url, dest, progress=None, timeout=0):
        calls.append(url)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(weights, "download", no_network)
    return tmp_path / "torch" / "hub" / "checkpoints", calls


@pytest.fixture(scope="module")
def random_resnet_state(tmp_path_factory):
    import torch
    from torchvision.models import resnet50

    torch.manual_seed(0)
    p = tmp_path_factory.mktemp("rn") / "state.pth"
    torch.save(resnet50(weights=None).state_dict(), p)
    return p


def test_registry_names_and_unknown():
    assert models.MODEL_NAMES == ("resnet50", "efficientnet-lite0")
    assert models.DEFAULT_MODEL == "resnet50"
    with pytest.raises(DedupError) as ei:
        models.load_embedder("vgg16")
    assert "vgg16" in ei.value.message and "efficientnet-lite0" in ei.value.hint
    with pytest.raises(DedupError):
        models.weights_status("nope")


def test_import_does_not_load_torch():
    code = "import sys, desktop_dedup.core.models as m; m.weights_status('resnet50'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


def test_torchvision_file_names_match():
    from torchvision.models import ResNet50_Weights

    assert ResNet50_Weights.IMAGENET1K_V2.url == V2.url and V2.url.endswith(V2.filename)
    assert ResNet50_Weights.IMAGENET1K_V1.url == V1.url and V1.url.endswith(V1.filename)
    assert ResNet50_Weights.IMAGENET1K_V2.transforms().resize_size == [V2.resize]
    assert ResNet50_Weights.IMAGENET1K_V1.transforms().resize_size == [V1.resize]


def test_preprocess_matches_torchvision():
    from torchvision.models import ResNet50_Weights

    img = synth_photo(1, (517, 389))
    ours = models.preprocess_image(img, 232, 224, models.base.IMAGENET_MEAN, models.base.IMAGENET_STD)
    ref = ResNet50_Weights.IMAGENET1K_V2.transforms()(img).numpy()
    assert ours.shape == (3, 224, 224) and ours.dtype == np.float32
    d = np.abs(ours - ref)  # only the crop is resampled: a rare 1-level rounding difference at most
    assert d.max() < 0.02 and (d > 1e-4).mean() < 1e-3
    # non-RGB input is converted
    assert models.preprocess_image(img.convert("L"), 232, 224, (0.5,) * 3, (0.5,) * 3).shape == (3, 224, 224)


def test_missing_weights_offline_raises_helpful_error(clean_env):
    target, calls = clean_env
    st = models.weights_status("resnet50")
    assert st["available"] is False and st["path"] is None and st["filename"] == V2.filename
    assert Path(st["target_dir"]) == target
    t = time.monotonic()
    with pytest.raises(ModelUnavailableError) as ei:
        models.load_embedder("resnet50", "cpu")
    assert time.monotonic() - t < 5
    assert calls == [V2.url]
    text = str(ei.value)
    assert V2.filename in text and str(target) in text and V2.url in text
    assert "--model efficientnet-lite0" in ei.value.hint


def test_real_download_fails_fast_without_network(monkeypatch, tmp_path):
    monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)

    def fail(*a, **k):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    t = time.monotonic()
    with pytest.raises(urllib.error.URLError):
        weights.download(V2.url, tmp_path / V2.filename)
    assert time.monotonic() - t < 5 and not list(tmp_path.iterdir())
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")  # offline switch: refused before any network call
    with pytest.raises(urllib.error.URLError, match=weights.OFFLINE_ENV):
        weights.download(V2.url, tmp_path / V2.filename)


def test_download_writes_file_and_reports_progress(monkeypatch, tmp_path):
    import hashlib
    import io

    monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)
    payload = b"x" * 3_000_000
    name = f"resnet50-{hashlib.sha256(payload).hexdigest()[:8]}.pth"

    class Resp(io.BytesIO):
        headers = {"Content-Length": str(len(payload))}

    monkeypatch.setattr(weights, "_resolve_host", lambda host, timeout: None)
    monkeypatch.setattr(weights.urllib.request, "urlopen", lambda url, timeout: Resp(payload))
    seen = []
    out = weights.download("https://example.invalid/" + name, tmp_path / name, lambda d, t: seen.append((d, t)))
    assert out.read_bytes() == payload and seen[-1] == (len(payload), len(payload)) and len(seen) >= 3
    # a corrupt download is refused and leaves nothing behind
    bad = tmp_path / "sub" / "resnet50-00000000.pth"
    with pytest.raises(ValueError):
        weights.download("https://example.invalid/x", bad)
    assert not bad.exists() and not list(bad.parent.iterdir())


def test_resnet50_from_hub_cache(clean_env, random_resnet_state):
    import shutil

    target, calls = clean_env
    target.mkdir(parents=True)
    shutil.copy(random_resnet_state, target / V2.filename)
    assert models.weights_status("resnet50")["available"] is True
    e = models.load_embedder("resnet50", "cpu", precision="fp32")
    assert calls == [] and e.dim == 2048 and e.input_size == 224 and e.device == "cpu"
    assert e.model_id == "resnet50:IMAGENET1K_V2" and e.resize == 232
    v = e.embed_images([synth_photo(2), synth_photo(3, (300, 500))])
    assert v.shape == (2, 2048) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)


def test_bundled_dir_wins_over_hub_cache(clean_env, monkeypatch, tmp_path, random_resnet_state):
    import shutil

    target, _ = clean_env
    target.mkdir(parents=True)
    (target / V2.filename).write_bytes(b"not a checkpoint")
    bundled = tmp_path / "bundle"
    bundled.mkdir()
    shutil.copy(random_resnet_state, bundled / V1.filename)  # V1's file name is accepted too
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(bundled))
    assert models.weights_status("resnet50")["path"] == str(bundled / V1.filename)
    e = models.load_embedder("resnet50", "cpu", precision="fp32")
    assert e.model_id == "resnet50:IMAGENET1K_V1" and e.resize == 256
    # frozen app: <_MEIPASS>/weights is the bundled dir
    monkeypatch.delenv(weights.WEIGHTS_ENV)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    (tmp_path / "weights").mkdir()
    shutil.copy(random_resnet_state, tmp_path / "weights" / V2.filename)
    assert models.weights_status("resnet50")["path"] == str(tmp_path / "weights" / V2.filename)


def test_corrupt_weights_file_is_a_user_error(clean_env):
    target, _ = clean_env
    target.mkdir(parents=True)
    (target / V2.filename).write_bytes(b"garbage")
    with pytest.raises(ModelUnavailableError) as ei:
        models.load_embedder("resnet50", "cpu")
    assert V2.filename in ei.value.message


@pytest.fixture(scope="module")
def lite0():
    return models.load_embedder("efficientnet-lite0", "cpu")


def test_effnet_lite0_loads_strict_and_embeds(lite0):
    assert lite0.dim == 1280 and lite0.input_size == 224 and lite0.mean == (0.498,) * 3
    assert models.weights_status("efficientnet-lite0")["available"] is True
    a = synth_photo(10, (800, 600))
    copy = ImageEnhance.Brightness(a.resize((400, 300), Image.LANCZOS)).enhance(1.3)
    other = synth_photo(11, (800, 600))
    v = lite0.embed_images([a, copy, other])
    assert v.shape == (3, 1280) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.05
    assert lite0.embed(np.zeros((0, 3, 224, 224), np.float32)).shape == (0, 1280)


def test_effnet_lite0_same_padding_for_stride2():
    import torch

    from desktop_dedup.core.models.efficientnet_lite0 import SameConv2d

    conv = SameConv2d(1, 1, 3, 2)
    torch.nn.init.ones_(conv.weight)
    x = torch.ones(1, 1, 4, 4)
    y = conv(x)  # TF SAME: output 2x2, pad 0 left/top and 1 right/bottom
    assert y.shape[-2:] == (2, 2) and y[0, 0, 0, 0] == 9 and y[0, 0, 1, 1] == 4


@pytest.mark.skipif(not (BENCH / "kodak24__kodim23.jpg").exists(), reason="../shared bench photos absent")
def test_effnet_lite0_classifies_real_photos(lite0):
    # ImageNet 88 = macaw (kodim23: two parrots)
    with Image.open(BENCH / "kodak24__kodim23.jpg") as im:
        top = lite0.classify([im.convert("RGB")])[0]
    assert top[0][0] == 88 and top[0][1] > 0.5


# ----------------------------------------------------------------------------- backends
def test_precision_resolution(monkeypatch):
    from desktop_dedup.core.models import backends

    monkeypatch.delenv(backends.PRECISION_ENV, raising=False)
    fast = backends.cpu_has_fast_bf16()
    assert backends.resolve_precision(None, "cpu") == ("bf16-conv" if fast else "ort-fp32")
    assert backends.resolve_precision(None, "cpu", "resnet50") == ("bf16" if fast else "ort-fp32")
    assert backends.resolve_precision("auto", "cuda") == "fp32"
    assert backends.candidates("bf16-conv", "cpu") == ["bf16-conv", "ort-fp32", "fp32-jit"]
    assert backends.candidates("ort-fp32", "cpu") == ["ort-fp32", "fp32-jit"]
    assert backends.candidates("fp32-jit", "cpu") == ["fp32-jit"]  # asked for by name: that one
    monkeypatch.setenv(backends.PRECISION_ENV, "fp32")
    assert backends.resolve_precision(None, "cpu") == "fp32"
    assert backends.resolve_precision("bf16", "cpu") == "bf16"  # the parameter wins over the env
    with pytest.raises(DedupError):
        backends.resolve_precision("int3", "cpu")


def test_auto_backend_is_faithful_to_fp32(lite0, monkeypatch):
    from desktop_dedup.core.models import backends

    monkeypatch.delenv(backends.PRECISION_ENV, raising=False)
    ref = models.load_embedder("efficientnet-lite0", "cpu", precision="fp32")
    assert ref.backend == "fp32" and lite0.fallback_reason == ""
    assert lite0.backend == backends.resolve_precision(None, "cpu", "efficientnet-lite0")
    imgs = [synth_photo(i, (400, 300)) for i in range(20, 25)]
    a, b = ref.embed_images(imgs), lite0.embed_images(imgs)
    assert ((a * b).sum(axis=1) > 0.999).all()
    assert np.allclose(lite0.embed_images(imgs[:1]), b[:1], atol=1e-3)  # other batch size, same result
    # the bf16 switch is scoped to the embedder's calls: the reference still computes in fp32
    assert np.allclose(ref.embed_images(imgs), a, atol=1e-5)


def test_cpu_threads(monkeypatch):
    import torch

    monkeypatch.setenv("DESKTOP_DEDUP_THREADS", "1")
    assert models.default_cpu_threads() == 1 and models.set_cpu_threads() == 1
    assert torch.get_num_threads() == 1
    monkeypatch.delenv("DESKTOP_DEDUP_THREADS")
    assert models.default_cpu_threads() == max(1, (__import__("os").cpu_count() or 1) // 2)


def test_backend_falls_back(monkeypatch):
    import torch

    from desktop_dedup.core.models import backends

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                 torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    real_build = backends.build

    def broken(m, device, precision, size):
        if precision == "bf16-conv":
            raise RuntimeError("no oneDNN bf16 here")
        if precision == "ort-fp32":
            raise ImportError("no onnxruntime here")
        return real_build(m, device, precision, size)

    monkeypatch.setattr(backends, "build", broken)
    fwd, name, why = backends.choose(module, "cpu", "bf16-conv", 224)
    assert name == "fp32-jit" and "no oneDNN bf16" in why and "no onnxruntime" in why
    monkeypatch.setattr(backends, "build", lambda m, *a: (lambda x: torch.randn(len(x), 8)))
    fwd, name, why = backends.choose(module, "cpu", "fp32-jit", 224)
    assert fwd is module and name == "fp32" and "cosine" in why
