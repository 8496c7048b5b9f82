"""Group stage: turn candidate neighbour pairs into duplicate and similar groups, without chaining.

Input: the active files, their content rows (facts + signature) and, per content, its nearest
neighbours from the vector index with their cosine. Each candidate pair is verified on pixels
(verify.py) as duplicate / similar / different. Groups are stars around a representative (the
member most likely to be the original), so every member is a verified duplicate of the
representative and two unrelated photos are never glued together through intermediates.
The result is deterministic: it depends only on the set of contents, not on insertion order.
"""
from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .types import FileInfo, Group

try:  # pixel verification and keeper choice (detection-quality modules)
    from . import keeper as keeper_mod
    from . import verify as verify_mod

    verify_mod.verify_contents, keeper_mod.choose_keeper, keeper_mod.original_score  # noqa: B018
except (ImportError, AttributeError):  # pragma: no cover - until those modules land
    keeper_mod = verify_mod = None


#: A node that is not a verified duplicate of a star's centre joins the star when it is a verified
#: duplicate of at least this many of its members.
ATTACH_MIN_LINKS = 2
#: Threads verifying candidate pairs (at most; one per CPU), and pairs per task.
VERIFY_THREADS = 4
VERIFY_BATCH = 64
#: A connected set of similar pictures is shown as one group up to this many files (else split in stars).
SIMILAR_MAX_FILES = 40


@dataclass
class Edge:
    a: int
    b: int
    cosine: float
    relation: str  # duplicate | similar | different
    score: float
    transform: str


class _UnionFind:
    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


def group_id(hashes: list[str]) -> str:
    return hashlib.sha1("\n".join(sorted(hashes)).encode()).hexdigest()[:16]


