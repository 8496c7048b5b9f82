"""ONNX Runtime embedders: the installed app computes embeddings without torch.

Build time (needs torch): `export(name, out_dir)` traces the torch feature model that `load_embedder`
builds (fp32, eager) to `<out_dir>/<name>.onnx`, recording model_id, dim and preprocessing in the
file's metadata, so the ONNX embedder lands in the same embedding space as the torch one.

Run time (numpy + onnxruntime only): `load_embedder` in the registry calls `wanted(name)`; when it
returns a path it builds an `OnnxEmbedder` from it. Used when:
  $DESKTOP_DEDUP_BACKEND=onnx (or torch: never), else
  `<bundled weights dir>/<name>.onnx` exists (the frozen app: <_MEIPASS>/weights), else
  torch is not importable (then a missing .onnx is a ModelUnavailableError).
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Optional

import numpy as np

from desktop_dedup.core.models.base import Embedder
from desktop_dedup.core.types import ModelUnavailableError

BACKEND_ENV = "DESKTOP_DEDUP_BACKEND"  # "onnx" | "torch" | unset (auto)
META_KEY = "desktop_dedup"
OPSET = 17


def onnx_filename(name: str) -> str:
    return f"{name}.onnx"


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def find_onnx(name: str) -> Optional[Path]:
    """`<bundled weights dir>/<name>.onnx` if it exists."""
    from desktop_dedup.core.models.weights import bundled_weights_dir

    d = bundled_weights_dir()
    if d is None:
        return None
    p = d / onnx_filename(name)
    return p if p.is_file() and p.stat().st_size > 0 else None


def wanted(name: str) -> Optional[Path]:
    """The .onnx file to use for `name`, or None for the torch path (see module docs)."""
    choice = os.environ.get(BACKEND_ENV, "").strip().lower()
    if choice == "torch":
        return None
    path = find_onnx(name)
    if path is not None:
        return path
    if choice == "onnx" or not torch_available():
        from desktop_dedup.core.models.weights import WEIGHTS_ENV, bundled_weights_dir

        where = bundled_weights_dir()
        raise ModelUnavailableError(
            f"The model file {onnx_filename(name)} is missing"
            + (f" from {where}." if where else " (no bundled model folder)."),
            f"Reinstall desktop-dedup, or put {onnx_filename(name)} in the folder named by {WEIGHTS_ENV}.")
    return None


class OnnxEmbedder(Embedder):
    """An Embedder whose forward is an onnxruntime session (CPU). Same preprocessing and API."""

    def __init__(self, path: Path, *, threads: Optional[int] = None):
        try:
            import onnxruntime as ort
        except ImportError:  # pragma: no cover - packaged app always has it
            raise ModelUnavailableError("The ONNX runtime (onnxruntime) is not installed.",
                                        "Reinstall desktop-dedup.") from None
        try:
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if threads:
                opts.intra_op_num_threads = threads
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            meta = json.loads(sess.get_modelmeta().custom_metadata_map[META_KEY])
        except Exception as e:  # noqa: BLE001 - a damaged file: tell the user what to do
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ModelUnavailableError(f"The model file {path} could not be loaded ({first[:200]}).",
                                        "Reinstall desktop-dedup.") from None
        super().__init__(meta["name"], None, int(meta["dim"]), "cpu", model_id=meta["model_id"],
                         input_size=int(meta["input_size"]), resize=int(meta["resize"]),
                         mean=meta["mean"], std=meta["std"])
        self.path = Path(path)
        self.backend = "onnx"
        self._session = sess
        self._input = sess.get_inputs()[0].name

    def optimize(self, precision: Optional[str] = None) -> "OnnxEmbedder":
        return self  # onnxruntime already optimised the graph

    def features(self, batch: np.ndarray) -> np.ndarray:  # type: ignore[override]
        """Un-normalised pooled features, float32 numpy (N, dim)."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        return np.asarray(self._session.run(None, {self._input: x})[0], dtype=np.float32)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        f = self.features(batch)
        n = np.linalg.norm(f, axis=1, keepdims=True)
        return (f / np.maximum(n, 1e-12)).astype(np.float32, copy=False)

    def classify(self, images, top: int = 5):
        raise ValueError(f"{self.name} (ONNX) has no classifier head")

    def __repr__(self) -> str:
        return f"<OnnxEmbedder {self.model_id} dim={self.dim} file={self.path.name}>"


def load(path: Path) -> OnnxEmbedder:
    threads = os.environ.get("DESKTOP_DEDUP_THREADS")
    return OnnxEmbedder(path, threads=int(threads) if threads and threads.isdigit() else None)


def export(name: str, out_dir: os.PathLike | str, *, check: bool = True) -> Path:
    """Export the torch embedder `name` (weights resolved as `load_embedder` does) to `<out_dir>/<name>.onnx`.

    Needs torch + onnx. With check=True, verifies onnxruntime vs torch features (cosine >= 0.995).
    Returns the written path.
    """
    import torch

    from desktop_dedup.core import models

    prev = os.environ.get(BACKEND_ENV)
    os.environ[BACKEND_ENV] = "torch"
    try:
        try:
            emb = models.load_embedder(name, device="cpu", precision="fp32")
        except TypeError:  # registry without the precision switch: plain eager already
            emb = models.load_embedder(name, device="cpu")
    finally:
        if prev is None:
            os.environ.pop(BACKEND_ENV, None)
        else:
            os.environ[BACKEND_ENV] = prev
    out = Path(out_dir) / onnx_filename(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    x = torch.zeros(2, 3, emb.input_size, emb.input_size)
    kwargs = dict(input_names=["image"], output_names=["features"], opset_version=OPSET,
                  dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}}, do_constant_folding=True)
    import warnings

    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: input size is fixed (224), the trace is exact
        try:
            torch.onnx.export(emb.module.eval(), (x,), str(tmp), dynamo=False, **kwargs)
        except TypeError:  # older torch without the dynamo switch
            torch.onnx.export(emb.module.eval(), (x,), str(tmp), **kwargs)
    import onnx

    model = onnx.load(str(tmp))
    meta = {"name": emb.name, "model_id": emb.model_id, "dim": emb.dim, "input_size": emb.input_size,
            "resize": emb.resize, "mean": list(emb.mean), "std": list(emb.std)}
    del model.metadata_props[:]
    p = model.metadata_props.add()
    p.key, p.value = META_KEY, json.dumps(meta)
    onnx.save(model, str(tmp))
    os.replace(tmp, out)
    if check:
        cos = compare(emb, load(out))
        if not cos >= 0.995:
            out.unlink()
            raise RuntimeError(f"{name}: ONNX features differ from torch (min cosine {cos:.5f})")
    return out


def compare(torch_emb: Embedder, onnx_emb: Embedder, n: int = 4) -> float:
    """Min cosine between the two embedders' vectors on a smooth, photo-like random batch."""
    rng = np.random.default_rng(7)
    s = torch_emb.input_size
    low = rng.normal(size=(n, 3, 8, 8)).astype(np.float32)
    x = np.kron(low, np.ones((1, 1, s // 8 + 1, s // 8 + 1), np.float32))[:, :, :s, :s]
    x = x + 0.3 * rng.normal(size=x.shape).astype(np.float32)
    a, b = torch_emb.embed(x), onnx_emb.embed(x)
    return float((a * b).sum(axis=1).min())


__all__ = ["BACKEND_ENV", "OnnxEmbedder", "wanted", "find_onnx", "load", "export", "compare", "torch_available"]
