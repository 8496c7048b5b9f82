"""`desktop-dedup bench quality SET_DIR`: detection quality on a benchmark source set, in one run.

Runs the shared benchmark generator (make_variants.py) on SET_DIR (originals/ + bursts/) into a
fresh library tree, scans it with the app's engine (the same code path as `desktop-dedup scan`),
writes the app's result JSON and prints the shared scorer's table (score.py): per-transform recall,
pair precision, burst false-duplicate / similar rates, family completeness, keeper choice.

With --baselines it also scores, on the same files, plain 64-bit pHash (Hamming <= 8) and a plain
embedding-cosine threshold, each grouped by connected components, for comparison.

The generator and scorer are looked up next to SET_DIR (its parent folder holds make_variants.py and
score.py in the shared bench layout), or in --tools DIR, or in $DESKTOP_DEDUP_BENCH_TOOLS.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional


def _find_tools(set_dir: Path, tools: Optional[str]) -> Path:
    cands = [Path(tools)] if tools else []
    if os.environ.get("DESKTOP_DEDUP_BENCH_TOOLS"):
        cands.append(Path(os.environ["DESKTOP_DEDUP_BENCH_TOOLS"]))
    cands += [set_dir.parent, set_dir]
    for c in cands:
        if (c / "make_variants.py").is_file() and (c / "score.py").is_file():
            return c
    raise SystemExit("error: make_variants.py and score.py not found next to the set; pass --tools DIR")


def _score(tools: Path, truth: Path, result: Path, as_json: bool = False) -> str:
    cmd = [sys.executable, str(tools / "score.py"), str(truth), str(result)] + (["--json"] if as_json else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"error: score.py failed: {out.stderr.strip()}")
    return out.stdout


def _components(n_pairs: list[tuple[int, int]], ids: list[int]) -> list[list[int]]:
    parent = {i: i for i in ids}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in n_pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    comps: dict[int, list[int]] = {}
    for i in ids:
        comps.setdefault(find(i), []).append(i)
    return [sorted(c) for c in comps.values() if len(c) > 1]


def phash64(img) -> int:
    """Classic pHash: 32x32 grayscale DCT, 8x8 low frequencies against their median."""
    import cv2
    import numpy as np

    g = np.asarray(img.convert("L").resize((32, 32), 1), np.float32)  # 1 = LANCZOS
    d = cv2.dct(g)[:8, :8].ravel()
    bits = d > np.median(d[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def _baselines(lib_dir: Path, db: Path, model: str, work: Path, tools: Path, truth: Path) -> dict[str, str]:
    """Score plain pHash and plain cosine groupings of the scanned files."""
    import numpy as np

    from desktop_dedup.core.decode import decode
    from desktop_dedup.core.library import Library
    from desktop_dedup.core.types import SkipFile

    out: dict[str, str] = {}
    with Library.open(str(db)) as lib:
        files = lib.catalog.active_files([str(lib_dir)], model)
        cids = sorted({f.content_id for f in files})
        vecs = lib._index(model).get(cids)
    paths: dict[int, list[str]] = {}
    for f in files:
        paths.setdefault(f.content_id, []).append(f.path)
    ids = [c for c in cids if c in vecs]

    def write(name: str, comps: list[list[int]]) -> None:
        groups = [{"kind": "near", "files": sorted(p for c in comp for p in paths[c])} for comp in comps]
        groups += [{"kind": "exact", "files": sorted(ps)} for ps in paths.values() if len(ps) > 1]
        res = work / f"result_{name}.json"
        res.write_text(json.dumps({"root": str(lib_dir), "groups": groups}))
        out[name] = _score(tools, truth, res)

    V = np.stack([vecs[c] for c in ids]).astype(np.float32)
    sims = V @ V.T
    for thr in (0.90,):
        ii, jj = np.nonzero(np.triu(sims >= thr, 1))
        write(f"cosine>={thr:.2f}", _components([(ids[i], ids[j]) for i, j in zip(ii, jj)], ids))
    hashes = {}
    for c in ids:
        try:
            hashes[c] = phash64(decode(paths[c][0]).image)
        except SkipFile:
            pass
    hid = sorted(hashes)
    H = np.array([hashes[c] for c in hid], np.uint64)
    pairs = []
    for i in range(len(hid)):
        x = np.bitwise_xor(H[i + 1:], H[i])
        dist = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        pairs += [(hid[i], hid[i + 1 + j]) for j in np.flatnonzero(dist <= 8)]
    write("phash<=8", _components(pairs, hid))
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="desktop-dedup bench quality", description=__doc__.split("\n")[0])
    ap.add_argument("set_dir", help="benchmark source set (originals/ and bursts/)")
    ap.add_argument("--model", default="efficientnet-lite0", choices=("resnet50", "efficientnet-lite0"))
    ap.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    ap.add_argument("--limit-originals", type=int, default=None, metavar="N")
    ap.add_argument("--limit-bursts", type=int, default=None, metavar="N")
    ap.add_argument("--transforms", default=None, metavar="a,b,c", help="subset of the generator's transforms")
    ap.add_argument("--rotations", action="store_true", help="also match copies turned by 90 degrees or mirrored")
    ap.add_argument("--work", default=None, help="folder for the generated set, library and results "
                                                  "(default: a new temporary folder, kept)")
    ap.add_argument("--tools", default=None, help="folder holding make_variants.py and score.py")
    ap.add_argument("--jobs", type=int, default=None, help="generator worker processes")
    ap.add_argument("--baselines", action="store_true", help="also score plain pHash and plain cosine")
    ap.add_argument("--constants", action="store_true",
                    help="use the built-in cut-offs instead of calibrating on the generated library (comparison)")
    ap.add_argument("--json", default=None, help="also write the scorer's JSON figures here")
    args = ap.parse_args(argv)

    set_dir = Path(args.set_dir).resolve()
    if not (set_dir / "originals").is_dir() and not (set_dir / "bursts").is_dir():
        print(f"error: {set_dir} has no originals/ or bursts/ folder", file=sys.stderr)
        return 2
    tools = _find_tools(set_dir, args.tools)
    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="dd-quality-"))
    work.mkdir(parents=True, exist_ok=True)
    lib_dir, db, result = work / "lib", work / "db", work / "result.json"
    truth = lib_dir.parent / f"{lib_dir.name}.truth.json"
    if lib_dir.exists() and any(lib_dir.iterdir()):
        print(f"error: {lib_dir} exists and is not empty; use another --work folder", file=sys.stderr)
        return 2

    gen = [sys.executable, str(tools / "make_variants.py"), str(set_dir), str(lib_dir), "--seed", str(args.seed)]
    for opt, val in (("--limit-originals", args.limit_originals), ("--limit-bursts", args.limit_bursts),
                     ("--transforms", args.transforms), ("--jobs", args.jobs)):
        if val is not None:
            gen += [opt, str(val)]
    print(f"generating the set in {lib_dir} ...", file=sys.stderr)
    if subprocess.run(gen, stdout=sys.stderr).returncode != 0:
        print("error: make_variants.py failed", file=sys.stderr)
        return 2

    from desktop_dedup.core.library import Library
    from desktop_dedup.core.types import DedupError

    from desktop_dedup.core import library as library_mod

    if args.constants:
        os.environ[library_mod.CALIBRATE_ENV] = "0"
    t0 = time.time()
    try:
        with Library.open(str(db)) as lib:
            res = lib.scan([str(lib_dir)], model=args.model, rotations=args.rotations)
            cal = None if args.constants else lib.calibration(args.model)
    except DedupError as e:
        print(f"error: {e.message} {e.hint}".strip(), file=sys.stderr)
        return 2
    result.write_text(json.dumps(res.to_json()))
    print(f"scanned {res.stats.files_seen} files in {time.time() - t0:.0f}s ({args.model}"
          f"{', rotations' if args.rotations else ''}); result {result}", file=sys.stderr)

    if cal:
        how = "built-in values" if cal.get("fallback") else f"measured on {cal.get('sample')} photos"
        print(f"calibration ({how}, {cal.get('seconds')}s): floor {cal.get('floor')}, similar "
              f"{cal.get('similar_cosine')}, template {cal.get('template_cosine')}, same_err {cal.get('same_err')}, "
              f"aligned_err {cal.get('aligned_err')}", file=sys.stderr)
    print(f"== desktop-dedup ({args.model}, seed {args.seed}{', built-in cut-offs' if args.constants else ''})")
    print(_score(tools, truth, result))
    if args.json:
        Path(args.json).write_text(_score(tools, truth, result, as_json=True))
    if args.baselines:
        for name, table in _baselines(lib_dir, db, args.model, work, tools, truth).items():
            print(f"== baseline: {name}")
            print(table)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
