"""`desktop-dedup bench scale`: how grouping and re-scans scale (issue 5).

Parts (all on by default, pick with --parts):
  index   N synthetic embeddings (perturbations of real efficientnet-lite0 embeddings of the bench
          photos, with planted near-duplicates and burst-like pairs) stored through the app's own
          VectorIndex, then the neighbour search of every vector (k = library.NEIGHBOURS_K + 1) and
          the candidate/edge handling of group.build_groups (cosine verdicts, no pixels). Per index
          type: store, index-ready, search and group seconds, peak RSS, recall against exact search.
  verify  the per-pair pixel verification cost on real signatures (to project the full grouping).
  rescan  first scan vs unchanged re-scan of a generated JPEG library (efficientnet-lite0), and the
          RSS of the scan process sampled for N and 2N files (memory must stay flat).

    desktop-dedup bench scale [--sizes 10000,100000] [--indexes FLAT,HNSW,IVF_FLAT]
                              [--milvus-uri URI] [--rescan-files 2000] [--parts index,verify,rescan]
                              [--json OUT]
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional

import numpy as np

BENCH_DEV = os.environ.get("DESKTOP_DEDUP_BENCH_DEV", "/work/shared/bench/dev")
CACHE = os.path.join(tempfile.gettempdir(), "desktop-dedup-scale-cache")


# -- memory --------------------------------------------------------------------------------------
def _status_mb(field: str, pid: Optional[int] = None) -> float:
    """A memory field of /proc/PID/status in MiB (Linux; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mb(pid: Optional[int] = None) -> float:
    """Resident set size of a process in MiB."""
    return _status_mb("VmRSS", pid)


def _hwm_mb() -> float:
    """Peak resident set size of this process image in MiB (VmHWM)."""
    return _status_mb("VmHWM")


class RssSampler:
    """Samples the RSS of a process every `every` seconds in a thread; `.peak`, `.samples`."""

    def __init__(self, pid: Optional[int] = None, every: float = 0.1):
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self._t0, rss_mb(self.pid)))
            self._stop.wait(self.every)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic() - self._t0, rss_mb(self.pid)))

    @property
    def peak(self) -> float:
        return max((m for _, m in self.samples), default=0.0)


