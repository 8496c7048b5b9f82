"""Forward backends for an Embedder, picked by device and CPU capability, each checked against fp32.

precision (parameter, else $DESKTOP_DEDUP_PRECISION, else "auto"):
  fp32      plain eager fp32 (the reference; the safe fallback)
  fp32-jit  CPU: channels-last + TorchScript trace + freeze (oneDNN; conv+BN folded in fp32), fp32
  bf16-conv CPU with AMX-BF16 / AVX512-BF16: fp32-jit, but oneDNN convolutions read inputs and
            weights rounded to bfloat16 (fp32 accumulation, fp32 outputs and residual adds).
  bf16      CPU with AMX-BF16 / AVX512-BF16: the fp32-jit graph (BN already folded in fp32) run under
            bfloat16 autocast (activations stored in bf16). Fastest.
  bf16-mixed  ResNet on such a CPU: the stem and the first stage as an fp32-jit graph, the rest as a
            bf16 graph (the input's and the early activations' rounding is what bf16 loses most by;
            1.3x the time of bf16, ~2x faster than fp32-jit).
  ort-fp32  CPU: the module exported once to ONNX (cached in the user cache dir, keyed by a hash of
            the weights) and run by onnxruntime in fp32 (1.4x faster than fp32-jit for ResNet-50 here);
            unavailable without onnxruntime + onnx. Tried before fp32-jit.
  fp16      CUDA: channels-last + float16 autocast (opt-in; not verified on a GPU yet)
  auto      CPU with fast bf16: bf16 for resnet50, bf16-conv for efficientnet-lite0 (see below);
            other CPUs: fp32-jit; other devices: fp32
Cosine to eager fp32 measured on real photos (bench originals, min over 48): EfficientNet-Lite0
bf16 0.9961 (mean 0.9990), bf16-conv 0.9997; ResNet-50 (random weights, BN statistics set on real
photos) bf16 >= 0.9997; the `bench speed` stand-in (random weights, BN statistics set on synthetic 12 MP
photos; far more sensitive: distinct photos at cosine 0.956) bf16 0.9959, bf16-mixed 0.9994. Lite0's depthwise layers are too close to the 0.995 bar in bf16, hence
bf16-conv for it. (Tracing under autocast instead folds BN in bf16: Lite0 cosine 0.987 -- avoided.)
Each candidate is built and checked (features cosine >= MIN_COSINE to eager fp32 on photo-like check
images; >= MIN_COSINE_EXPLICIT for a mode asked for by name); the first that passes is used, else
eager fp32, with the reason in Embedder.fallback_reason.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any, Callable, Optional

PRECISION_ENV = "DESKTOP_DEDUP_PRECISION"
PRECISIONS = ("auto", "fp32", "fp32-jit", "ort-fp32", "bf16-conv", "bf16-mixed", "bf16", "fp16")
MIN_COSINE = 0.998  # auto: on the check batch, a margin above the 0.995 target
MIN_COSINE_EXPLICIT = 0.99  # a mode asked for by name: only guard against a broken backend


def cpu_has_fast_bf16() -> bool:
    try:
        import torch

        caps = torch.cpu.get_capabilities()
        return bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))
    except Exception:  # noqa: BLE001 - older torch: be conservative
        return False


AUTO_BF16 = {"resnet50": "bf16", "efficientnet-lite0": "bf16-conv"}


def resolve_precision(precision: Optional[str], device: str, model: str = "") -> str:
    """The requested mode, `auto` resolved for this device/CPU/model (DedupError for an unknown name)."""
    p = (precision or os.environ.get(PRECISION_ENV) or "auto").strip().lower()
    if p not in PRECISIONS:
        from desktop_dedup.core.types import DedupError

        raise DedupError(f"Unknown precision {p!r}.", f"Choose one of: {', '.join(PRECISIONS)}.")
    if p != "auto":
        return p
    if device.startswith("cpu"):
        return AUTO_BF16.get(model, "bf16-conv") if cpu_has_fast_bf16() else "ort-fp32"
    return "fp32"


def candidates(mode: str, device: str) -> list[str]:
    """The mode and its faithful fallbacks, best first (eager fp32 is always the last resort)."""
    chain = {"bf16-conv": ["bf16-conv", "ort-fp32", "fp32-jit"],
             "ort-fp32": ["ort-fp32", "fp32-jit"],
             "bf16-mixed": ["bf16-mixed", "bf16-conv", "ort-fp32", "fp32-jit"],
             "bf16": ["bf16", "bf16-mixed", "bf16-conv", "ort-fp32", "fp32-jit"]}.get(mode, [mode])
    if not device.startswith("cpu"):
        cpu_only = ("fp32-jit", "ort-fp32", "bf16-conv", "bf16-mixed", "bf16")
        chain = [c for c in chain if c not in cpu_only] or [mode]
    return [c for c in chain if c != "fp32"]


def check_batch(input_size: int, n: int = 4, device: str = "cpu"):
    """Deterministic photo-like images (gradient, shapes, texture), ImageNet-normalised, (n,3,S,S)."""
    import numpy as np
    import torch
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(1234)
    s = input_size
    out = []
    for _ in range(n):
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
        c0, c1, c2 = rng.uniform(0, 255, (3, 3)).astype(np.float32)
        base = c0 + xx[..., None] * (c1 - c0) + yy[..., None] * (c2 - c0) * 0.6
        img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
        d = ImageDraw.Draw(img)
        for _ in range(8):
            x0, y0 = (int(v) for v in rng.integers(0, s - 16, 2))
            x1, y1 = x0 + int(rng.integers(12, s // 2)), y0 + int(rng.integers(12, s // 2))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            (d.ellipse if rng.random() < 0.5 else d.rectangle)((x0, y0, x1, y1), fill=fill)
        a = np.asarray(img.filter(ImageFilter.GaussianBlur(1.0)), np.float32)
        a = a + rng.normal(0, 6, a.shape).astype(np.float32)
        out.append(((np.clip(a, 0, 255) / 255.0 - 0.45) / 0.226).transpose(2, 0, 1))
    return torch.from_numpy(np.ascontiguousarray(np.stack(out), dtype=np.float32)).to(device)


@contextlib.contextmanager
def conv_math(mode: str):
    """oneDNN fp32 convolutions with bf16 inputs/weights (fp32 accumulate) inside the block."""
    import torch

    conv = torch.backends.mkldnn.conv
    prev = conv.fp32_precision
    conv.fp32_precision = mode
    try:
        yield
    finally:
        conv.fp32_precision = prev


def _frozen(module: Any, example: Any) -> Any:
    """channels-last copy of `module`, traced in fp32 (BN folds in fp32) and frozen (oneDNN)."""
    import copy

    import torch

    module = copy.deepcopy(module).to(memory_format=torch.channels_last)  # the reference stays as is
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        return torch.jit.freeze(torch.jit.trace(module, example))


def resnet_split(module: Any) -> tuple[Any, Any]:
    """(stem + first stage, the rest) of a torchvision ResNet; ValueError for other modules."""
    from torch import nn

    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
    if not all(hasattr(module, n) for n in names):
        raise ValueError("bf16-mixed needs a ResNet (stem + layer1..layer4)")
    head = nn.Sequential(module.conv1, module.bn1, module.relu, module.maxpool, module.layer1)
    tail = nn.Sequential(module.layer2, module.layer3, module.layer4, module.avgpool, nn.Flatten(1),
                         module.fc)
    return head.eval(), tail.eval()


def build(module: Any, device: str, precision: str, input_size: int) -> Callable[[Any], Any]:
    """The forward callable for one precision (may raise)."""
    import copy

    import torch

    if precision == "fp32":
        return module
    if precision == "ort-fp32":
        if not device.startswith("cpu"):
            raise ValueError(f"{precision} is a CPU backend")
        return ort_forward(module, input_size)
    if precision == "bf16-mixed":
        if not device.startswith("cpu"):
            raise ValueError(f"{precision} is a CPU backend")
        if not cpu_has_fast_bf16():
            raise ValueError("this CPU has no fast bfloat16 (AMX-BF16 / AVX512-BF16)")
        cl = torch.channels_last
        head, tail = resnet_split(module)
        ex = check_batch(input_size, 1).contiguous(memory_format=cl)
        fhead = _frozen(head, ex)
        with torch.inference_mode():
            mid = fhead(ex)
        ftail = _frozen(tail, mid)

        def forward_mixed(x):
            h = fhead(x.contiguous(memory_format=cl))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return ftail(h)

        with torch.inference_mode():
            forward_mixed(ex)  # optimise now, not on the first real batch
        return forward_mixed
    if precision in ("fp32-jit", "bf16", "bf16-conv"):
        if not device.startswith("cpu"):
            raise ValueError(f"{precision} is a CPU backend")
        if precision != "fp32-jit" and not cpu_has_fast_bf16():
            raise ValueError("this CPU has no fast bfloat16 (AMX-BF16 / AVX512-BF16)")
        if precision == "bf16-conv":
            with conv_math("bf16"):  # the switch exists (torch >= 2.9) and is accepted
                pass
        cl = torch.channels_last
        ex = check_batch(input_size, 1).contiguous(memory_format=cl)
        frozen = _frozen(module, ex)

        def forward(x):
            x = x.contiguous(memory_format=cl)
            if precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return frozen(x)
            if precision == "bf16-conv":
                with conv_math("bf16"):
                    return frozen(x)
            return frozen(x)

        with torch.inference_mode():
            forward(ex)  # optimise now, not on the first real batch
        return forward
    if precision == "fp16":
        if not device.startswith("cuda"):
            raise ValueError("fp16 is a CUDA backend")
        module = copy.deepcopy(module).to(memory_format=torch.channels_last)

        def forward_fp16(x):
            with torch.autocast("cuda", dtype=torch.float16):
                return module(x.contiguous(memory_format=torch.channels_last))

        return forward_fp16
    raise ValueError(precision)


def choose(module: Any, device: str, precision: Optional[str], input_size: int, model: str = ""):
    """(forward, backend name, fallback reason) -- never raises for a backend problem."""
    import torch
    import torch.nn.functional as F

    mode = resolve_precision(precision, device, model)
    reasons = []
    x = None
    ref = None
    for cand in candidates(mode, device):
        try:
            fwd = build(module, device, cand, input_size)
            if ref is None:
                x = check_batch(input_size, 4, device)
                with torch.inference_mode():
                    ref = module(x).float()
            with torch.inference_mode():
                got = fwd(x).float()
            cos = F.cosine_similarity(ref, got, dim=1).min().item()
            explicit = (precision or os.environ.get(PRECISION_ENV) or "auto").strip().lower() != "auto"
            if cos >= (MIN_COSINE_EXPLICIT if explicit and cand == mode else MIN_COSINE):
                return fwd, cand, "; ".join(reasons)
            reasons.append(f"{cand} features differ from fp32 (cosine {cos:.4f})")
        except Exception as e:  # noqa: BLE001 - any backend failure: try the next, fp32 always works
            reasons.append(f"{cand} unavailable ({type(e).__name__}: {str(e)[:120]})")
    return module, "fp32", "; ".join(reasons)


# ----------------------------------------------------------------------------- onnxruntime
ONNX_CACHE_ENV = "DESKTOP_DEDUP_ONNX_CACHE"  # folder for exported graphs (default: user cache dir)
ONNX_CACHE_KEEP = 3


def onnx_cache_dir():
    from pathlib import Path

    env = os.environ.get(ONNX_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("desktop-dedup", appauthor=False)) / "onnx"


def weights_key(module: Any, input_size: int) -> str:
    """A short hash of the module's class, weights/buffers, input size and the torch version."""
    import torch
    import xxhash

    h = xxhash.xxh3_128()
    h.update(f"{type(module).__qualname__}:{input_size}:{torch.__version__}".encode())
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def export_onnx(module: Any, input_size: int):
    """Path of the module's fp32 ONNX graph, exported on first use (atomically) into onnx_cache_dir()."""
    import torch

    d = onnx_cache_dir()
    path = d / f"{type(module).__name__.lower()}-{weights_key(module, input_size)}.onnx"
    if path.is_file() and path.stat().st_size > 0:
        os.utime(path)  # recently used: kept by the pruning below
        return path
    d.mkdir(parents=True, exist_ok=True)
    old = sorted(d.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for p in old[ONNX_CACHE_KEEP - 1:]:  # a few graphs (~100 MB each for ResNet-50), newest first
        try:
            p.unlink()
        except OSError:
            pass
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
    x = torch.zeros(2, 3, input_size, input_size)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), (x,), str(tmp), dynamo=False, input_names=["image"],
                              output_names=["features"], opset_version=17, do_constant_folding=True,
                              dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def ort_forward(module: Any, input_size: int) -> Callable[[Any], Any]:
    """An onnxruntime (CPU, fp32, torch's thread count, no spinning) forward for `module`."""
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = torch.get_num_threads()  # the decode threads have the other cores
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(export_onnx(module, input_size)), opts,
                                providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def forward_ort(x):
        a = x.detach().cpu().contiguous().numpy().astype("float32", copy=False)
        return torch.from_numpy(sess.run(None, {name: a})[0])

    return forward_ort


