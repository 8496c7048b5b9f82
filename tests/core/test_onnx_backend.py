"""ONNX backend: exported models match the torch path (cosine >= 0.995) and run without torch."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from desktop_dedup.core import models  # noqa: E402
from desktop_dedup.core.models import onnx_backend, weights  # noqa: E402
from desktop_dedup.core.types import ModelUnavailableError  # noqa: E402
from tests.photos import scene  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Both models exported to ONNX: resnet50 from a random-init stand-in, effnet from its real weights."""
    from torchvision.models import resnet50

    src = tmp_path_factory.mktemp("pth")
    torch.manual_seed(0)
    torch.save(resnet50(weights=None).state_dict(), src / weights.RESNET50_FILES[0].filename)
    out = tmp_path_factory.mktemp("onnx")
    mp = pytest.MonkeyPatch()
    mp.setenv(weights.WEIGHTS_ENV, str(src))
    mp.setenv(weights.OFFLINE_ENV, "1")
    try:
        paths = {n: onnx_backend.export(n, out, check=True) for n in models.MODEL_NAMES}
    finally:
        mp.undo()
    return src, out, paths


def _photos():
    imgs = [scene(s, (400, 300)) for s in range(3)]
    return imgs + [imgs[0].rotate(3, expand=False).resize((380, 290))]


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_onnx_embeddings_match_torch(exported, monkeypatch, name):
    src, out, paths = exported
    assert paths[name] == out / f"{name}.onnx"
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(src))
    monkeypatch.setenv(onnx_backend.BACKEND_ENV, "torch")
    ref = models.load_embedder(name, device="cpu")
    monkeypatch.delenv(onnx_backend.BACKEND_ENV)
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(out))  # bundled dir with the .onnx: chosen automatically
    emb = models.load_embedder(name)
    assert isinstance(emb, onnx_backend.OnnxEmbedder) and emb.backend == "onnx"
    assert (emb.model_id, emb.dim, emb.resize, emb.mean) == (ref.model_id, ref.dim, ref.resize, ref.mean)
    imgs = _photos()
    a, b = ref.embed_images(imgs), emb.embed_images(imgs)
    assert b.shape == (len(imgs), models.MODEL_DIMS[name]) and b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() >= 0.995
    assert emb.embed(np.zeros((0, 3, 224, 224), np.float32)).shape == (0, models.MODEL_DIMS[name])


def test_backend_choice(exported, monkeypatch, tmp_path):
    _, out, _ = exported
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(out))
    assert onnx_backend.wanted("efficientnet-lite0") == out / "efficientnet-lite0.onnx"
    monkeypatch.setenv(onnx_backend.BACKEND_ENV, "torch")
    assert onnx_backend.wanted("efficientnet-lite0") is None
    # forced ONNX but no file -> a user-facing error naming the file
    monkeypatch.setenv(onnx_backend.BACKEND_ENV, "onnx")
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="resnet50.onnx"):
        models.load_embedder("resnet50")
    # no torch and no file -> the same error, never an ImportError
    monkeypatch.delenv(onnx_backend.BACKEND_ENV)
    monkeypatch.setattr(onnx_backend, "torch_available", lambda: False)
    with pytest.raises(ModelUnavailableError, match="efficientnet-lite0.onnx"):
        models.load_embedder("efficientnet-lite0")
    # torch available, no .onnx: the torch path, as before
    monkeypatch.setattr(onnx_backend, "torch_available", lambda: True)
    assert onnx_backend.wanted("efficientnet-lite0") is None


def test_damaged_onnx_is_a_user_error(tmp_path, monkeypatch):
    (tmp_path / "resnet50.onnx").write_bytes(b"not a model")
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        models.load_embedder("resnet50")


def test_runs_with_torch_unimportable(exported):
    """What the frozen app does: embed with the bundled .onnx while `import torch` fails."""
    _, out, _ = exported
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None; sys.modules["torchvision"] = None   # import torch -> ImportError
        from PIL import Image
        from desktop_dedup.core.models import load_embedder
        emb = load_embedder("efficientnet-lite0")
        v = emb.embed_images([Image.new("RGB", (300, 200), (200, 40, 40)), Image.new("RGB", (300, 200), "navy")])
        print(type(emb).__name__, v.shape, round(float((v[0] * v[0]).sum()), 4))
    """)
    env = dict(os.environ, **{weights.WEIGHTS_ENV: str(out)})
    env.pop(onnx_backend.BACKEND_ENV, None)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["OnnxEmbedder", "(2,", "1280)", "1.0"]
