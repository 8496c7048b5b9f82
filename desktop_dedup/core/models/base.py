"""The Embedder: one preprocessing function (pure PIL/numpy) and a batched, L2-normalised forward."""
from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocess_image(img: Image.Image, resize: int, crop: int, mean: Sequence[float],
                     std: Sequence[float]) -> np.ndarray:
    """torchvision's Resize(resize, bilinear, antialias) + CenterCrop(crop) + ToTensor + Normalize.

    What torchvision does on a PIL image, in PIL/numpy only (thread-safe; the heavy calls release
    the GIL). Only the cropped part is resampled (PIL's `box`: same filter taps, so the same pixels up
    to a rare 1-level rounding difference) -- a full-resolution 12 MP input costs ~1/3 less than a
    resize of the whole frame. Returns float32 (3, crop, crop).
    """
    if img.mode != "RGB":
        img = img.convert("RGB")
    w, h = img.size
    if w <= h:
        nw, nh = resize, int(resize * h / w)
    else:
        nw, nh = int(resize * w / h), resize
    if nw < crop or nh < crop:  # torchvision pads with zeros; only for resize < crop, not our case
        raise ValueError("resize must be >= crop")
    top = int(round((nh - crop) / 2.0))
    left = int(round((nw - crop) / 2.0))
    if (nw, nh) != (w, h):
        sx, sy = w / nw, h / nh
        img = img.resize((crop, crop), Image.BILINEAR,
                         box=(left * sx, top * sy, (left + crop) * sx, (top + crop) * sy))
    else:
        img = img.crop((left, top, left + crop, top + crop))
    a = np.asarray(img, dtype=np.float32)  # (H, W, 3)
    scale = np.asarray(std, dtype=np.float32) * 255.0
    a = (a - np.asarray(mean, dtype=np.float32) * 255.0) / scale
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def select_device(device: Optional[str] = None) -> str:
    """Explicit device, else $DESKTOP_DEDUP_DEVICE, else CUDA -> MPS -> CPU."""
    import torch

    device = device or os.environ.get("DESKTOP_DEDUP_DEVICE") or None
    if device:
        return str(torch.device(device))
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


class Embedder:
    """A feature extractor: `preprocess` (any thread) then `embed` (one thread at a time).

    `model_id` names the embedding space (model + weights); vectors from different ids don't mix.
    """

    def __init__(self, name: str, module: Any, dim: int, device: str, *, model_id: str,
                 input_size: int = 224, resize: int = 256,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 classifier: Any = None):
        self.name = name
        self.dim = dim
        self.device = device
        self.model_id = model_id
        self.input_size = input_size
        self.resize = resize
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.module = module  # torch.nn.Module returning (N, dim) pooled features, eval mode
        self.classifier = classifier  # optional torch head (N, dim) -> logits, for checks
        self.backend = "fp32"
        self._forward: Callable[[Any], Any] = module
        self.fallback_reason = ""  # why `auto` fell back to plain fp32, if it did
        # True: make the model input from the full-resolution pixels (no JPEG draft decoding), because
        # this model's features move with the small differences of a reduced decode (see optimize)
        self.full_res_input = False
        self.draft_cosine: Optional[float] = None  # draft vs full decode, measured by optimize

    def optimize(self, precision: Optional[str] = None) -> "Embedder":
        """Choose the forward backend (see `backends.choose`; `fp32` = plain eager, the reference) and
        the decode (`backends.choose_decode`: JPEG draft decoding unless it changes the features)."""
        from desktop_dedup.core.models import backends

        self._forward, self.backend, self.fallback_reason = backends.choose(
            self.module, self.device, precision, self.input_size, self.name)
        self.full_res_input, self.draft_cosine = backends.choose_decode(self)
        return self

    def preprocess(self, img: Image.Image) -> np.ndarray:
        """RGB PIL image -> float32 (3, input_size, input_size). Thread-safe."""
        return preprocess_image(img, self.resize, self.input_size, self.mean, self.std)

    def features(self, batch: np.ndarray):
        """Un-normalised pooled features as a float32 torch tensor on the CPU (for checks)."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            return self._forward(x).float().cpu()

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 -> (N, dim) float32, rows L2-normalised."""
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        f = self.features(batch).numpy().astype(np.float32, copy=False)
        n = np.linalg.norm(f, axis=1, keepdims=True)
        return (f / np.maximum(n, 1e-12)).astype(np.float32, copy=False)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Convenience: preprocess + embed a list of PIL images."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed(np.stack([self.preprocess(im) for im in images]))

    def classify(self, images: Sequence[Image.Image], top: int = 5) -> list[list[tuple[int, float]]]:
        """Top-k (ImageNet class index, probability) per image, when the model has its classifier."""
        import torch

        if self.classifier is None:
            raise ValueError(f"{self.name} has no classifier head")
        feats = self.features(np.stack([self.preprocess(im) for im in images]))
        with torch.inference_mode():
            dev = next(self.classifier.parameters()).device
            probs = torch.softmax(self.classifier(feats.to(dev)), dim=1)
            p, i = probs.topk(top, dim=1)
        return [list(zip(ii.tolist(), pp.tolist())) for ii, pp in zip(i, p)]

    def __repr__(self) -> str:
        return (f"<Embedder {self.model_id} dim={self.dim} device={self.device} backend={self.backend}"
                f"{' full-res input' if self.full_res_input else ''}>")