def build_groups(
    files: list[FileInfo],
    contents: dict[int, dict],
    neighbours,
    *,
    rotations: bool = False,
    pixel_hash_of: Optional[Callable[[int], Optional[str]]] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    model: Optional[str] = None,
    thresholds: Optional[dict] = None,
) -> list[Group]:
    """Build exact / near / similar groups. `neighbours[cid]` = [(other_cid, cosine), ...], or the same as
    arrays (ids, neighbour ids, cosines): ids (N,), the other two (N, k) with -1 where there is none.

    `model` (the embedding's name) selects the model-specific cosine above which two pictures count as
    the same scene even when their pixels cannot be aligned (verify.thresholds_for); `thresholds`
    (e.g. from calibrate.self_calibrate, stored with the library) override single values.
    """
    if verify_mod is not None:
        thresholds = {**verify_mod.thresholds_for(model), **(thresholds or {})}
    by_content: dict[int, list[FileInfo]] = defaultdict(list)
    for f in files:
        by_content[f.content_id].append(f)
    cids = sorted(by_content, key=lambda c: contents[c]["hash"])

    # 1. identical pictures: same bytes (one content) or same decoded pixels (several contents)
    uf = _UnionFind()
    by_pixels: dict[str, list[int]] = defaultdict(list)
    for c in cids:
        uf.find(c)
        ph = contents[c].get("pixel_hash")
        if ph:
            by_pixels[ph].append(c)
    for same in by_pixels.values():
        for other in same[1:]:
            uf.union(same[0], other)

    # 2. verify candidate pairs between different pictures (each unordered pair once, its best cosine)
    edges: dict[tuple[int, int], Edge] = {}
    lo, hi, cos = _candidate_pairs(neighbours, cids)
    root = {c: uf.find(c) for c in cids}
    todo = [i for i, (a, b) in enumerate(zip(lo, hi)) if root[a] != root[b]]

    def check(batch: list[int]) -> list[tuple[str, float, str]]:
        return [_verify(contents[lo[i]], contents[hi[i]], cos[i], rotations, thresholds) for i in batch]

    # pixel verification dominates the grouping time; OpenCV/numpy release the GIL for much of it.
    # Pairs go to the threads in batches (one future per pair would cost more than a cheap verdict).
    batches = [todo[i:i + VERIFY_BATCH] for i in range(0, len(todo), VERIFY_BATCH)]
    workers = max(1, min(VERIFY_THREADS, os.cpu_count() or 1)) if len(todo) >= 512 and verify_mod else 1
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    results = pool.map(check, batches) if pool else map(check, batches)
    try:
        verdicts = []
        for i, r in enumerate(results):
            if progress and i % 8 == 0:
                progress(i * VERIFY_BATCH, len(todo))
            verdicts.extend(r)
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
    for i, (relation, score, transform) in zip(todo, verdicts):  # applied in a fixed order
        if relation == "different":  # only duplicate / similar verdicts shape groups
            continue
        a, b = lo[i], hi[i]
        if uf.find(a) == uf.find(b):
            continue
        if relation == "identical":
            # looks pixel-identical at working size: confirm on full-resolution pixels
            pa = pixel_hash_of(a) if pixel_hash_of else None
            pb = pixel_hash_of(b) if pixel_hash_of else None
            if pa and pa == pb:
                uf.union(a, b)
                for c in (a, b):  # the keeper tells same-pixel versions apart by format (see keeper.py)
                    if not contents[c].get("pixel_hash"):
                        contents[c]["pixel_hash"] = pa
                continue
            relation, transform = "duplicate", transform or "re-compressed"
        edges[(a, b)] = Edge(a, b, cos[i], relation, score, transform)

    # 3. nodes = identical sets; edges between nodes keep the strongest verdict
    node_members: dict[int, list[int]] = defaultdict(list)
    for c in cids:
        node_members[uf.find(c)].append(c)
    node_edges: dict[tuple[int, int], Edge] = {}
    rank = {"duplicate": 2, "similar": 1, "different": 0}
    for (a, b), e in edges.items():
        na, nb = uf.find(a), uf.find(b)
        if na == nb:
            continue
        key = (min(na, nb), max(na, nb))
        old = node_edges.get(key)
        if old is None or (rank[e.relation], e.score) > (rank[old.relation], old.score):
            node_edges[key] = e
    adj: dict[int, dict[int, Edge]] = defaultdict(dict)
    for (na, nb), e in node_edges.items():
        adj[na][nb] = e
        adj[nb][na] = e

    def node_files(n: int) -> list[FileInfo]:
        return [f for c in node_members[n] for f in by_content[c]]

    def node_hashes(n: int) -> list[str]:
        return [contents[c]["hash"] for c in node_members[n]]

    quality = {n: _original_score(node_files(n), contents) for n in node_members}
    tiebreak = {n: min(node_hashes(n)) for n in node_members}
    order = sorted(node_members, key=lambda n: (quality[n], _neg(tiebreak[n])), reverse=True)

    # 4. duplicate clusters: within each connected set of duplicate edges, repeatedly take as centre the
    #    node that is a verified duplicate of the most others still free (the original explains all of its
    #    copies; a copy explains fewer), form its star, and attach a leftover node only when it is a
    #    verified duplicate of at least two of the star's members (two independent confirmations).
    dup_adj: dict[int, set[int]] = {n: {m for m, e in adj[n].items() if e.relation == "duplicate"}
                                    for n in node_members}
    cluster_of: dict[int, int] = {}
    clusters: list[list[int]] = []
    seen: set[int] = set()
    for start in order:
        if start in seen:
            continue
        comp, stack = set(), [start]
        while stack:
            x = stack.pop()
            if x in comp:
                continue
            comp.add(x)
            stack.extend(dup_adj[x] - comp)
        seen |= comp
        left = set(comp)
        while left:
            centre = max(left, key=lambda n: (len(dup_adj[n] & left), quality[n], _neg(tiebreak[n])))
            members = {centre} | (dup_adj[centre] & left)
            while True:
                extra = {n for n in left - members if len(dup_adj[n] & members) >= ATTACH_MIN_LINKS}
                if not extra:
                    break
                members |= extra
            star = [centre] + sorted(members - {centre}, key=lambda m: (quality[m], _neg(tiebreak[m])),
                                     reverse=True)
            for m in star:
                cluster_of[m] = len(clusters)
            clusters.append(star)
            left -= members
    groups: list[Group] = []
    for members in clusters:
        fl = [f for n in members for f in node_files(n)]
        if len(fl) < 2:
            continue
        hashes = [h for n in members for h in node_hashes(n)]
        keep = _choose_keeper(fl, contents)
        if len(members) == 1:
            kind = "exact"
            reason = "same bytes" if len(node_members[members[0]]) == 1 else "same pixels"
            sim = 1.0
        else:
            kind = "near"
            es = [adj[members[0]][m] if m in adj[members[0]] else
                  max((adj[x][m] for x in members if m in adj[x]), key=lambda e: e.score) for m in members[1:]]
            sim = min(e.score for e in es)
            kinds = sorted({e.transform for e in es if e.transform})
            reason = f"{', '.join(kinds) or 'edited'} copy, similarity {sim:.2f}"
        groups.append(Group(kind=kind, files=sorted(fl, key=lambda f: f.path), keep=keep, reason=reason,
                            similarity=sim, id=group_id(hashes)))

    # 5. similar stars (bursts) between duplicate clusters
    cadj: dict[int, dict[int, float]] = defaultdict(dict)
    for (na, nb), e in node_edges.items():
        if e.relation != "similar":
            continue
        ca, cb = cluster_of[na], cluster_of[nb]
        if ca == cb:
            continue
        cadj[ca][cb] = max(cadj[ca].get(cb, 0.0), e.score)
        cadj[cb][ca] = cadj[ca][cb]
    pos = {n: i for i, n in enumerate(order)}
    corder = sorted(range(len(clusters)), key=lambda c: pos[clusters[c][0]])

    def n_files(c: int) -> int:
        return sum(len(node_files(n)) for n in clusters[c])

    # a burst is a chain of shots (1~2~3, while 1 and 3 may differ more): take connected sets of similar
    # clusters whole while they stay small; split bigger ones into stars around the best-connected shot
    similar_sets: list[list[int]] = []
    done: set[int] = set()
    for c in corder:
        if c in done or not cadj[c]:
            continue
        comp, stack = [], [c]
        while stack:
            x = stack.pop()
            if x in done:
                continue
            done.add(x)
            comp.append(x)
            stack.extend(m for m in cadj[x] if m not in done)
        comp.sort(key=lambda m: pos[clusters[m][0]])
        if sum(n_files(m) for m in comp) <= SIMILAR_MAX_FILES:
            similar_sets.append(comp)
            continue
        left = set(comp)
        while left:
            centre = max(left, key=lambda m: (len(set(cadj[m]) & left), -pos[clusters[m][0]]))
            members = [centre] + sorted((m for m in cadj[centre] if m in left), key=lambda m: pos[clusters[m][0]])
            left -= set(members)
            if len(members) >= 2:
                similar_sets.append(members)
    for members in similar_sets:
        fl = [f for m in members for n in clusters[m] for f in node_files(n)]
        hashes = [h for m in members for n in clusters[m] for h in node_hashes(n)]
        keep = _choose_keeper(fl, contents, similar=True)
        times = [contents[cc].get("capture_time") for m in members for n in clusters[m] for cc in node_members[n]]
        reason = "burst: different shots" if all(times) else "similar: different shots of one scene"
        sim = min(max(cadj[m][x] for x in cadj[m] if x in members) for m in members)
        groups.append(Group(kind="similar", files=sorted(fl, key=lambda f: f.path), keep=keep, reason=reason,
                            similarity=sim, id="s" + group_id(hashes)[1:]))
    groups.sort(key=lambda g: ({"exact": 0, "near": 1, "similar": 2}[g.kind], -g.reclaimable_bytes, g.id))
    return groups


