"""Model registry: `load_embedder(name)` -> Embedder. Importing this package does not import torch."""
from __future__ import annotations

from typing import Optional

from desktop_dedup.core.models.base import Embedder, preprocess_image, select_device
from desktop_dedup.core.models.weights import ProgressFn, weights_status
from desktop_dedup.core.types import DedupError

MODEL_NAMES = ("resnet50", "efficientnet-lite0")
DEFAULT_MODEL = "resnet50"
MODEL_DIMS = {"resnet50": 2048, "efficientnet-lite0": 1280}


def unknown_model_error(name: str) -> DedupError:
    return DedupError(f"Unknown model {name!r}.", f"Choose one of: {', '.join(MODEL_NAMES)}.")


def load_embedder(name: str = DEFAULT_MODEL, device: Optional[str] = None, *,
                  progress: Optional[ProgressFn] = None, precision: Optional[str] = None,
                  threads: Optional[int] = None) -> Embedder:
    """Build a ready (eval mode, on `device`) embedder.

    device: None = auto (CUDA -> MPS -> CPU, or $DESKTOP_DEDUP_DEVICE).
    progress(done_bytes, total_bytes): called while ResNet-50 weights download (first use only).
    precision: None/"auto" = fastest faithful backend, each candidate checked against eager fp32 at
    load (CPU with AMX/AVX512-BF16: bf16 -> bf16-mixed -> bf16-conv -> ort-fp32 -> fp32-jit; other
    CPUs: ort-fp32 -> fp32-jit; eager fp32 last); "fp32" = plain eager; a named mode is used if it works.
    Also $DESKTOP_DEDUP_PRECISION. The load also decides whether JPEGs may be draft-decoded for this
    model (Embedder.full_res_input; $DESKTOP_DEDUP_DECODE=draft|full). See models/backends.py.
    threads: torch CPU threads (process-wide); None = $DESKTOP_DEDUP_THREADS, else half the cores
    (the other half decodes: oversubscribed OpenMP threads are several times slower, see set_cpu_threads).
    Raises DedupError for an unknown name, ModelUnavailableError when weights can't be had.
    """
    if name not in MODEL_NAMES:
        raise unknown_model_error(name)
    from desktop_dedup.core.models import onnx_backend

    onnx_path = onnx_backend.wanted(name)  # bundled <weights>/<name>.onnx, or no torch: run with onnxruntime
    if onnx_path is not None:
        return onnx_backend.load(onnx_path)
    from desktop_dedup.core.models import weights

    if name == "resnet50":
        path, wf = weights.resolve_resnet50(progress)
        from desktop_dedup.core.models import resnet50 as arch

        module, head = _load(lambda: arch.build(str(path)), path)
        dev = select_device(device)
        set_cpu_threads(threads)
        return Embedder(name, module.to(dev), arch.FEATURE_DIM, dev, model_id=f"resnet50:{wf.tag}",
                        resize=wf.resize, classifier=head).optimize(precision)
    path = weights.resolve_effnet_lite0()
    from desktop_dedup.core.models import efficientnet_lite0 as arch

    model = _load(lambda: arch.build(str(path)), path)
    dev = select_device(device)
    set_cpu_threads(threads)
    return Embedder(name, model.to(dev), arch.FEATURE_DIM, dev,
                    model_id=f"efficientnet-lite0:{weights.EFFNET_LITE0_FILE.tag}",
                    resize=weights.EFFNET_LITE0_FILE.resize, mean=arch.MEAN, std=arch.STD,
                    classifier=model._fc).optimize(precision)


def default_cpu_threads() -> int:
    """Torch threads when decoding runs beside inference: half the cores (at least 1)."""
    import os

    env = os.environ.get("DESKTOP_DEDUP_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, (os.cpu_count() or 1) // 2)


def set_cpu_threads(threads: Optional[int] = None) -> int:
    """Set torch's intra-op threads (process-wide). Measured on 2 shared cores: ResNet-50 with 2
    OpenMP threads next to decode threads ran 5-20x slower than with 1 (threads stall at barriers
    when a core is busy), so inference gets half the cores and decode workers the rest."""
    import torch

    n = threads or default_cpu_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _load(build, path):
    """Run a builder; a corrupt/incompatible weights file becomes a ModelUnavailableError."""
    from desktop_dedup.core.types import ModelUnavailableError

    try:
        return build()
    except Exception as e:  # noqa: BLE001 - any load failure is a bad file: tell the user
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelUnavailableError(
            f"The model file {path} could not be loaded ({first[:200]}).",
            "Delete it so it is fetched again, or use --model efficientnet-lite0.",
        ) from None


__all__ = ["MODEL_NAMES", "DEFAULT_MODEL", "MODEL_DIMS", "Embedder", "load_embedder", "weights_status",
           "preprocess_image", "select_device", "unknown_model_error", "set_cpu_threads",
           "default_cpu_threads"]
