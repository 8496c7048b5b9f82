"""The library facade: the one object the CLI and the UI drive.

A library is a folder holding the catalog (SQLite), the vectors (Milvus Lite file, unless a Milvus
server URI is given), the action journal and a lock file. `Library.scan` runs the pipeline
scan -> decode -> embed -> index -> group incrementally; `trash` / `undo` are the safe actions.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Optional

import numpy as np

from . import catalog as catalog_mod
from .catalog import Catalog
from .group import build_groups
from .scan import FoundFile, WalkSkip, hash_file, walk
from .types import (DedupError, FileInfo, Group, LibraryInUseError, ProgressCallback, ScanProgress, ScanResult,
                    ScanStats, SkipFile, Skipped, TrashOutcome, UndoOutcome)

log = logging.getLogger(__name__)

#: Neighbours fetched per photo from the vector index (candidates for verification).
NEIGHBOURS_K = 24
#: Embeddings computed between two index commits (a crash loses at most this much work).
COMMIT_EVERY = 64
LOCK_NAME = "library.lock"
CATALOG_NAME = "catalog.sqlite3"
VECTORS_NAME = "vectors.db"
JOURNAL_NAME = "journal.sqlite3"


def default_library_dir() -> str:
    from platformdirs import user_data_dir

    return os.path.join(user_data_dir("desktop-dedup", appauthor=False), "library")


_EMBEDDERS: dict[str, object] = {}
_EMBEDDERS_LOCK = threading.Lock()


def _embedder(model: str):
    """The loaded model, kept for the life of the process (loading costs seconds; scans are repeated)."""
    from .models import load_embedder

    with _EMBEDDERS_LOCK:
        if model not in _EMBEDDERS:
            _EMBEDDERS[model] = load_embedder(model)
        return _EMBEDDERS[model]


#: "0": scans use the built-in cut-offs instead of calibrating on the library (bench comparisons).
CALIBRATE_ENV = "DESKTOP_DEDUP_CALIBRATE"

#: Test hook (crash tests): "embed:N" | "insert[:N]" | "group" -> print a marker on stderr there and block.
PAUSE_ENV = "DESKTOP_DEDUP_TEST_PAUSE_AT"


def _pause_point(point: str) -> None:
    """A no-op unless $DESKTOP_DEDUP_TEST_PAUSE_AT names `point`: then announce it and wait to be killed."""
    want = os.environ.get(PAUSE_ENV)
    if want and (want == point or (want + ":1") == point):
        print(f"DESKTOP_DEDUP_PAUSED {point}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)


def _grouping_fingerprint(files: list[FileInfo], model: str, rotations: bool,
                          calibration: Optional[dict] = None) -> str:
    """Identifies everything grouping depends on: the files and contents, the options, the calibrated
    thresholds and the code."""
    import hashlib
    import json

    from . import calibrate, group, keeper, verify

    h = hashlib.sha1(f"{model}|{rotations}|{verify.SIGNATURE_VERSION}|{__import__('desktop_dedup').__version__}".encode())
    h.update(json.dumps([calibrate.floor_of(calibration, model, rotations), calibrate.thresholds_of(calibration)],
                        sort_keys=True).encode())
    for mod in (group, keeper, verify):
        try:
            with open(mod.__file__, "rb") as fh:
                h.update(fh.read())
        except (OSError, TypeError):  # frozen app: the version above identifies the code
            pass
    for f in files:
        h.update(os.fsencode(f.path) + b"\0" + f.content_hash.encode() + b"\n")
    return h.hexdigest()


class _Lock:
    """An exclusive advisory lock on a file (flock on POSIX, msvcrt on Windows)."""

    def __init__(self, path: str):
        self.path = path
        self.fh = open(path, "a+b")
        try:
            if os.name == "nt":  # pragma: no cover
                import msvcrt

                self.fh.seek(0)
                msvcrt.locking(self.fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            raise LibraryInUseError(
                f"The library {os.path.dirname(path)} is in use by another desktop-dedup window or command.",
                "Close the other one first, or choose another library folder (--library).")
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"{os.getpid()}\n".encode())
        self.fh.flush()

    def release(self) -> None:
        try:
            if os.name != "nt":
                import fcntl

                fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        finally:
            self.fh.close()


class _Rate:
    """Files/s and ETA for progress reports."""

    def __init__(self, phase: str, total: int, callback: Optional[ProgressCallback]):
        self.phase, self.total, self.cb = phase, total, callback
        self.t0 = time.monotonic()
        self.last = 0.0
        self.done = 0

    def step(self, current: str = "", n: int = 1, force: bool = False) -> None:
        self.done += n
        if not self.cb:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        elapsed = max(now - self.t0, 1e-6)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 and self.total else None
        self.cb(ScanProgress(self.phase, self.done, self.total, current, rate, eta))


class Library:
    """An open library (holds its lock until `close`)."""

    def __init__(self, path: str, milvus_uri: Optional[str] = None):
        self.path = os.path.abspath(path)
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise DedupError(f"Cannot create the library folder {self.path}: {exc.strerror or exc}.",
                             "Choose a folder you can write to (--library).") from exc
        if not os.access(self.path, os.W_OK):
            raise DedupError(f"The library folder {self.path} is not writable.",
                             "Choose a folder you can write to (--library).")
        self._lock = _Lock(os.path.join(self.path, LOCK_NAME))
        try:
            self.catalog = Catalog(os.path.join(self.path, CATALOG_NAME))
            from .journal import Journal

            self.journal = Journal(os.path.join(self.path, JOURNAL_NAME))
            self.journal.reconcile()
        except BaseException:
            self._lock.release()
            raise
        self.library_id = self.catalog.meta("library_id") or "lib"
        self.milvus_uri = milvus_uri or self.catalog.setting("milvus_uri") or os.path.join(self.path, VECTORS_NAME)
        if milvus_uri:
            self.catalog.set_setting("milvus_uri", milvus_uri)
        self._indexes: dict[str, object] = {}
        self._closed = False

    @classmethod
    def open(cls, path: Optional[str] = None, *, milvus_uri: Optional[str] = None) -> "Library":
        return cls(path or default_library_dir(), milvus_uri=milvus_uri)

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for idx in self._indexes.values():
            idx.close()
        if self._indexes and "://" not in self.milvus_uri:
            # Milvus Lite keeps its data folder locked by this process until released: free it, so another
            # process (the CLI next to the app, the next command) can open the library once we let go.
            try:
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self.milvus_uri)
            except Exception as exc:  # an older milvus-lite: it is released at process exit
                log.debug("could not release Milvus Lite: %s", exc)
        self.journal.close()
        self.catalog.close()
        self._lock.release()

    # -- index --------------------------------------------------------------------------------
    def _index(self, model: str):
        if model not in self._indexes:
            from .models import MODEL_DIMS
            from .vectors import VectorIndex

            self._indexes[model] = VectorIndex(self.milvus_uri, self.library_id, model, MODEL_DIMS[model])
        return self._indexes[model]

    # -- scan ---------------------------------------------------------------------------------
    def scan(self, roots: list[str], *, exclude: Iterable[str] = (), model: str = "resnet50",
             rotations: bool = False, include_hidden: bool = False,
             progress: Optional[ProgressCallback] = None, cancel: Optional[threading.Event] = None,
             pause: Optional[threading.Event] = None) -> ScanResult:
        """Index `roots` incrementally with `model` and group the result (see module docs)."""
        from .models import MODEL_NAMES

        if model not in MODEL_NAMES:
            raise DedupError(f"Unknown model {model!r}.", f"Choose one of: {', '.join(MODEL_NAMES)}.")
        t0 = time.monotonic()
        roots = [os.path.abspath(r) for r in roots]
        for r in roots:
            if not os.path.isdir(r):
                raise DedupError(f"The folder {r} does not exist or is not a folder.", "Check the path.")
        cancel = cancel or threading.Event()
        exclude = list(exclude)
        stats = ScanStats(model=model)
        skipped: list[Skipped] = []
        scan_id = self.catalog.begin_scan(roots, model)
        self.catalog.set_setting("last_roots", roots)
        self.catalog.set_setting("last_exclude", exclude)
        self.catalog.set_setting("last_model", model)
        self.catalog.set_setting("rotations", rotations)

        def wait_if_paused() -> None:
            while pause is not None and pause.is_set() and not cancel.is_set():
                time.sleep(0.05)

        # 1. walk
        found: list[FoundFile] = []
        walk_skips: list[WalkSkip] = []
        rate = _Rate("walk", 0, progress)
        for ff in walk(roots, exclude, include_hidden=include_hidden, skip_dirs=[self.path],
                       on_skip=walk_skips.append):
            found.append(ff)
            rate.step(ff.path)
            if cancel.is_set():
                return self._cancelled(roots, skipped, stats, t0)
        skipped.extend(Skipped(s.path, s.reason) for s in walk_skips)
        stats.files_seen = len(found) + len(walk_skips)

        # 2. hash what is new or changed; unchanged files keep their content id
        known = {row[0]: row for row in self.catalog.files_under(roots)}
        file_content: dict[str, int] = {}
        to_hash: list[FoundFile] = []
        for ff in found:
            row = known.get(ff.path)
            if row and row[1] == ff.size and row[2] == ff.mtime_ns and row[3] is not None:
                file_content[ff.path] = row[3]
            else:
                to_hash.append(ff)
        rate = _Rate("hash", len(to_hash), progress)
        hashed: list[tuple[FoundFile, Optional[str], Optional[str]]] = []

        def do_hash(ff: FoundFile) -> tuple[FoundFile, Optional[str], Optional[str]]:
            try:
                return ff, hash_file(ff.path), None
            except FileNotFoundError:
                return ff, None, "file disappeared during the scan"
            except PermissionError:
                return ff, None, "cannot read: permission denied"
            except OSError as exc:
                return ff, None, f"cannot read: {exc.strerror or exc}"

        with ThreadPoolExecutor(max_workers=2) as pool:
            for ff, h, err in pool.map(do_hash, to_hash):
                wait_if_paused()
                if cancel.is_set():
                    break
                hashed.append((ff, h, err))
                rate.step(ff.path)
        if cancel.is_set():
            return self._cancelled(roots, skipped, stats, t0)
        with self.catalog.transaction() as db:
            for ff, h, err in hashed:
                if h is None:
                    db.execute("DELETE FROM files WHERE path=?", (catalog_mod.enc(ff.path),))
                    skipped.append(Skipped(ff.path, err or "cannot read"))
                    continue
                row = db.execute("SELECT id FROM contents WHERE hash=?", (h,)).fetchone()
                cid = row[0] if row else db.execute("INSERT INTO contents(hash, size) VALUES (?, ?)",
                                                    (h, ff.size)).lastrowid
                file_content[ff.path] = cid
                db.execute(
                    """INSERT INTO files(path, root, size, mtime_ns, content_id, status, skip_reason, scan_id)
                       VALUES (?,?,?,?,?,'ok',NULL,?)
                       ON CONFLICT(path) DO UPDATE SET root=excluded.root, size=excluded.size,
                         mtime_ns=excluded.mtime_ns, content_id=excluded.content_id, status='ok',
                         skip_reason=NULL, scan_id=excluded.scan_id""",
                    (catalog_mod.enc(ff.path), catalog_mod.enc(ff.root), ff.size, ff.mtime_ns, cid, scan_id))
            # a file seen again on disk is no longer "trashed" (restored outside the app)
            db.executemany("UPDATE files SET status='ok' WHERE path=? AND status='trashed'",
                           [(catalog_mod.enc(p),) for p in file_content])

        # 3. drop files that are gone from the scanned roots (trashed ones stay for undo)
        present = {ff.path for ff in found}
        gone = [p for p, row in known.items() if p not in present and row[4] != "trashed"]
        if gone:
            self.catalog.delete_files(gone)
            stats.removed = len(gone)

        # 4. embed contents this model has not stored yet (the vector database is opened only then)
        embedded_ids = self.catalog.embedded_ids(model)
        skip_reason = {}
        with self.catalog.lock:
            for cid, reason in self.catalog.db.execute("SELECT id, skip_reason FROM contents WHERE skip_reason IS NOT NULL"):
                skip_reason[cid] = reason
        need: dict[int, str] = {}
        for path in sorted(file_content):
            cid = file_content[path]
            if cid not in embedded_ids and cid not in skip_reason and cid not in need:
                need[cid] = path
        if need:
            # vectors stored before an interrupted run recorded them: take them, don't embed again
            index = self._index(model)
            stored = index.existing(need)
            rows = self.catalog.content_rows(stored)
            done_before = [c for c in stored if rows.get(c, {}).get("signature") is not None]
            if done_before:
                got = index.get(done_before)
                done_before = [c for c in done_before if c in got]
                self.catalog.mark_embedded(model, done_before, vectors=np.stack([got[c] for c in done_before])
                                           if done_before else None)
                embedded_ids.update(done_before)
                for c in done_before:
                    need.pop(c, None)
        embedded_now: set[int] = set()
        path_skips: dict[str, str] = {}  # files that vanished or changed while we decoded them
        if need:
            embedded_now = self._embed(model, need, index, progress, cancel, pause, skip_reason, path_skips)
            embedded_ids.update(embedded_now)
            if cancel.is_set():
                stats.embedded = len(embedded_now)
                return self._cancelled(roots, skipped, stats, t0)
        if path_skips:
            # forget them (the next scan hashes them afresh) and report them; their content may live on elsewhere
            self.catalog.delete_files(path_skips)
            for p, reason in path_skips.items():
                if file_content.pop(p, None) is not None:
                    skipped.append(Skipped(p, reason))

        # 5. account for every file: embedded now, reused, or skipped
        counted_embedded: set[int] = set()
        for path in sorted(file_content):
            cid = file_content[path]
            if cid in skip_reason:
                skipped.append(Skipped(path, skip_reason[cid]))
                self.catalog.set_file_status(path, "skipped")
            elif cid in embedded_now and cid not in counted_embedded:
                counted_embedded.add(cid)
                stats.embedded += 1
            else:
                stats.reused += 1
        stats.skipped = len(skipped)

        # 6. orphaned contents (no file left anywhere): drop their vectors too
        orphans = self.catalog.orphan_contents()
        if orphans:
            for m in self.catalog.db.execute("SELECT DISTINCT model FROM embeddings").fetchall():
                try:
                    self._index(m[0]).delete(orphans)
                except Exception as exc:  # a model no longer available: keep going
                    log.warning("could not drop vectors of %s: %s", m[0], exc)
            self.catalog.delete_contents(orphans)

        # 7. group
        groups = self._group(roots, model, rotations, progress, cancel)
        if cancel.is_set():
            return self._cancelled(roots, skipped, stats, t0)
        stats.seconds = time.monotonic() - t0
        self.catalog.finish_scan(scan_id, {
            "files_seen": stats.files_seen, "embedded": stats.embedded, "reused": stats.reused,
            "skipped": stats.skipped, "seconds": stats.seconds, "model": model})
        if progress:
            progress(ScanProgress("done", stats.files_seen, stats.files_seen))
        skipped.sort(key=lambda s: s.path)
        return ScanResult(roots=roots, groups=groups, skipped=skipped, stats=stats)

    def _cancelled(self, roots, skipped, stats, t0) -> ScanResult:
        stats.seconds = time.monotonic() - t0
        stats.skipped = len(skipped)
        return ScanResult(roots=roots, groups=[], skipped=skipped, stats=stats, cancelled=True)

    def _embed(self, model, need: dict[int, str], index, progress, cancel, pause, skip_reason,
               path_skips: Optional[dict[str, str]] = None) -> set[int]:
        """Decode + embed the contents in `need` ({content_id: a path}); returns the ids stored.

        A file that vanished or changed since it was hashed is a problem of that path, not of its content:
        it goes to `path_skips` ({path: reason}) and another file with the same content is tried instead.
        """
        from . import verify
        from .decode import decode
        from .embed import embed_stream
        embedder = _embedder(model)
        rate = _Rate("embed", len(need), progress)
        done: set[int] = set()
        pending: list[tuple[int, np.ndarray, object]] = []

        path_skips = {} if path_skips is None else path_skips
        commits: list[int] = []
        path_level: set[int] = set()  # contents whose every file failed for path reasons (not persisted)

        def as_hashed(p: str, row) -> bool:
            try:
                st = os.stat(p)
            except OSError:
                return False
            return row is not None and st.st_size == row[1] and st.st_mtime_ns == row[2]

        def prepare(job: tuple[int, str]):
            cid, path = job
            with self.catalog.lock:
                others = [catalog_mod.dec(r[0]) for r in self.catalog.db.execute(
                    "SELECT path FROM files WHERE content_id=? AND status='ok'", (cid,))]
            reason = "file disappeared during the scan"
            for p in [path] + sorted(set(others) - {path}):
                row = self.catalog.file_row(p)
                try:
                    d = decode(p)
                except SkipFile as exc:
                    if as_hashed(p, row) and "permission denied" not in exc.reason:
                        raise  # the content itself is bad
                    reason = exc.reason if not os.path.lexists(p) else "changed during the scan; scan again"
                    path_skips[p] = reason
                    continue
                if not as_hashed(p, row):
                    reason = path_skips[p] = "changed during the scan; scan again"
                    continue
                d.signature = verify.make_signature(d.image)
                return d
            path_level.add(cid)
            raise SkipFile(reason)

        def commit() -> None:
            if not pending:
                return
            ids = [p[0] for p in pending]
            index.upsert(ids, np.stack([p[1] for p in pending]))
            commits.append(len(ids))
            _pause_point(f"insert:{len(commits)}")
            with self.catalog.transaction() as db:
                for cid, _vec, d in pending:
                    self.catalog.set_content_decoded(
                        cid, width=d.width, height=d.height, format=d.format, capture_time=d.capture_time,
                        camera=d.camera, camera_serial=d.camera_serial, facts=d.facts, pixel_hash=d.pixel_hash,
                        signature=d.signature, sig_version=verify.SIGNATURE_VERSION, db=db)
                self.catalog.mark_embedded(model, ids, db=db, vectors=np.stack([p[1] for p in pending]))
            done.update(ids)
            pending.clear()

        jobs = sorted(need.items(), key=lambda kv: kv[1])
        for r in embed_stream(embedder, jobs, prepare, cancel=cancel, pause=pause):
            cid, path = r.job
            if r.error is not None and cid in path_level:
                pass  # reported per file through path_skips; the content is retried by the next scan
            elif r.error is not None:
                skip_reason[cid] = r.error
                with self.catalog.transaction() as db:
                    db.execute("UPDATE contents SET skip_reason=? WHERE id=?", (r.error, cid))
            else:
                pending.append((cid, r.vector, r.prepared))
                if len(pending) >= COMMIT_EVERY:
                    commit()
            rate.step(path)
            _pause_point(f"embed:{rate.done}")
        commit()  # also when cancelled: finished work is kept and the next scan resumes from here
        return done

    def _vector_copies(self, model: str, cids: list[int]) -> tuple[np.ndarray, list[int]]:
        """The catalog's float16 vector copies of `cids` (rows in order) and the ids that have none. Copies
        missing in a library written before they existed are filled from the vector index once."""
        from .models import MODEL_DIMS

        dim = MODEL_DIMS[model]
        vecs, missing = self.catalog.load_vectors(model, cids, dim)
        if missing:
            index = self._index(model)
            for s in range(0, len(missing), 4096):
                got = index.get(missing[s:s + 4096])
                have = [c for c in missing[s:s + 4096] if c in got]
                if have:
                    self.catalog.set_vectors(model, have, np.stack([got[c] for c in have]))
            vecs, missing = self.catalog.load_vectors(model, cids, dim)
        return vecs, missing

    def _neighbours(self, model: str, cids: list[int], floor: Optional[float], progress,
                    cancel: threading.Event):
        """Top NEIGHBOURS_K (content id, cosine) of every content, at or above `floor`, as arrays: ids (N,),
        neighbour ids and cosines (N, k; -1 / -inf where there is none), build_groups' array form.

        Vectors come from the catalog's float16 copies (filled from Milvus once for older libraries).
        On Milvus Lite the pass runs locally (knn.py: Lite's in-process search costs ~6 s per 1024
        queries at 100k vectors and opening it ~1.7 GB); on a server, the server searches (HNSW).
        """
        from . import knn
        from .vectors import SEARCH_BATCH, is_lite

        vecs, missing = self._vector_copies(model, cids)
        if missing:  # not in Milvus either (removed outside the app): left out of this grouping
            log.warning("%d contents have no stored vector for %s; re-scan to embed them", len(missing), model)
            gone = set(missing)
            keep = [i for i, c in enumerate(cids) if c not in gone]
            cids, vecs = [cids[i] for i in keep], vecs[keep]
        rate = _Rate("group", len(cids), progress)
        if is_lite(self.milvus_uri):
            def step(done: int, total: int) -> None:
                rate.step(n=done - rate.done, force=True)

            rows, sims = knn.all_neighbours(vecs, NEIGHBOURS_K, floor=floor, progress=step, cancel=cancel)
            ids = np.asarray(cids, dtype=np.int64)
            return ids, np.where(rows >= 0, ids[np.maximum(rows, 0)], -1), sims  # build_groups' array form
        index = self._index(model)
        active = set(cids)
        nb = np.full((len(cids), NEIGHBOURS_K), -1, dtype=np.int64)
        sims = np.full((len(cids), NEIGHBOURS_K), -np.inf, dtype=np.float32)
        for i in range(0, len(cids), SEARCH_BATCH):
            if cancel.is_set():
                break
            chunk = cids[i:i + SEARCH_BATCH]
            res = index.search(vecs[i:i + SEARCH_BATCH].astype(np.float32), NEIGHBOURS_K + 1, floor=floor,
                               restrict=active)
            for r, (c, hits) in enumerate(zip(chunk, res), start=i):
                hits = [(h, s) for h, s in hits if h != c][:NEIGHBOURS_K]
                if hits:
                    nb[r, :len(hits)] = [h for h, _ in hits]
                    sims[r, :len(hits)] = [s for _, s in hits]
            rate.step(n=len(chunk), force=True)
        return np.asarray(cids, dtype=np.int64), nb, sims

    def _group(self, roots, model, rotations, progress, cancel) -> list[Group]:
        _pause_point("group")
        files = self.catalog.active_files(roots, model)
        path_of: dict[int, str] = {}  # one path per content
        for f in files:
            path_of.setdefault(f.content_id, f.path)
        from . import calibrate

        calibration = self._calibrate(files, path_of, model, progress, cancel)
        if cancel.is_set():
            return []
        # an unchanged library (same files, same contents, same settings and code) keeps its groups:
        # a re-scan then costs a walk and a few queries, not a new round of pixel verification
        fingerprint = _grouping_fingerprint(files, model, rotations, calibration)
        key = f"groups_fingerprint:{model}"
        if self.catalog.setting(key) == fingerprint:
            by_path = {f.path: f for f in files}
            kept = []
            stored = self.catalog.stored_groups(model)
            for g in stored:
                members = [by_path[p] for p in g["files"] if p in by_path]
                if len(members) == len(g["files"]):
                    kept.append(Group(kind=g["kind"], files=members, keep=g["keep"], reason=g["reason"] or "",
                                      similarity=g["similarity"] or 0.0, id=g["id"]))
            if len(kept) == len(stored):
                return kept
        cids = sorted({f.content_id for f in files})
        contents = self.catalog.content_rows(cids, lazy_signatures=True)  # signatures read when verified
        self._refresh_signatures(contents, path_of, progress, cancel)
        floor = calibrate.floor_of(calibration, model, rotations)
        neighbours = self._neighbours(model, cids, floor, progress, cancel)
        if cancel.is_set():
            return []

        def pixel_hash_of(cid: int) -> Optional[str]:
            row = contents[cid]
            if row.get("pixel_hash"):
                return row["pixel_hash"]
            from .decode import full_pixel_hash

            path = path_of.get(cid)
            ph = full_pixel_hash(path) if path else None
            if ph:
                row["pixel_hash"] = ph
                self.catalog.set_pixel_hash(cid, ph)
            return ph

        groups = build_groups(files, contents, neighbours, rotations=rotations, pixel_hash_of=pixel_hash_of,
                              model=model, thresholds=calibrate.thresholds_of(calibration))
        self.catalog.replace_groups(model, [
            {"id": g.id, "kind": g.kind, "keep": g.keep, "reason": g.reason, "similarity": g.similarity,
             "files": g.paths} for g in groups])
        self.catalog.set_setting(key, fingerprint)
        return groups

    def _calibrate(self, files: list[FileInfo], path_of: dict[int, str], model: str, progress,
                   cancel) -> Optional[dict]:
        """This library's cut-offs for `model` (calibrate.calibrate_library on a sample of its photos), stored
        in the catalog under "calibration:<model>".  Reused until the calibration method changes or the library
        has doubled in size since (a re-scan stays cheap); None when cancelled before one was stored.
        """
        from . import calibrate, verify

        key = f"calibration:{model}"
        if os.environ.get(CALIBRATE_ENV) == "0":  # comparisons (bench quality --constants): built-in values
            return None
        hashes = {f.content_id: f.content_hash for f in files}
        stored = self.catalog.setting(key)
        if stored and stored.get("version") == calibrate.CALIBRATION_VERSION \
                and len(hashes) < max(2 * int(stored.get("library_size") or 0), 1):
            return stored
        ids = calibrate.sample_contents(hashes, calibrate.sample_size(len(hashes)))
        rate = _Rate("calibrate", len(ids), progress)
        photos, sampled = [], []
        from .decode import decode

        for cid in ids:
            try:
                photos.append(decode(path_of[cid]).image)
                sampled.append(cid)
            except SkipFile:
                continue
        neighbours = self._sample_neighbours(model, sampled, sorted(hashes), calibrate.NEIGHBOURS_CHECKED)
        embedder = _embedder(model) if photos else None

        def embed(images):
            return embedder.embed(np.stack([embedder.preprocess(im) for im in images]))

        result = calibrate.calibrate_library(photos, embed, neighbours, model=model, library_size=len(hashes),
                                             step=lambda: rate.step(force=True), cancel=cancel)
        if result is None:
            return stored
        self.catalog.set_setting(key, result)
        log.info("calibrated %s on %d photos in %.1fs: floor %s, similar %s, template %s", model,
                 result["sample"], result["seconds"], result["floor"], result["similar_cosine"],
                 result["template_cosine"])
        return result

    def _sample_neighbours(self, model: str, sample: list[int], cids: list[int], k: int) -> list[list]:
        """Each sample content's k nearest contents among `cids` as (cosine, signature), best first, itself and
        contents without a current signature left out; exact, from the catalog's vector copies in blocks."""
        from . import verify

        def load(ids: list[int]) -> tuple[np.ndarray, set]:
            vecs, gone = self._vector_copies(model, ids)
            return np.asarray(vecs, np.float32), set(gone)

        q, lost = load(sample)
        best_i = np.zeros((len(sample), 0), np.int64)
        best_s = np.zeros((len(sample), 0), np.float32)
        for s in range(0, len(cids), 8192):
            block = cids[s:s + 8192]
            vecs, gone = load(block)
            sims = q @ vecs.T
            if gone:
                sims[:, [i for i, c in enumerate(block) if c in gone]] = -np.inf
            best_s = np.concatenate([best_s, sims], axis=1)
            best_i = np.concatenate([best_i, np.broadcast_to(np.arange(s, s + len(block)), sims.shape)], axis=1)
            keep = np.argsort(-best_s, axis=1, kind="stable")[:, :k + 1]
            best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
        rows = self.catalog.content_rows({cids[j] for j in best_i.ravel().tolist()})
        out: list[list] = []
        for c, js, ss in zip(sample, best_i.tolist(), best_s.tolist()):
            nb = []
            for j, sim in zip(js, ss if c not in lost else []):
                row = rows.get(cids[j], {})
                if cids[j] != c and row.get("signature") and row.get("sig_version") == verify.SIGNATURE_VERSION:
                    nb.append((float(sim), bytes(row["signature"])))
            out.append(nb[:k])
        return out

    def _refresh_signatures(self, contents: dict[int, catalog_mod.LazyRow], path_of: dict[int, str], progress,
                            cancel) -> None:
        """Re-make pixel signatures stored by an older verify.SIGNATURE_VERSION (the embedding stays): without a
        current signature a pair gets no pixel verification at all.  Updates `contents` (rows read with
        lazy signatures: only their flags are looked at here) and the catalog."""
        from . import verify
        from .decode import decode

        stale = sorted(c for c, r in contents.items() if c in path_of
                       and (not r.has_signature or r.get("sig_version") != verify.SIGNATURE_VERSION))
        if not stale:
            return
        rate = _Rate("group", len(stale), progress)

        def redo(cid: int):
            if cancel.is_set():
                return cid, None
            try:
                d = decode(path_of[cid])
                return cid, (d, verify.make_signature(d.image))
            except SkipFile:  # unreadable now: it keeps its old signature (no pixel verification)
                return cid, None

        with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8))) as pool:
            for cid, got in pool.map(redo, stale):
                rate.step(path_of[cid])
                if got is None:
                    continue
                d, sig = got
                self.catalog.set_content_decoded(
                    cid, width=d.width, height=d.height, format=d.format, capture_time=d.capture_time,
                    camera=d.camera, camera_serial=d.camera_serial, facts=d.facts, pixel_hash=d.pixel_hash,
                    signature=sig, sig_version=verify.SIGNATURE_VERSION)
                contents[cid].update(width=d.width, height=d.height, format=d.format, capture_time=d.capture_time,
                                     camera=d.camera, camera_serial=d.camera_serial, facts=d.facts,
                                     pixel_hash=d.pixel_hash, signature=sig, sig_version=verify.SIGNATURE_VERSION)

    def calibration(self, model: Optional[str] = None) -> Optional[dict]:
        """The stored calibration of `model` (default: the last scan's), or None before its first scan."""
        model = model or self._model()
        return self.catalog.setting(f"calibration:{model}") if model else None

    # -- review -------------------------------------------------------------------------------
    def _model(self) -> Optional[str]:
        last = self.catalog.last_scan()
        return last["model"] if last else self.catalog.setting("last_model")

    def groups(self, *, include_dismissed: bool = False) -> list[Group]:
        """Groups of the last scan; members no longer present (trashed, removed) are left out."""
        model = self._model()
        if not model:
            return []
        dismissed = set() if include_dismissed else self.catalog.dismissed()
        out = []
        for g in self.catalog.stored_groups(model):
            if g["id"] in dismissed:
                continue
            files = []
            for p in g["files"]:
                fi = self.catalog.file_info(p)
                if fi is None or not os.path.lexists(p):
                    continue
                with self.catalog.lock:
                    status = self.catalog.db.execute("SELECT status FROM files WHERE path=?",
                                                     (catalog_mod.enc(p),)).fetchone()
                if status and status[0] != "ok":
                    continue
                files.append(fi)
            if len(files) < 2:
                continue
            keep = g["keep"] if any(f.path == g["keep"] for f in files) else files[0].path
            out.append(Group(kind=g["kind"], files=files, keep=keep, reason=g["reason"] or "",
                             similarity=g["similarity"] or 0.0, id=g["id"]))
        return out

    def dismiss_group(self, group_id: str) -> None:
        self.catalog.dismiss(group_id)

    def file_info(self, path: str) -> Optional[FileInfo]:
        return self.catalog.file_info(os.path.abspath(path))

    def settings_get(self, key: str, default=None):
        return self.catalog.setting(key, default)

    def settings_set(self, key: str, value) -> None:
        self.catalog.set_setting(key, value)

    def info(self) -> dict:
        files, size = self.catalog.totals()
        last = self.catalog.last_scan()
        model = self._model()
        groups = len(self.catalog.stored_groups(model)) if model else 0
        return {
            "path": self.path, "files": files, "bytes": size, "groups": groups,
            "last_scan": _dt.datetime.fromtimestamp(last["finished"]).isoformat(timespec="seconds") if last else None,
            "model": model, "roots": self.catalog.setting("last_roots", []), "milvus_uri": self.milvus_uri,
            "calibration": self.calibration(model),
        }

    # -- safe actions -------------------------------------------------------------------------
    def trash(self, paths: list[str], *, unique_ok: bool = False) -> TrashOutcome:
        """Move files to the OS trash as one journalled action, refusing anything unsafe (see safety docs)."""
        from . import trash as trash_mod

        out = TrashOutcome()
        model = self._model()
        stored = self.catalog.stored_groups(model) if model else []
        roots = self.catalog.setting("last_roots", [])
        dup_groups_of: dict[str, list[dict]] = {}
        in_any_group: set[str] = set()
        for g in stored:
            for p in g["files"]:
                in_any_group.add(p)
                if g["kind"] in ("exact", "near"):
                    dup_groups_of.setdefault(p, []).append(g)
        accepted: list[tuple[str, FileInfo]] = []
        leaving: set[str] = set()
        for path in dict.fromkeys(os.path.abspath(p) for p in paths):  # a file named twice is handled once
            reason = self._trash_refusal(path, roots, dup_groups_of, leaving, unique_ok)
            if reason:
                out.refused.append({"path": path, "reason": reason})
                continue
            leaving.add(path)
            accepted.append((path, self.catalog.file_info(path)))
        if not accepted:
            return out
        action = self.journal.begin_action("trash", {"count": len(accepted)})
        out.action_id = action
        try:
            for path, fi in accepted:
                entry = self.journal.record_intent(action, path, {
                    "size": fi.size, "mtime": fi.mtime, "content_hash": fi.content_hash})
                try:
                    trash_path = trash_mod.send_to_trash(path)
                except Exception as exc:
                    self.journal.record_failed(entry, str(exc))
                    out.refused.append({"path": path, "reason": f"could not move to the trash: {exc}"})
                    continue
                self.journal.record_done(entry, trash_path)
                self.catalog.set_file_status(path, "trashed")
                out.trashed.append({"path": path, "trash_path": trash_path})
        finally:
            self.journal.end_action(action)
        return out

    def _trash_refusal(self, path: str, roots: list[str], dup_groups_of: dict, leaving: set[str],
                       unique_ok: bool) -> Optional[str]:
        if not os.path.lexists(path):
            return "no longer there (file not found)"
        if not any(path == r or path.startswith(os.path.join(r, "")) for r in roots):
            return "outside the indexed folders"
        row = self.catalog.file_row(path)
        if row is None or row[3] is None:
            return "not in the library (scan its folder first)"
        if row[4] == "trashed":
            return "already in the trash"
        if row[4] != "ok":
            return "not indexed (it was skipped by the scan)"
        fi = self.catalog.file_info(path)
        if not self._unchanged(path, row[1], row[2], fi.content_hash):
            return "changed since the scan (size, date or content differ); scan again first"
        groups = dup_groups_of.get(path, [])
        if not groups:
            if unique_ok:
                return None
            return "has no duplicate (unique photo); use --unique-ok to trash it anyway"
        for g in groups:
            others = [p for p in g["files"] if p != path and p not in leaving and self._still_a_copy(p)]
            if not others:
                return "last remaining copy of its group (every other copy is gone or being trashed)"
        return None

    def _unchanged(self, path: str, size: int, mtime_ns: int, content_hash: str) -> bool:
        try:
            st = os.stat(path)
        except OSError:
            return False
        if st.st_size != size or st.st_mtime_ns != mtime_ns:
            return False
        try:
            return hash_file(path) == content_hash
        except OSError:
            return False

    def _still_a_copy(self, path: str) -> bool:
        """True if `path` is still there, untrashed and unchanged since the scan (size, mtime and content hash:
        a copy edited in place with its date put back is no longer a copy)."""
        row = self.catalog.file_row(path)
        if row is None or row[4] != "ok" or row[3] is None:
            return False
        fi = self.catalog.file_info(path)
        return fi is not None and self._unchanged(path, row[1], row[2], fi.content_hash)

    def undo(self, *, all: bool = False) -> UndoOutcome:
        from .journal import undo_action, undo_all, undo_last

        outcome = undo_all(self.journal) if all else undo_last(self.journal)
        if not outcome.actions:
            # nothing new to undo: retry files an earlier undo had to leave in the trash (their path was taken;
            # the refusal told the user to move that file away and retry), newest action first
            retry = [a.id for a in self.journal.actions() if a.undone and a.done_entries]
            for aid in retry[:None if all else 1]:
                one = undo_action(self.journal, aid)
                outcome.restored += one.restored
                outcome.refused += one.refused
                outcome.actions += one.actions
            if outcome.actions:
                n, r = len(outcome.restored), len(outcome.refused)
                outcome.message = f"restored {n} file{'s' if n != 1 else ''}" + (f"; {r} left in the trash" if r else "")
        for r in outcome.restored:
            self.catalog.set_file_status(r["path"], "ok")
        return outcome

    def history(self) -> list[dict]:
        out = []
        for a in self.journal.actions():
            out.append({
                "id": a.id, "kind": a.kind,
                "time": _dt.datetime.fromtimestamp(a.time).isoformat(timespec="seconds"),
                "undone": a.undone,
                "files": [{"path": e.path, "trash_path": e.trash_path, "status": e.state} for e in a.entries],
            })
        return out
