"""Build the installable app: ONNX models -> PyInstaller onedir -> prune -> the OS's installer.

    python packaging/build.py --resnet50-pth PATH/resnet50-11ad3fa6.pth     # the real weights (packager's file)
    python packaging/build.py --stand-in                                    # random-init ResNet-50 (tests only)
    python packaging/build.py --steps weights,freeze,prune,installer        # default: all steps
    options: --build-dir build/package   --deb-compression zstd|xz|gzip [--deb-level N]   --with-torch

Steps (each reuses the previous one's output under --build-dir):
  weights    export resnet50 (from --resnet50-pth) and efficientnet-lite0 (from the pip package) to ONNX
             with torch, each checked against torch (cosine >= 0.995)         -> BUILD/weights/*.onnx
  freeze     PyInstaller with packaging/desktop_dedup.spec (torch excluded)    -> BUILD/dist/desktop-dedup/
  prune      drop what the app never loads (headers, tests, Qt translations, unused Arrow libs)
  installer  Linux: .deb (dpkg-deb); Windows: Inno Setup (iscc); macOS: .app in a DMG (packaging/macos)
Prints the installer size and the installed size at the end (also BUILD/sizes.json).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from desktop_dedup import APP_DISPLAY_NAME, APP_NAME, __version__  # noqa: E402

STEPS = ("weights", "freeze", "prune", "installer")
WIN, MAC = sys.platform == "win32", sys.platform == "darwin"


def log(msg: str) -> None:
    print(f"[build {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], **kw) -> None:
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


# -- step 1: weights ------------------------------------------------------------------------------
def stand_in_resnet50(dest_dir: Path) -> Path:
    """A random-init ResNet-50 state dict under the V2 file name (smoke tests; no real features)."""
    import torch
    from torchvision.models import resnet50

    from desktop_dedup.core.models.weights import RESNET50_FILES

    torch.manual_seed(0)
    p = dest_dir / RESNET50_FILES[0].filename
    torch.save(resnet50(weights=None).state_dict(), p)
    return p


def step_weights(args, build: Path) -> Path:
    from desktop_dedup.core.models import onnx_backend
    from desktop_dedup.core.models.weights import OFFLINE_ENV, RESNET50_FILES, WEIGHTS_ENV

    out = build / "weights"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="dd-weights-") as tmp:
        tmp = Path(tmp)
        if args.stand_in:
            log("ResNet-50: random-init STAND-IN weights (not for release)")
            stand_in_resnet50(tmp)
        else:
            src = Path(args.resnet50_pth).expanduser()
            if not src.is_file():
                raise SystemExit(f"--resnet50-pth {src}: no such file")
            known = {wf.filename: wf for wf in RESNET50_FILES}
            wf = known.get(src.name) or {"V1": RESNET50_FILES[1], "V2": RESNET50_FILES[0]}[args.resnet50_version]
            log(f"ResNet-50: {src} as {wf.filename} ({wf.tag})")
            shutil.copyfile(src, tmp / wf.filename)
        env_before = {k: os.environ.get(k) for k in (WEIGHTS_ENV, OFFLINE_ENV)}
        os.environ[WEIGHTS_ENV], os.environ[OFFLINE_ENV] = str(tmp), "1"
        try:
            for name in ("resnet50", "efficientnet-lite0"):
                t = time.monotonic()
                p = onnx_backend.export(name, out, check=True)
                emb = onnx_backend.load(p)
                log(f"exported {p.name} ({mb(p.stat().st_size)}, {emb.model_id}) in {time.monotonic() - t:.0f}s")
        finally:
            for k, v in env_before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return out


# -- step 2: freeze -------------------------------------------------------------------------------
def step_freeze(args, build: Path) -> Path:
    weights = build / "weights"
    if not any(weights.glob("*.onnx")):
        raise SystemExit(f"no ONNX models in {weights}: run the weights step first")
    env = dict(os.environ, DD_WEIGHTS_DIR=str(weights), DD_WITH_TORCH="1" if args.with_torch else "0",
               DD_ICON_DIR=str(make_icons(build)))
    run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", build / "dist", "--workpath", build / "work", ROOT / "packaging" / "desktop_dedup.spec"],
        env=env, cwd=ROOT)
    return build / "dist"


# -- step 3: prune --------------------------------------------------------------------------------
PRUNE_DIRS = ("include", "tests", "translations", "__pycache__")
PRUNE_SUFFIXES = (".h", ".hpp", ".pxd", ".pyx", ".pxi", ".cmake", ".a", ".lib", ".pyi", ".c", ".cpp")
PRUNE_GLOBS = ("libarrow_flight*", "libarrow_python_flight*", "libarrow_substrait*", "libarrow_s3*",
               "libQt6Network*", "libQt6Qml*", "libQt6Quick*", "libQt6Pdf*", "Qt6Network*", "Qt6Qml*", "Qt6Quick*",
               "Qt6Pdf*", "opengl32sw.dll", "libQt6Designer*")
PRUNE_ALWAYS = ("opengl32sw.dll",)  # Qt's software-OpenGL fallback (20 MB), loaded only with QT_OPENGL=software
# Qt plugins the app never needs: GTK theme (pulls GTK/cairo/pango), embedded-device platforms, evdev input
PRUNE_QT_PLUGINS = ("platformthemes/libqgtk3.so", "egldeviceintegrations", "generic", "platforms/libqeglfs.so",
                    "platforms/libqlinuxfb.so", "platforms/libqminimalegl.so", "platforms/libqvkkhrdisplay.so",
                    "platforms/libqvnc.so", "platforms/qdirect2d.dll")
KEEP_LIBS = ("libpython", "libdbus", "libssl", "libcrypto", "libffi", "libz.", "libstdc++", "libgcc_s")


def _elf_needed(p: Path) -> list[str]:
    try:
        out = subprocess.run(["readelf", "-d", str(p)], capture_output=True, text=True).stdout
    except OSError:
        return []
    return [ln.split("[", 1)[1].rstrip("]") for ln in out.splitlines() if "(NEEDED)" in ln and "[" in ln]


def _pe_needed(p: Path) -> list[str]:
    import pefile  # a PyInstaller dependency on Windows

    try:
        pe = pefile.PE(str(p), fast_load=True)
        pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
                                               pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT"]])
        names = [e.dll.decode(errors="replace") for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]
        names += [e.dll.decode(errors="replace") for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])]
        pe.close()
        return [n.lower() for n in names]
    except Exception:  # noqa: BLE001 - not a PE file
        return []


def _macho_needed(p: Path) -> list[str]:
    try:
        out = subprocess.run(["otool", "-L", str(p)], capture_output=True, text=True).stdout
    except OSError:
        return []
    return [Path(ln.strip().split(" (", 1)[0]).name for ln in out.splitlines()[1:] if ln.strip()]


def _deps_tool() -> bool:
    if WIN:
        return importlib.util.find_spec("pefile") is not None
    return shutil.which("otool" if MAC else "readelf") is not None


def _needed_libs(root: Path) -> set[str]:
    """Every library name the bundle's binaries link to (lower-case on Windows), so pruning never breaks
    a link. Empty when the platform's tool (readelf / pefile / otool) is missing."""
    needed: set[str] = set()
    if not _deps_tool():
        return needed
    for p in root.rglob("*"):
        if not p.is_file() or p.is_symlink():
            continue
        if WIN:
            if p.suffix.lower() in (".dll", ".pyd", ".exe"):
                needed.update(_pe_needed(p))
        elif ".so" in p.name or ".dylib" in p.name or os.access(p, os.X_OK):
            needed.update(_macho_needed(p) if MAC else _elf_needed(p))
    return needed