# -- real embeddings (the basis of the synthetic ones) -------------------------------------------
def real_embeddings(dev: str = BENCH_DEV) -> dict:
    """efficientnet-lite0 embeddings of the bench photos and of two near-duplicate variants of each
    (half size re-compressed at q70, 90 % centre crop); cached under the temp folder."""
    cache = os.path.join(CACHE, "real_efficientnet-lite0.npz")
    if os.path.exists(cache):
        z = np.load(cache)
        return {k: z[k] for k in z.files}
    from PIL import Image

    from desktop_dedup.core.decode import decode
    from desktop_dedup.core.models import load_embedder

    originals = sorted(glob.glob(os.path.join(dev, "originals", "*.jpg")))
    bursts = sorted(glob.glob(os.path.join(dev, "bursts", "*", "*.jpg")))
    if not originals:
        raise SystemExit(f"no bench photos under {dev} (set DESKTOP_DEDUP_BENCH_DEV)")
    emb = load_embedder("efficientnet-lite0")
    paths = originals + bursts
    base, dup = [], []
    for i in range(0, len(paths), 16):
        ims = [decode(p).image for p in paths[i:i + 16]]
        base.append(emb.embed_images(ims))
        vs = []
        for im in ims:
            w, h = im.size
            b = io.BytesIO()
            im.resize((w // 2, h // 2)).save(b, "JPEG", quality=70)
            vs.append(Image.open(io.BytesIO(b.getvalue())).convert("RGB"))
            vs.append(im.crop((int(w * .05), int(h * .05), int(w * .95), int(h * .95))))
        dup.append(emb.embed_images(vs).reshape(len(ims), 2, -1))
    seq = [os.path.basename(os.path.dirname(p)) if p in bursts else "" for p in paths]
    out = {"emb": np.concatenate(base), "dup": np.concatenate(dup), "n_originals": np.array(len(originals)),
           "seq": np.array(seq)}
    os.makedirs(CACHE, exist_ok=True)
    np.savez(cache, **out)
    return out


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


class Synthetic:
    """Deterministic synthetic library of `n` embeddings, generated chunk by chunk.

    A distinct photo = a real photo's embedding mixed with a second one plus noise (scaled so its
    nearest-neighbour cosines look like real distinct photos'); ~4 % of photos get 1-2 planted
    near-duplicates (the displacement of a real resize/re-compress/crop pair) and ~2 % a burst-like
    neighbour (the displacement between two real frames of one burst)."""

    NOISE = 0.7
    MIX = 0.5

    def __init__(self, real: dict, n: int, seed: int = 0):
        self.n, self.seed = n, seed
        e = real["emb"].astype(np.float32)
        n_orig = int(real["n_originals"])
        self.base = e[:n_orig]
        self.dup_disp = (real["dup"] - e[:, None, :]).reshape(-1, e.shape[1])
        seq = real["seq"]
        disp = []
        for s in sorted(set(seq[n_orig:])):
            idx = np.flatnonzero(seq == s)
            for a, b in zip(idx[:-1], idx[1:]):
                disp.append(e[b] - e[a])
        self.burst_disp = np.array(disp, dtype=np.float32) if disp else self.dup_disp
        self.dim = e.shape[1]
        self.scale = float(np.linalg.norm(self.base, axis=1).mean())
        # planted pairs: (index of the copy, index of its source); copies are at the end of each chunk
        self.planted: dict[int, tuple[int, str]] = {}

    def chunk(self, start: int, size: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, start))
        nb = len(self.base)
        a = rng.integers(0, nb, size)
        b = rng.integers(0, nb, size)
        w = rng.uniform(0, self.MIX, (size, 1)).astype(np.float32)
        noise = rng.normal(0, self.NOISE / np.sqrt(self.dim), (size, self.dim)).astype(np.float32)
        v = _normalise((1 - w) * self.base[a] + w * self.base[b] + noise)
        # plant near-duplicates and burst neighbours of earlier rows of this chunk
        kinds = rng.uniform(0, 1, size)
        for i in range(1, size):
            if kinds[i] < 0.04:
                src = int(rng.integers(0, i))
                d = self.dup_disp[int(rng.integers(0, len(self.dup_disp)))]
                v[i] = _normalise(v[src] + d)
                self.planted[start + i] = (start + src, "duplicate")
            elif kinds[i] < 0.06:
                src = int(rng.integers(0, i))
                d = self.burst_disp[int(rng.integers(0, len(self.burst_disp)))]
                v[i] = _normalise(v[src] + d)
                self.planted[start + i] = (start + src, "burst")
        return v


def nn_cosines(v: np.ndarray) -> np.ndarray:
    s = v @ v.T
    np.fill_diagonal(s, -2)
    return s.max(axis=1)


def realism(real: dict, syn: Synthetic) -> list[list[str]]:
    """Quantiles of nearest-neighbour cosines: real originals vs an equally sized synthetic sample,
    and cosine of planted duplicates vs real duplicate pairs."""
    n_orig = int(real["n_originals"])
    r = nn_cosines(_normalise(real["emb"][:n_orig]))
    v = syn.chunk(10 ** 9, 4096)
    keep = [i for i in range(len(v)) if (10 ** 9 + i) not in syn.planted][:n_orig]
    s = nn_cosines(v[keep])
    real_dup = np.einsum("nd,nkd->nk", _normalise(real["emb"]), _normalise(real["dup"])).ravel()
    pl = [(i - 10 ** 9, j - 10 ** 9, k) for i, (j, k) in syn.planted.items() if i >= 10 ** 9]
    syn_dup = np.array([float(v[i] @ v[j]) for i, j, k in pl if k == "duplicate"])
    syn_burst = np.array([float(v[i] @ v[j]) for i, j, k in pl if k == "burst"])
    seq = real["seq"]
    e = _normalise(real["emb"])
    real_burst = np.array([float(e[a] @ e[b]) for s in sorted(set(seq[n_orig:]))
                           for a, b in zip(np.flatnonzero(seq == s)[:-1], np.flatnonzero(seq == s)[1:])])
    q = [0.05, 0.5, 0.95]
    row = lambda name, x: [name, str(len(x))] + [f"{np.quantile(x, t):.3f}" for t in q]  # noqa: E731
    return [row("NN cosine, real originals", r), row("NN cosine, synthetic (same n)", s),
            row("duplicate pair, real", real_dup), row("duplicate pair, synthetic", syn_dup),
            row("burst neighbours, real", real_burst), row("burst neighbours, synthetic", syn_burst)]


# -- part 1: index + neighbour pass + candidate handling -----------------------------------------
MODEL = "efficientnet-lite0"
ROOT = "/scale-library"


def _fill_library(libdir: str, uri: Optional[str], syn: "Synthetic", n: int) -> dict:
    """A library of n synthetic photos: catalog rows (files, contents, embeddings with their float16
    copies) and the vectors stored in Milvus through the app's VectorIndex, as a scan leaves them."""
    from desktop_dedup.core import catalog as catalog_mod
    from desktop_dedup.core import verify
    from desktop_dedup.core.library import Library

    out: dict = {}
    lib = Library(libdir, milvus_uri=uri)
    try:
        idx = lib._index(MODEL)
        out["index_used"] = idx.index_type
        t0 = time.monotonic()
        for s in range(0, n, 4096):
            v = syn.chunk(s, min(4096, n - s))
            ids = list(range(s + 1, s + 1 + len(v)))
            idx.upsert(ids, v)
            with lib.catalog.transaction() as db:
                db.executemany("INSERT INTO contents(id, hash, size, width, height, format, facts, signature, sig_version)"
                               " VALUES (?,?,?,?,?,?,?,?,?)",
                               [(i, f"{i:032x}", 100_000 + i, 640, 480, "JPEG", "{}", b"-", verify.SIGNATURE_VERSION)
                                for i in ids])
                db.executemany("INSERT INTO files(path, root, size, mtime_ns, content_id, status, scan_id)"
                               " VALUES (?,?,?,?,?,'ok',0)",
                               [(catalog_mod.enc(f"{ROOT}/{i // 1000:04d}/{i:07d}.jpg"), catalog_mod.enc(ROOT),
                                 100_000 + i, 0, i) for i in ids])
                lib.catalog.mark_embedded(MODEL, ids, db=db, vectors=v)
        out["store_s"] = time.monotonic() - t0
        t1 = time.monotonic()
        idx.flush()
        _wait_indexed(idx)
        out["index_ready_s"] = time.monotonic() - t1
        out["rss_store_mb"] = rss_mb()
    finally:
        lib.close()
    return out


def _group_child(libdir: str, uri: Optional[str], planted_json: str, check: int, k: int) -> dict:
    """In a fresh process (as `desktop-dedup groups` or a re-scan would): Library._group on the stored
    library, pixel verification off (cosine verdicts; measured apart), then recall against exact search."""
    from desktop_dedup.core import group as group_mod
    from desktop_dedup.core.library import Library

    out: dict = {"rss_start_mb": rss_mb()}
    group_mod.verify_mod = group_mod.keeper_mod = None
    lib = Library(libdir, milvus_uri=uri)
    captured: dict = {}
    inner = lib._neighbours

    def timed(*args, **kw):
        t, c = time.monotonic(), _cpu()
        res = inner(*args, **kw)
        captured["s"], captured["cpu"] = time.monotonic() - t, _cpu() - c
        captured["nb"] = res
        return res

    lib._neighbours = timed
    t0, c0 = time.monotonic(), _cpu()
    groups = lib._group([ROOT], MODEL, False, None, threading.Event())
    out["total_s"], out["total_cpu_s"] = time.monotonic() - t0, _cpu() - c0
    out["peak_rss_mb"] = _hwm_mb()  # not ru_maxrss: Linux carries the parent's peak across fork + exec
    out["search_s"], out["search_cpu_s"] = captured["s"], captured["cpu"]
    out["group_s"] = out["total_s"] - out["search_s"]
    out["groups"] = len(groups)
    nb = captured["nb"]
    if isinstance(nb, tuple):  # the array form (Milvus Lite): ids, neighbour ids, cosines
        ids_, nbr, sm = nb
        nb = {int(c): [(int(h), float(x)) for h, x in zip(r, q) if h >= 0]
              for c, r, q in zip(ids_.tolist(), nbr.tolist(), sm.tolist())}
    out["pairs"] = len({(min(a, b), max(a, b)) for a, hits in nb.items() for b, _ in hits})
    # recall against exact search over the catalog's copies, for `check` query rows
    cids = sorted(nb)
    from desktop_dedup.core.models import MODEL_DIMS

    vecs, _ = lib.catalog.load_vectors(MODEL, cids, MODEL_DIMS[MODEL])
    lib.close()
    rng = np.random.default_rng(1)
    q = np.sort(rng.choice(len(cids), size=min(check, len(cids)), replace=False))
    hit = tot = hit_hi = tot_hi = hit_mid = tot_mid = 0
    for s in range(0, len(q), 128):
        qq = q[s:s + 128]
        sims = np.concatenate([vecs[qq].astype(np.float32) @ vecs[c:c + 8192].astype(np.float32).T
                               for c in range(0, len(vecs), 8192)], axis=1)
        sims[np.arange(len(qq)), qq] = -2
        top = np.argpartition(-sims, k)[:, :k]
        for r, row in enumerate(qq):
            got = {h for h, _ in nb.get(cids[row], [])}
            exact = {cids[int(x)] for x in top[r]}
            hit += len(exact & got)
            tot += len(exact)
            mid = {cids[int(x)] for x in top[r] if sims[r, x] >= 0.5}
            hit_mid += len(mid & got)
            tot_mid += len(mid)
            hi = {cids[int(x)] for x in top[r] if sims[r, x] >= 0.85}
            hit_hi += len(hi & got)
            tot_hi += len(hi)
    with open(planted_json) as fh:
        planted = json.load(fh)
    found = sum(1 for a, b in planted if any(h == b for h, _ in nb.get(a, [])) or any(h == a for h, _ in nb.get(b, [])))
    out.update(recall_topk=hit / max(tot, 1), recall_cos50=hit_mid / max(tot_mid, 1),
               recall_cos85=hit_hi / max(tot_hi, 1), planted=len(planted), planted_found=found / max(len(planted), 1))
    return out


def bench_index(n: int, index_type: str, uri: Optional[str], real: dict, k: int, check: int = 500) -> dict:
    """Store n vectors as a scan would, then group them in a fresh process (time, CPU, peak RSS)."""
    syn = Synthetic(real, n)
    tmp = tempfile.mkdtemp(prefix="dd-scale-")
    out = {"n": n, "index": index_type, "backend": "server" if uri else "lite", "load_avg": os.getloadavg()[0]}
    old = os.environ.get("DESKTOP_DEDUP_INDEX")
    try:
        if index_type != "DEFAULT":  # for the store here and the grouping child (inherits the environment)
            os.environ["DESKTOP_DEDUP_INDEX"] = index_type
        libdir = os.path.join(tmp, "library")
        out.update(_fill_library(libdir, uri, syn, n))
        _log(out)
        planted = [(a + 1, b + 1) for a, (b, kind) in syn.planted.items() if a < n and kind == "duplicate"]
        pj = os.path.join(tmp, "planted.json")
        with open(pj, "w") as fh:
            json.dump(planted, fh)
        cmd = [sys.executable, "-m", "desktop_dedup.bench.scale", "--group-child", libdir, "--planted", pj,
               "--check", str(check)] + (["--milvus-uri", uri] if uri else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"grouping child failed: {proc.stderr[-3000:]}")
        out.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        out["search_path"] = "local knn join" if not uri else "milvus search"
        out["load_avg_end"] = os.getloadavg()[0]
        if uri:
            from desktop_dedup.core.library import Library

            lib = Library(libdir, milvus_uri=uri)
            try:
                lib._index(MODEL).client.drop_collection(lib._index(MODEL).name)
            finally:
                lib.close()
    finally:
        if old is None:
            os.environ.pop("DESKTOP_DEDUP_INDEX", None)
        else:
            os.environ["DESKTOP_DEDUP_INDEX"] = old
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def bench_lite_search(n: int, real: dict, index_type: str = "FLAT", queries: int = 1024, k: int = 25) -> dict:
    """Milvus Lite's own search (what the local pass replaces): store n vectors, time `queries` top-k
    queries in one call, and reading every vector back; projected to all n queries."""
    from desktop_dedup.core.vectors import VectorIndex

    syn = Synthetic(real, n)
    tmp = tempfile.mkdtemp(prefix="dd-lite-")
    out = {"n": n, "index": index_type}
    try:
        idx = VectorIndex(os.path.join(tmp, "v.db"), "lite", MODEL, syn.dim, index_type=index_type)
        for s in range(0, n, 4096):
            v = syn.chunk(s, min(4096, n - s))
            idx.upsert(list(range(s, s + len(v))), v)
        idx.flush()
        _wait_indexed(idx)
        out["rss_after_store_mb"] = rss_mb()
        q = syn.chunk(0, min(queries, n))
        t0 = time.monotonic()
        idx.search(q, k)
        out["search_s_per_1024"] = (time.monotonic() - t0) * 1024 / len(q)
        out["projected_all_s"] = out["search_s_per_1024"] * n / 1024
        out["rss_after_search_mb"] = rss_mb()
        idx.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _log(d: dict) -> None:
    print("  ..", {k: round(v, 2) if isinstance(v, float) else v for k, v in d.items()}, file=sys.stderr, flush=True)


def _wait_indexed(idx, timeout: float = 600) -> None:
    """Until the backend reports no rows pending indexing (best effort: not every backend says)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            d = idx.client.describe_index(idx.name, "vector")
        except Exception:
            return
        if not d or int(d.get("pending_index_rows", 0) or 0) == 0:
            return
        time.sleep(0.5)


# -- part 2: per-pair verification cost on real signatures ---------------------------------------
def bench_verify(pairs: int = 60, dev: str = BENCH_DEV) -> dict:
    from PIL import Image

    from desktop_dedup.core import verify
    from desktop_dedup.core.decode import decode

    paths = sorted(glob.glob(os.path.join(dev, "originals", "*.jpg")))[:max(2, pairs // 2)]
    sigs, t0 = [], time.monotonic()
    for p in paths:
        im = decode(p).image
        w, h = im.size
        b = io.BytesIO()
        im.resize((w // 2, h // 2)).save(b, "JPEG", quality=70)
        sigs.append((verify.make_signature(im), verify.make_signature(Image.open(io.BytesIO(b.getvalue())).convert("RGB"))))
    sig_s = (time.monotonic() - t0) / (2 * len(paths))
    rows = [(a, b) for a, b in sigs] + [(sigs[i][0], sigs[i + 1][0]) for i in range(len(sigs) - 1)]
    rows = rows[:pairs]
    t1, c1 = time.monotonic(), _cpu()
    for a, b in rows:
        verify.compare(a, b, cosine=0.9)
    per = (time.monotonic() - t1) / max(len(rows), 1)
    cpu = (_cpu() - c1) / max(len(rows), 1)
    return {"pairs": len(rows), "verify_ms_per_pair": per * 1000, "verify_cpu_ms_per_pair": cpu * 1000,
            "signature_ms": sig_s * 1000, "load_avg": os.getloadavg()[0]}


# -- part 3: incremental re-scan and memory while indexing ---------------------------------------
def make_jpegs(folder: str, n: int, seed: int = 0) -> None:
    """n small distinct JPEGs (320x240 smooth random scenes), ~3 % exact copies, ~3 % re-compressed."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    made: list[str] = []
    for i in range(n):
        p = os.path.join(folder, f"d{i // 1000:03d}", f"img{i:06d}.jpg")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        r = rng.uniform()
        if made and r < 0.03:
            shutil.copyfile(made[int(rng.integers(0, len(made)))], p)
            continue
        if made and r < 0.06:
            Image.open(made[int(rng.integers(0, len(made)))]).save(p, "JPEG", quality=60)
            continue
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        im = Image.fromarray(small).resize((320, 240), Image.BICUBIC)
        d = ImageDraw.Draw(im)
        for _ in range(4):
            x, y = rng.integers(0, 300), rng.integers(0, 220)
            d.ellipse([x, y, x + rng.integers(10, 80), y + rng.integers(10, 80)],
                      fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        im.save(p, "JPEG", quality=90)
        made.append(p)


def _timed_scan(lib: str, db: str, uri: Optional[str], out_json: str) -> dict:
    cmd = [sys.executable, "-m", "desktop_dedup", "scan", lib, "--model", "efficientnet-lite0",
           "--library", db, "--json", out_json]
    if uri:
        cmd += ["--milvus-uri", uri]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with RssSampler(proc.pid, every=0.25) as mem:
        _, err = proc.communicate()
    secs = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"scan failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    with open(out_json) as fh:
        res = json.load(fh)
    rss = [m for _, m in mem.samples if m > 0]
    # RSS at 25/50/75 % of the run: flat memory = the later quarters are not larger than the earlier
    quart = [rss[int(len(rss) * f)] if rss else 0.0 for f in (0.25, 0.5, 0.75)]
    return {"seconds": secs, "peak_rss_mb": max(rss, default=0.0), "rss_quartiles_mb": quart,
            "groups": len(res.get("groups", [])), "stats": res.get("stats", {})}


def bench_rescan(n: int, uri: Optional[str] = None) -> dict:
    tmp = tempfile.mkdtemp(prefix="dd-rescan-")
    try:
        lib = os.path.join(tmp, "lib")
        t0 = time.monotonic()
        make_jpegs(lib, n)
        gen_s = time.monotonic() - t0
        first = _timed_scan(lib, os.path.join(tmp, "db"), uri, os.path.join(tmp, "r1.json"))
        again = _timed_scan(lib, os.path.join(tmp, "db"), uri, os.path.join(tmp, "r2.json"))
        return {"files": n, "generate_s": gen_s, "first": first, "rescan": again,
                "rescan_ratio": again["seconds"] / first["seconds"]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- output --------------------------------------------------------------------------------------
def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else f"{c:.3g}" if isinstance(c, float)
                                            else str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([line(cells[0]), "  ".join("-" * x for x in w)] + [line(r) for r in cells[1:]])


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="desktop-dedup bench scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000", help="stored vectors per run (comma list)")
    p.add_argument("--indexes", default="DEFAULT",
                   help="index types to compare: DEFAULT (the app's choice),FLAT,HNSW,IVF_FLAT")
    p.add_argument("--milvus-uri", help="run against a Milvus server instead of Milvus Lite")
    p.add_argument("--parts", default="index,verify,rescan")
    p.add_argument("--rescan-files", type=int, default=2000, help="files of the generated re-scan library")
    p.add_argument("--memory-files", type=int, default=0,
                   help="also scan N/2 files for the N vs 2N memory comparison (0 = rescan-files/2)")
    p.add_argument("--check", type=int, default=500, help="queries checked against exact search")
    p.add_argument("--lite-search", default="",
                   help="also time Milvus Lite's own search at these sizes (comma list), e.g. 10000,100000")
    p.add_argument("--json", metavar="OUT", help="also write all figures as JSON")
    p.add_argument("--group-child", help=argparse.SUPPRESS)
    p.add_argument("--planted", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    parts = set(a.parts.split(","))
    from desktop_dedup.core.library import NEIGHBOURS_K

    if a.group_child:
        print(json.dumps(_group_child(a.group_child, a.milvus_uri, a.planted, a.check, NEIGHBOURS_K)))
        return 0

    report: dict = {}
    if "index" in parts:
        real = real_embeddings()
        syn = Synthetic(real, 1)
        print("synthetic vs real efficientnet-lite0 embeddings (cosine quantiles)")
        print(table(["pairs", "n", "q05", "q50", "q95"], realism(real, syn)), "\n", flush=True)
        runs = []
        for n in [int(x) for x in a.sizes.split(",") if x]:
            for it in a.indexes.split(","):
                r = bench_index(n, it.strip().upper(), a.milvus_uri, real, NEIGHBOURS_K, a.check)
                runs.append(r)
                print(json.dumps(r), flush=True)
        report["index"] = runs
        print()
        print(table(["backend", "index", "neighbour pass", "N", "store s", "search s (cpu)", "group s",
                     "total s (cpu)", "peak RSS MB", "recall@k", "recall cos>=.5", "recall cos>=.85",
                     "planted found", "pairs", "load"],
                    [[r["backend"], r["index_used"], r["search_path"], r["n"], r["store_s"],
                      f"{r['search_s']:.1f} ({r['search_cpu_s']:.1f})", r["group_s"],
                      f"{r['total_s']:.1f} ({r['total_cpu_s']:.1f})", r["peak_rss_mb"],
                      r["recall_topk"], r["recall_cos50"], r["recall_cos85"], r["planted_found"], r["pairs"],
                      f"{r['load_avg']:.1f}-{r['load_avg_end']:.1f}"] for r in runs]))
        print("(store: catalog rows + vectors through the app's VectorIndex; total: Library._group in a fresh"
              " process, pixel verification off)")
        print()
    if a.lite_search:
        real = real_embeddings()
        rows = []
        for n in [int(x) for x in a.lite_search.split(",") if x]:
            for it in ("FLAT", "HNSW"):
                r = bench_lite_search(n, real, it)
                rows.append(r)
                print(json.dumps(r), flush=True)
        report["lite_search"] = rows
        print(table(["Milvus Lite index", "N", "s per 1024 top-25 queries", "projected all N s", "RSS after store MB",
                     "RSS after search MB"],
                    [[r["index"], r["n"], r["search_s_per_1024"], r["projected_all_s"], r["rss_after_store_mb"],
                      r["rss_after_search_mb"]] for r in rows]))
        print()
    if "verify" in parts:
        v = bench_verify()
        report["verify"] = v
        print(f"pixel verification: {v['verify_ms_per_pair']:.2f} ms wall, {v['verify_cpu_ms_per_pair']:.2f} ms CPU "
              f"per candidate pair (load {v['load_avg']:.1f}) "
              f"({v['pairs']} pairs), signature {v['signature_ms']:.1f} ms per photo")
        for r in report.get("index", []):
            proj = r["total_s"] + r["pairs"] * v["verify_ms_per_pair"] / 1000
            print(f"  projected grouping with verification, {r['index_used']} N={r['n']}: {proj:.1f} s "
                  f"(every one of {r['pairs']} candidate pairs verified)")
            for f, m in sorted(r.get("pairs_above", {}).items()):
                print(f"    with a cosine floor {f}: {m} pairs, "
                      f"{r['total_s'] + m * v['verify_ms_per_pair'] / 1000:.1f} s")
        print()
    if "rescan" in parts and a.rescan_files:
        half = a.memory_files or a.rescan_files // 2
        rows = []
        for n in sorted({half, a.rescan_files}):
            r = bench_rescan(n, a.milvus_uri)
            rows.append(r)
            print(json.dumps(r), flush=True)
        report["rescan"] = rows
        print(table(["files", "first scan s", "re-scan s", "re-scan / first", "peak RSS MB",
                     "RSS @25/50/75 % MB", "groups"],
                    [[r["files"], r["first"]["seconds"], r["rescan"]["seconds"], f"{100 * r['rescan_ratio']:.1f} %",
                      r["first"]["peak_rss_mb"], "/".join(f"{x:.0f}" for x in r["first"]["rss_quartiles_mb"]),
                      r["first"]["groups"]] for r in rows]))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