# ----------------------------------------------------------------------------- decode fidelity
DECODE_ENV = "DESKTOP_DEDUP_DECODE"  # "draft" | "full" | unset/"auto"
MIN_DRAFT_COSINE = 0.997  # draft kept above this; with the backend check (0.998) the sum stays >= 0.995
_draft_cache: dict = {}


def photo_like(w: int, h: int, seed: int):
    """A camera-like RGB PIL image: gradient, shapes, texture at several scales and grain."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    lw, lh = max(8, w // 8), max(6, h // 8)
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    c0, c1, c2 = rng.uniform(0, 255, (3, 3)).astype(np.float32)
    base = c0 + (xx[..., None] / lw) * (c1 - c0) + (yy[..., None] / lh) * (c2 - c0) * 0.5
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, lw)), int(rng.integers(0, lh))
        x1 = x0 + int(rng.integers(2, max(3, lw // 3)))
        y1 = y0 + int(rng.integers(2, max(3, lh // 3)))
        col = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            d.ellipse((x0, y0, x1, y1), fill=col)
        elif kind == 1:
            d.rectangle((x0, y0, x1, y1), fill=col)
        else:
            d.polygon([(x0, y0), (x1, y1), (x0, y1)], fill=col)
    img = img.filter(ImageFilter.GaussianBlur(1.5)).resize((w, h), Image.BICUBIC)
    # 1/f-like texture + grain as a repeated tile (JPEG blocks don't see the repeat)
    t = min(512, w, h)
    tile = np.zeros((t, t, 3), np.float32)
    for k, amp in ((64, 10.0), (16, 6.0), (4, 5.0), (1, 4.0)):
        s = max(2, t // k)
        n = rng.normal(0, amp, (s, s, 3)).astype(np.float32)
        if s != t:
            n = np.stack([np.asarray(Image.fromarray(n[..., c], "F").resize((t, t), Image.BICUBIC))
                          for c in range(3)], axis=2)
        tile += n
    noise = np.tile(tile.astype(np.int16), (-(-h // t), -(-w // t), 1))[:h, :w]
    a = np.asarray(img, dtype=np.int16) + noise
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def draft_decode_cosine(embedder, n: int = 2, size: tuple[int, int] = (2732, 2048)) -> float:
    """Min cosine, with the eager fp32 model, between features of camera-like JPEGs decoded the way
    the scanner does (draft/DCT scaling to 1/4 here) and decoded at full size."""
    import io

    import numpy as np
    import torch
    from PIL import Image

    from desktop_dedup.core.decode import WORK_SHORT_SIDE

    full, draft = [], []
    for seed in range(n):
        buf = io.BytesIO()
        photo_like(size[0], size[1], 9000 + seed).save(buf, "JPEG", quality=92)
        for out, reduce in ((full, False), (draft, True)):
            buf.seek(0)
            with Image.open(buf) as im:
                if reduce:
                    im.draft("RGB", (WORK_SHORT_SIDE, WORK_SHORT_SIDE))
                out.append(embedder.preprocess(im.convert("RGB")))
    x = torch.from_numpy(np.stack(full + draft)).to(embedder.device)
    with torch.inference_mode():
        f = embedder.module(x).float()
    return float(torch.nn.functional.cosine_similarity(f[:n], f[n:], dim=1).min().item())


def choose_decode(embedder) -> tuple[bool, Optional[float]]:
    """(full-resolution model input?, measured draft cosine or None). $DESKTOP_DEDUP_DECODE=draft|full
    forces it; auto measures `draft_decode_cosine` once per weights (cached in this process) and keeps
    draft decoding when it is >= MIN_DRAFT_COSINE. Never raises: a failed check keeps draft decoding."""
    mode = os.environ.get(DECODE_ENV, "").strip().lower()
    if mode in ("draft", "full"):
        return mode == "full", None
    if embedder.module is None:
        return False, None
    try:
        p = next(embedder.module.parameters())
        key = (embedder.model_id, embedder.resize, embedder.mean, float(p.detach().double().sum()))
        if key not in _draft_cache:
            _draft_cache[key] = draft_decode_cosine(embedder)
        cos = _draft_cache[key]
    except Exception:  # noqa: BLE001 - a check that cannot run must not stop a scan
        return False, None
    return cos < MIN_DRAFT_COSINE, cos