def _name(p: Path) -> str:
    return p.name.lower() if WIN else p.name


def _sweep_orphans(internal: Path) -> int:
    """Linux: drop top-level shared libraries that no remaining ELF file links to (fixed point)."""
    if not shutil.which("readelf"):
        return 0
    removed = 0
    while True:
        needed = _needed_libs(internal)
        orphans = [p for p in internal.glob("*.so*") if ".cpython-" not in p.name and ".abi3." not in p.name
                   and not p.name.startswith(KEEP_LIBS) and p.name not in needed
                   and (p.is_symlink() or p.is_file())]
        if not orphans:
            return removed
        for p in orphans:
            removed += 0 if p.is_symlink() else p.stat().st_size
            log(f"  orphan {p.name}")
            p.unlink()


def step_prune(args, build: Path) -> Path:
    app = app_dir(build)
    before = tree_size(app)
    removed = 0
    for p in sorted(app.rglob("*"), key=lambda q: -len(q.parts)):
        if not p.exists() and not p.is_symlink():
            continue
        rel = p.relative_to(app).as_posix()
        if "weights" in p.parts or "/resources/" in "/" + rel + "/":
            continue
        if p.is_dir() and not p.is_symlink() and p.name in PRUNE_DIRS and "Qt/plugins" not in rel:
            removed += tree_size(p)
            shutil.rmtree(p)
        elif p.is_file() and not p.is_symlink() and p.suffix in PRUNE_SUFFIXES:
            removed += p.stat().st_size
            p.unlink()
    for plugins in app.rglob("plugins"):
        if plugins.parent.name != "Qt":
            continue
        for rel in PRUNE_QT_PLUGINS:
            q = plugins / rel
            if q.is_dir():
                removed += tree_size(q)
                shutil.rmtree(q)
            elif q.exists():
                removed += q.stat().st_size
                q.unlink()
    checked = _deps_tool()  # without a dependency tool only the always-safe files go
    while True:  # to a fixed point: removing one library can orphan another (python_flight -> flight)
        needed = _needed_libs(app)
        hits = list(dict.fromkeys(p for pattern in PRUNE_GLOBS for p in app.rglob(pattern)
                                  if (checked or p.name in PRUNE_ALWAYS) and _name(p) not in needed
                                  and (p.exists() or p.is_symlink())))
        if not hits:
            break
        for p in hits:
            removed += 0 if p.is_symlink() else p.stat().st_size
            p.unlink()
    if not (WIN or MAC):
        removed += _sweep_orphans(app / "_internal")
    log(f"pruned {mb(removed)}: {mb(before)} -> {mb(tree_size(app))}")
    return app