def _candidate_pairs(neighbours, cids: list[int]) -> tuple[list[int], list[int], list[float]]:
    """Unordered pairs of different active contents, each once with its best cosine, sorted: (lo, hi, cos)."""
    if isinstance(neighbours, tuple):
        ids, nb, sims = (np.asarray(x) for x in neighbours)
        a = np.repeat(ids.astype(np.int64), nb.shape[1]) if nb.ndim == 2 else np.zeros(0, np.int64)
        b, c = nb.ravel().astype(np.int64), sims.ravel().astype(np.float64)
    else:
        n = sum(len(v) for v in neighbours.values())
        a = np.fromiter((x for x, v in neighbours.items() for _ in v), np.int64, n)
        b = np.fromiter((y for v in neighbours.values() for y, _ in v), np.int64, n)
        c = np.fromiter((z for v in neighbours.values() for _, z in v), np.float64, n)
    active = np.asarray(sorted(cids), dtype=np.int64)
    ok = (b >= 0) & (a != b) & np.isin(a, active) & np.isin(b, active)
    a, b, c = a[ok], b[ok], c[ok]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((-c, hi, lo))  # by pair, best cosine first
    lo, hi, c = lo[order], hi[order], c[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first].tolist(), hi[first].tolist(), c[first].tolist()


def _neg(s: str) -> tuple:
    """Key under which max() prefers the lexicographically smallest string."""
    return tuple(-ord(c) for c in s)


def _verify(row_a: dict, row_b: dict, cosine: float, rotations: bool,
            thresholds: Optional[dict] = None) -> tuple[str, float, str]:
    if verify_mod is not None:
        v = verify_mod.verify_contents(row_a, row_b, cosine=cosine, rotations=rotations, thresholds=thresholds)
        return v.relation, v.score, v.transform
    # embedding-only fallback
    if cosine >= 0.95:
        return "duplicate", cosine, "edited"
    if cosine >= 0.85:
        return "similar", cosine, ""
    return "different", cosine, ""


def _original_score(files: list[FileInfo], contents: dict[int, dict]) -> tuple:
    if keeper_mod is not None:
        return keeper_mod.original_score(files, contents)
    return max((f.width * f.height, -f.mtime) for f in files)


def _choose_keeper(files: list[FileInfo], contents: dict[int, dict], similar: bool = False) -> str:
    if keeper_mod is not None:
        return keeper_mod.choose_keeper(files, contents, similar=similar)
    return max(files, key=lambda f: (f.width * f.height, -f.mtime, f.path)).path
