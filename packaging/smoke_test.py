"""Headless smoke test of an installed / frozen desktop-dedup (no Python needed by the app itself).

    python packaging/smoke_test.py --exe /opt/desktop-dedup/desktop-dedup [--no-network]
    python packaging/smoke_test.py --app build/package/dist          # finds the executable in a build

This harness (any Python with Pillow + numpy) generates a photo folder with known duplicates, then runs
the app's binary with a scrubbed environment (no PYTHONPATH/PYTHONHOME/venv on PATH, private HOME):
  1. `desktop-dedup --version`
  2. `desktop-dedup scan DIR --model efficientnet-lite0 --library LIB --json OUT` -> the expected groups
  3. `desktop-dedup gui --library LIB --screenshot PNG` (QT_QPA_PLATFORM=offscreen) -> a non-blank PNG
With --no-network (Linux, root) the binary runs in a fresh network namespace with only loopback up.
Exit status 0 = all passed. Writes a summary to stdout (and --report JSON).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance


def scene(seed: int, size=(640, 480)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, d = rng.uniform(-1, 1, 3)
        base[..., c] = 128 + 90 * np.sin(a * xx / w * 6 + b * yy / h * 6 + d * 3)
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(14):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(20, w // 2), y0 + rng.integers(20, h // 2)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    arr = np.asarray(img).astype(np.int16) + rng.integers(-6, 7, (h, w, 3))
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def make_library(root: Path) -> list[set[str]]:
    """6 distinct scenes + copies; returns the expected duplicate groups (sets of file names)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        scene(100 + i).save(root / f"scene{i}.jpg", quality=92)
    shutil.copyfile(root / "scene0.jpg", root / "scene0_copy.jpg")                       # byte-identical
    Image.open(root / "scene1.jpg").resize((480, 360), Image.LANCZOS).save(root / "scene1_small.jpg", quality=80)
    ImageEnhance.Brightness(Image.open(root / "scene2.jpg")).enhance(1.08).save(root / "scene2_edit.png")
    (root / "notes.txt").write_text("not a photo")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")                     # must be skipped
    return [{"scene0.jpg", "scene0_copy.jpg"}, {"scene1.jpg", "scene1_small.jpg"}, {"scene2.jpg", "scene2_edit.png"}]


def find_exe(app: Path) -> Path:
    names = ["desktop-dedup.exe", "desktop-dedup"]
    cands = [app / n for n in names] + [app / "desktop-dedup" / n for n in names]
    cands += list(app.glob("*.app/Contents/MacOS/desktop-dedup"))
    for c in cands:
        if c.is_file():
            return c
    raise SystemExit(f"no desktop-dedup executable under {app}")