def app_dir(build: Path) -> Path:
    """The installed payload: the onedir folder (Linux/Windows) or the .app (macOS)."""
    if MAC:
        return build / "dist" / f"{APP_DISPLAY_NAME}.app"
    return build / "dist" / APP_NAME


# -- step 4: installers ---------------------------------------------------------------------------
DEB_DEPENDS = ("libc6 (>= {glibc}), libgl1, libegl1, libfontconfig1, libfreetype6, libxkbcommon0, libxkbcommon-x11-0, "
               "libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render-util0, "
               "libxcb-shape0, libxcb-xinerama0, libxcb-xkb1, libx11-xcb1, libdbus-1-3, libwayland-cursor0, "
               "libwayland-egl1")


def deb_arch() -> str:
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


PKG_RES = ROOT / "resources"  # the app's icons (icon-<px>.png, icon.svg) and desktop entry


def make_icons(build: Path) -> Path:
    """Windows .ico and macOS .icns made from the app's PNG icons (Pillow) -> BUILD/icons/."""
    from PIL import Image

    out = build / "icons"
    out.mkdir(parents=True, exist_ok=True)
    pngs = {int(p.stem.split("-")[1]): p for p in PKG_RES.glob("icon-*.png") if p.stem.split("-")[1].isdigit()}
    if not pngs:
        log("no icon-<px>.png in resources/: building without an app icon")
        return out
    big = Image.open(pngs[max(pngs)]).convert("RGBA")
    big.save(out / "desktop-dedup.ico", sizes=[(n, n) for n in (16, 24, 32, 48, 64, 128, 256) if n <= big.width])
    try:
        big.save(out / "desktop-dedup.icns")
    except Exception as e:  # noqa: BLE001 - icns writing needs a recent Pillow; the .app then has no icon
        log(f"no .icns ({e})")
    return out


def build_deb(args, build: Path) -> Path:
    app = app_dir(build)
    stage = build / "deb-root"
    if stage.exists():
        shutil.rmtree(stage)
    opt = stage / "opt" / APP_NAME
    shutil.copytree(app, opt, symlinks=True)
    (stage / "usr" / "bin").mkdir(parents=True)
    os.symlink(f"/opt/{APP_NAME}/{APP_NAME}", stage / "usr" / "bin" / APP_NAME)
    apps = stage / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    shutil.copyfile(PKG_RES / "desktop-dedup.desktop", apps / "desktop-dedup.desktop")
    icons = stage / "usr" / "share" / "icons" / "hicolor"
    for png in PKG_RES.glob("icon-*.png"):
        px = png.stem.split("-")[1]
        (icons / f"{px}x{px}" / "apps").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, icons / f"{px}x{px}" / "apps" / "desktop-dedup.png")
    if (PKG_RES / "icon.svg").is_file():
        (icons / "scalable" / "apps").mkdir(parents=True)
        shutil.copyfile(PKG_RES / "icon.svg", icons / "scalable" / "apps" / "desktop-dedup.svg")
    debian = stage / "DEBIAN"
    debian.mkdir()
    installed_kb = (tree_size(stage) + 1023) // 1024
    control = (ROOT / "packaging" / "linux" / "control.in").read_text().format(
        version=__version__, arch=deb_arch(), installed_kb=installed_kb,
        depends=DEB_DEPENDS.format(glibc=platform.libc_ver()[1] or "2.31"))  # bundled libs need the build's glibc
    (debian / "control").write_text(control)
    for script in ("postinst", "postrm"):
        src = ROOT / "packaging" / "linux" / script
        shutil.copyfile(src, debian / script)
        (debian / script).chmod(0o755)
    for p in stage.rglob("*"):  # dpkg wants sane permissions whatever the umask was
        if p.is_symlink():
            continue
        p.chmod(0o755 if p.is_dir() or os.access(p, os.X_OK) else 0o644)
    out = build / "installer" / f"{APP_NAME}_{__version__}_{deb_arch()}.deb"
    out.parent.mkdir(parents=True, exist_ok=True)
    level = args.deb_level if args.deb_level is not None else {"zstd": 9, "xz": 1, "gzip": 9}[args.deb_compression]
    comp = ["-Z" + args.deb_compression, f"-z{level}"]
    cmd = ["dpkg-deb", "--root-owner-group", *comp, "--build", stage, out]
    if shutil.which("fakeroot") and not _dpkg_has_root_owner_group():
        cmd = ["fakeroot", "dpkg-deb", *comp, "--build", stage, out]
    run(cmd)
    return out