def clean_env(home: Path) -> dict:
    keep = ("SYSTEMROOT", "SystemRoot", "WINDIR", "TEMP", "TMP", "LANG", "LC_ALL", "COMSPEC", "PATHEXT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                  if p and "venv" not in p.lower() and "python" not in p.lower()) or "/usr/bin:/bin"
    env.update(HOME=str(home), USERPROFILE=str(home), APPDATA=str(home / "AppData" / "Roaming"),
               LOCALAPPDATA=str(home / "AppData" / "Local"), XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_RUNTIME_DIR=str(home / "run"), QT_QPA_PLATFORM="offscreen", DESKTOP_DEDUP_OFFLINE="1")
    (home / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    return env


def run(cmd, env, no_network: bool, timeout: int) -> tuple[int, str, float]:
    cmd = [str(c) for c in cmd]
    if no_network:
        cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up 2>/dev/null; exec "$@"', "sh", *cmd]
    t = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr), time.monotonic() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--exe", type=Path)
    g.add_argument("--app", type=Path)
    ap.add_argument("--no-network", action="store_true")
    ap.add_argument("--work", type=Path, help="keep the work folder here (default: a temp dir, removed)")
    ap.add_argument("--report", type=Path)
    ap.add_argument("--skip-gui", action="store_true")
    args = ap.parse_args(argv)
    exe = args.exe or find_exe(args.app)
    work = args.work or Path(tempfile.mkdtemp(prefix="dd-smoke-"))
    work.mkdir(parents=True, exist_ok=True)
    env = clean_env(work / "home")
    photos, lib = work / "photos", work / "library"
    expected = make_library(photos)
    report: dict = {"exe": str(exe), "checks": {}}
    ok = True

    def check(name: str, passed: bool, detail: str) -> None:
        nonlocal ok
        ok &= passed
        report["checks"][name] = {"ok": passed, "detail": detail}
        print(f"[{'PASS' if passed else 'FAIL'}] {name}: {detail}", flush=True)

    rc, out, s = run([exe, "--version"], env, args.no_network, 120)
    check("version", rc == 0 and "desktop-dedup" in out, f"{out.strip()[:80]} ({s:.1f}s)")

    js = work / "scan.json"
    rc, out, s = run([exe, "scan", photos, "--model", "efficientnet-lite0", "--library", lib, "--json", js],
                     env, args.no_network, 600)
    if rc != 0 or not js.is_file():
        check("scan", False, f"exit {rc} after {s:.1f}s:\n{out[-3000:]}")
    else:
        res = json.loads(js.read_text())
        got = [{Path(f).name for f in grp["files"]} for grp in res["groups"]]
        skipped = {Path(x["path"]).name for x in res["skipped"]}
        detail = f"{len(got)} groups {sorted(map(sorted, got))}, skipped {sorted(skipped)}, {s:.1f}s"
        found = all(any(e <= g_ for g_ in got) for e in expected)
        pure = all(any(g_ <= e for e in expected) for g_ in got)
        check("scan", found and pure and "broken.jpg" in skipped, detail)
        report["scan_seconds"] = round(s, 1)
        # second run: everything reused from the library (Milvus Lite data reopened in the frozen app)
        rc2, out2, s2 = run([exe, "scan", photos, "--model", "efficientnet-lite0", "--library", lib, "--json", js],
                            env, args.no_network, 300)
        res2 = json.loads(js.read_text()) if rc2 == 0 else {}
        st = res2.get("stats", {})
        check("rescan", rc2 == 0 and st.get("embedded") == 0 and len(res2.get("groups", [])) == len(got),
              f"exit {rc2}, stats {st} ({s2:.1f}s)" + ("" if rc2 == 0 else "\n" + out2[-2000:]))
        # the default model (ResNet-50) from the bundled ONNX file: no download, no torch
        js50 = work / "scan50.json"
        rc3, out3, s3 = run([exe, "scan", photos, "--model", "resnet50", "--library", work / "library50",
                             "--json", js50], env, args.no_network, 600)
        st3 = json.loads(js50.read_text()).get("stats", {}) if rc3 == 0 and js50.is_file() else {}
        # 9 readable photos, 8 distinct contents (one byte copy): all embedded or reused, none failed
        n_emb, n_reused = st3.get("embedded", 0), st3.get("reused", 0)
        check("scan-resnet50", rc3 == 0 and n_emb >= 8 and n_emb + n_reused == 9,
              f"exit {rc3}, stats {st3} ({s3:.1f}s)" + ("" if rc3 == 0 else "\n" + out3[-2000:]))
    if not args.skip_gui:
        png = work / "window.png"
        rc, out, s = run([exe, "gui", "--library", lib, "--screenshot", png], env, args.no_network, 300)
        detail = f"exit {rc} ({s:.1f}s)"
        passed = rc == 0 and png.is_file()
        if passed:
            im = Image.open(png).convert("RGB")
            colours = len(im.resize((64, 64)).getcolors(64 * 64) or [])
            passed = im.width >= 400 and im.height >= 300 and colours > 8
            detail += f", {im.width}x{im.height}, {colours} colours"
            report["screenshot"] = str(png)
        else:
            detail += "\n" + out[-3000:]
        check("gui-screenshot", passed, detail)
    report["ok"] = ok
    if args.report:
        args.report.write_text(json.dumps(report, indent=2))
    print("SMOKE TEST " + ("PASSED" if ok else "FAILED"), flush=True)
    if not args.work and ok:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