def _dpkg_has_root_owner_group() -> bool:
    r = subprocess.run(["dpkg-deb", "--help"], capture_output=True, text=True)
    return "--root-owner-group" in r.stdout


def build_inno(args, build: Path) -> Path:
    iscc = shutil.which("iscc") or next((str(p) for p in (
        Path(os.environ.get("ProgramFiles(x86)", r"C:\Program Files (x86)")) / "Inno Setup 6" / "ISCC.exe",
        Path(os.environ.get("ProgramFiles", r"C:\Program Files")) / "Inno Setup 6" / "ISCC.exe") if p.is_file()), None)
    if not iscc:
        raise SystemExit("Inno Setup 6 (iscc) not found: choco install innosetup")
    out_dir = build / "installer"
    out_dir.mkdir(parents=True, exist_ok=True)
    icon = build / "icons" / "desktop-dedup.ico"
    icon = icon if icon.is_file() else None
    defs = [f"/DAppVersion={__version__}", f"/DSourceDir={app_dir(build)}", f"/DOutputDir={out_dir}"]
    if icon:
        defs.append(f"/DAppIcon={icon}")
    run([iscc, *defs, ROOT / "packaging" / "windows" / "desktop-dedup.iss"])
    return out_dir / f"{APP_NAME}-{__version__}-setup.exe"


def build_dmg(args, build: Path) -> Path:
    out = build / "installer" / f"{APP_DISPLAY_NAME.replace(' ', '')}-{__version__}.dmg"
    out.parent.mkdir(parents=True, exist_ok=True)
    run(["bash", ROOT / "packaging" / "macos" / "make_dmg.sh", app_dir(build), out])
    return out


def step_installer(args, build: Path) -> Path:
    if WIN:
        return build_inno(args, build)
    if MAC:
        return build_dmg(args, build)
    return build_deb(args, build)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--resnet50-pth", metavar="PATH", help="ResNet-50 ImageNet state dict (torchvision .pth)")
    src.add_argument("--stand-in", action="store_true", help="random-init ResNet-50 (smoke tests only)")
    ap.add_argument("--resnet50-version", choices=["V1", "V2"], default="V2",
                    help="which torchvision weights --resnet50-pth holds, when its name doesn't say")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--build-dir", default=str(ROOT / "build" / "package"))
    ap.add_argument("--deb-compression", choices=["xz", "zstd", "gzip"], default="zstd",
                    help="zstd (default; dpkg >= 1.21.18 / Ubuntu >= 21.10) or xz (older dpkg, ~4x slower)")
    ap.add_argument("--deb-level", type=int, default=None, help="compression level (default zstd 9, xz 1)")
    ap.add_argument("--with-torch", action="store_true", help="keep torch in the bundle (CPU wheels only)")
    args = ap.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    bad = [s for s in steps if s not in STEPS]
    if bad:
        ap.error(f"unknown step(s) {bad}; choose from {STEPS}")
    if "weights" in steps and not (args.resnet50_pth or args.stand_in):
        ap.error("the weights step needs --resnet50-pth PATH (or --stand-in for a test build)")
    build = Path(args.build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    installer = None
    for step in steps:
        log(f"== {step}")
        result = globals()[f"step_{step}"](args, build)
        if step == "installer":
            installer = result
    sizes = {"version": __version__, "platform": sys.platform, "seconds": round(time.monotonic() - t0)}
    if app_dir(build).exists():
        sizes["installed_bytes"] = tree_size(app_dir(build))
        sizes["weights_bytes"] = tree_size(build / "weights") if (build / "weights").exists() else None
    if installer and Path(installer).exists():
        sizes["installer"] = str(installer)
        sizes["installer_bytes"] = Path(installer).stat().st_size
    (build / "sizes.json").write_text(json.dumps(sizes, indent=2))
    log("sizes: " + ", ".join(f"{k}={mb(v) if k.endswith('_bytes') and v else v}" for k, v in sizes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
