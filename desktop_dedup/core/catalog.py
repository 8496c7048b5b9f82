"""Catalog: the library's SQLite database of files, contents, scan state, groups and settings.

One row per *content* (unique whole-file hash) and one per *file path*; byte-identical files and
moved files share a content, so its embedding is computed once. Vectors themselves live in Milvus
(see vectors.py), keyed by content id; the `embeddings` table records which content ids are stored
for which model, written only after Milvus accepted them, with a float16 copy of the (L2-normalised)
vector that the grouping pass reads in bulk (knn.py) without asking the vector database N times.

Paths are stored as bytes (os.fsencode) so names that are not valid UTF-8 survive.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Iterable, Iterator, Optional

import numpy as np

from .types import DedupError, FileInfo

SCHEMA_VERSION = 2
APP_ID = "desktop-dedup-library"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contents (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    width INTEGER, height INTEGER, format TEXT,
    capture_time TEXT, camera TEXT, camera_serial TEXT,
    facts TEXT, pixel_hash TEXT,
    signature BLOB, sig_version INTEGER,
    skip_reason TEXT
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    root BLOB NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_id INTEGER REFERENCES contents(id),
    status TEXT NOT NULL DEFAULT 'ok',      -- ok | skipped | trashed
    skip_reason TEXT,
    scan_id INTEGER
);
CREATE INDEX IF NOT EXISTS files_content ON files(content_id);
CREATE TABLE IF NOT EXISTS embeddings (
    content_id INTEGER NOT NULL,
    model TEXT NOT NULL,
    vector BLOB,                            -- float16, L2-normalised (NULL: only in Milvus, v1 library)
    PRIMARY KEY (content_id, model)
);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL, finished REAL,
    roots TEXT NOT NULL, model TEXT NOT NULL, stats TEXT
);
CREATE TABLE IF NOT EXISTS groups (
    id TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    keep BLOB NOT NULL,
    reason TEXT, similarity REAL,
    members TEXT NOT NULL,              -- JSON list of file paths (fsdecoded, surrogateescape)
    ord INTEGER NOT NULL,
    PRIMARY KEY (model, id)
);
CREATE TABLE IF NOT EXISTS dismissed (group_id TEXT PRIMARY KEY, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class LazyRow(dict):
    """A content row whose "signature" is read through `load(id)` each time it is asked for (not kept),
    unless it is set on the row; `has_signature` says whether there is one without reading it."""

    def __init__(self, data: dict, load, has_signature: bool):
        super().__init__(data)
        self._load = load
        self.has_signature = has_signature

    def _sig(self):
        return self._load(self["id"]) if self.has_signature else None

    def __missing__(self, key):
        if key == "signature":
            return self._sig()
        raise KeyError(key)

    def get(self, key, default=None):
        if key == "signature" and not dict.__contains__(self, key):
            sig = self._sig()
            return default if sig is None else sig
        return super().get(key, default)


def _blobs(vectors: np.ndarray) -> list[bytes]:
    v = np.asarray(vectors, dtype=np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return [row.tobytes() for row in v.astype(np.float16)]


def enc(path: str) -> bytes:
    return os.fsencode(path)


def dec(blob: bytes) -> str:
    return os.fsdecode(bytes(blob))


class Catalog:
    """Thread-safe wrapper around one SQLite connection (WAL, synchronous=NORMAL + explicit commits)."""

    def __init__(self, path: str):
        self.path = path
        existed = os.path.exists(path) and os.path.getsize(path) > 0
        try:
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        except sqlite3.DatabaseError as exc:
            raise DedupError(f"The library database {path} cannot be opened: {exc}.",
                             "Choose another library folder, or move this one away to start afresh.") from exc
        self.lock = threading.RLock()
        try:
            # check what the file is before anything writes to it (WAL mode rewrites the header of a foreign file)
            self._prepare(existed)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise DedupError(f"The library database {path} is damaged or not a desktop-dedup library ({exc}).",
                             "Choose another library folder, or move this one away to start afresh.") from exc
        except BaseException:
            self.db.close()
            raise

    # -- schema ---------------------------------------------------------------------------------
    def _prepare(self, existed: bool) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if existed and "meta" not in tables:
            raise DedupError(f"{self.path} is not a desktop-dedup library database.",
                             "Choose an empty folder or an existing desktop-dedup library.")
        if "meta" in tables:
            meta = dict(self.db.execute("SELECT key, value FROM meta"))
            if meta.get("app") != APP_ID:
                raise DedupError(f"{self.path} is not a desktop-dedup library database.",
                                 "Choose an empty folder or an existing desktop-dedup library.")
            version = int(meta.get("schema_version", "0"))
            if version > SCHEMA_VERSION:
                raise DedupError(
                    f"This library was written by a newer version of desktop-dedup (format {version}; "
                    f"this version reads up to {SCHEMA_VERSION}).",
                    "Update desktop-dedup, or choose another library folder.")
            if version < SCHEMA_VERSION:
                self._migrate(version)
            return
        self.db.executescript(SCHEMA)
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('app', ?)", (APP_ID,))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('library_id', ?)", (os.urandom(6).hex(),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('created', ?)", (str(time.time()),))

    def _migrate(self, version: int) -> None:
        """Upgrade an older library in place (one step per version). Version 0 had no data worth keeping."""
        migrations: dict[int, str] = {
            # 1 -> 2: a copy of each vector for the grouping pass; old rows are filled from Milvus on use
            1: "ALTER TABLE embeddings ADD COLUMN vector BLOB;",
        }
        while version < SCHEMA_VERSION:
            step = migrations.get(version)
            if step is None:
                raise DedupError(
                    f"This library uses an old format ({version}) that this version cannot upgrade.",
                    "Choose a new library folder; the photos themselves are untouched.")
            self.db.executescript(step)
            version += 1
            with self.transaction() as db:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))

    def meta(self, key: str) -> Optional[str]:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # -- files and contents -----------------------------------------------------------------------
    def file_row(self, path: str) -> Optional[sqlite3.Row]:
        with self.lock:
            cur = self.db.execute(
                "SELECT id, size, mtime_ns, content_id, status, skip_reason FROM files WHERE path=?", (enc(path),))
            return cur.fetchone()

    def content_by_hash(self, h: str) -> Optional[int]:
        with self.lock:
            row = self.db.execute("SELECT id FROM contents WHERE hash=?", (h,)).fetchone()
            return row[0] if row else None

    def ensure_content(self, h: str, size: int) -> int:
        with self.transaction() as db:
            row = db.execute("SELECT id FROM contents WHERE hash=?", (h,)).fetchone()
            if row:
                return row[0]
            return db.execute("INSERT INTO contents(hash, size) VALUES (?, ?)", (h, size)).lastrowid

    def upsert_file(self, path: str, root: str, size: int, mtime_ns: int, content_id: Optional[int],
                    status: str, skip_reason: Optional[str], scan_id: int) -> None:
        with self.transaction() as db:
            db.execute(
                """INSERT INTO files(path, root, size, mtime_ns, content_id, status, skip_reason, scan_id)
                   VALUES (?,?,?,?,?,?,?,?)
                   ON CONFLICT(path) DO UPDATE SET root=excluded.root, size=excluded.size,
                     mtime_ns=excluded.mtime_ns, content_id=excluded.content_id, status=excluded.status,
                     skip_reason=excluded.skip_reason, scan_id=excluded.scan_id""",
                (enc(path), enc(root), size, mtime_ns, content_id, status, skip_reason, scan_id))

    def touch_files(self, paths: Iterable[str], scan_id: int) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE files SET scan_id=? WHERE path=?", [(scan_id, enc(p)) for p in paths])

    def set_content_decoded(self, content_id: int, *, width: int, height: int, format: str,
                            capture_time: Optional[str], camera: Optional[str], camera_serial: Optional[str],
                            facts: dict, pixel_hash: Optional[str], signature: Optional[bytes],
                            sig_version: Optional[int], db: Optional[sqlite3.Connection] = None) -> None:
        sql = ("""UPDATE contents SET width=?, height=?, format=?, capture_time=?, camera=?, camera_serial=?,
                    facts=?, pixel_hash=?, signature=?, sig_version=?, skip_reason=NULL WHERE id=?""",
               (width, height, format, capture_time, camera, camera_serial, json.dumps(facts), pixel_hash,
                signature, sig_version, content_id))
        if db is not None:
            db.execute(*sql)
        else:
            with self.transaction() as tx:
                tx.execute(*sql)

    def set_pixel_hash(self, content_id: int, pixel_hash: Optional[str]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE contents SET pixel_hash=? WHERE id=?", (pixel_hash, content_id))

    def embedded_ids(self, model: str) -> set[int]:
        with self.lock:
            return {r[0] for r in self.db.execute("SELECT content_id FROM embeddings WHERE model=?", (model,))}

    def mark_embedded(self, model: str, content_ids: Iterable[int], db: Optional[sqlite3.Connection] = None,
                      vectors: Optional[np.ndarray] = None) -> None:
        """Record that Milvus holds these contents' vectors (and keep the float16 copy when given)."""
        content_ids = list(content_ids)
        blobs = _blobs(vectors) if vectors is not None else [None] * len(content_ids)
        rows = [(cid, model, b) for cid, b in zip(content_ids, blobs)]
        sql = ("INSERT INTO embeddings(content_id, model, vector) VALUES (?,?,?) ON CONFLICT(content_id, model) "
               "DO UPDATE SET vector=COALESCE(excluded.vector, embeddings.vector)")
        if db is not None:
            db.executemany(sql, rows)
        else:
            with self.transaction() as tx:
                tx.executemany(sql, rows)

    def load_vectors(self, model: str, content_ids: list[int], dim: int) -> tuple[np.ndarray, list[int]]:
        """(float16 array, one row per id in order; ids whose copy is missing -> zero rows, listed)."""
        out = np.zeros((len(content_ids), dim), dtype=np.float16)
        missing = []
        pos = {c: i for i, c in enumerate(content_ids)}
        with self.lock:
            for s in range(0, len(content_ids), 900):
                chunk = content_ids[s:s + 900]
                q = ",".join("?" * len(chunk))
                found = set()
                for cid, blob in self.db.execute(
                        f"SELECT content_id, vector FROM embeddings WHERE model=? AND content_id IN ({q})",
                        [model, *chunk]):
                    if blob is not None and len(blob) == 2 * dim:
                        out[pos[cid]] = np.frombuffer(blob, dtype=np.float16)
                        found.add(cid)
                missing.extend(c for c in chunk if c not in found)
        return out, missing

    def set_vectors(self, model: str, content_ids: list[int], vectors: np.ndarray) -> None:
        """Fill the float16 copies (e.g. of a library written before they existed)."""
        with self.transaction() as db:
            db.executemany("UPDATE embeddings SET vector=? WHERE content_id=? AND model=?",
                           [(b, cid, model) for cid, b in zip(content_ids, _blobs(vectors))])

    def files_under(self, roots: Iterable[str]) -> list[tuple[str, int, int, Optional[int], str, Optional[int]]]:
        """(path, size, mtime_ns, content_id, status, scan_id) of every catalogued file below `roots`."""
        out = []
        with self.lock:
            for root in roots:
                prefix = enc(os.path.join(root, ""))
                for row in self.db.execute(
                        "SELECT path, size, mtime_ns, content_id, status, scan_id FROM files "
                        "WHERE path = ? OR substr(path, 1, ?) = ?", (enc(root), len(prefix), prefix)):
                    out.append((dec(row[0]), row[1], row[2], row[3], row[4], row[5]))
        return out

    def delete_files(self, paths: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM files WHERE path=?", [(enc(p),) for p in paths])

    def orphan_contents(self) -> list[int]:
        """Content ids that no file refers to any more."""
        with self.lock:
            return [r[0] for r in self.db.execute(
                "SELECT id FROM contents WHERE id NOT IN (SELECT content_id FROM files WHERE content_id IS NOT NULL)")]

    def delete_contents(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        with self.transaction() as db:
            db.executemany("DELETE FROM embeddings WHERE content_id=?", [(i,) for i in ids])
            db.executemany("DELETE FROM contents WHERE id=?", [(i,) for i in ids])

    def set_file_status(self, path: str, status: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE files SET status=? WHERE path=?", (status, enc(path)))

    def file_info(self, path: str) -> Optional[FileInfo]:
        with self.lock:
            row = self.db.execute(
                """SELECT f.path, f.size, f.mtime_ns, c.hash, c.width, c.height, c.format, c.capture_time,
                          c.camera, c.id, f.status
                   FROM files f JOIN contents c ON c.id = f.content_id WHERE f.path=?""", (enc(path),)).fetchone()
        return _file_info(row) if row else None

    def active_files(self, roots: Iterable[str], model: str) -> list[FileInfo]:
        """Files below `roots` with status ok whose content has an embedding for `model`."""
        out = []
        with self.lock:
            for root in roots:
                prefix = enc(os.path.join(root, ""))
                for row in self.db.execute(
                        """SELECT f.path, f.size, f.mtime_ns, c.hash, c.width, c.height, c.format, c.capture_time,
                                  c.camera, c.id, f.status
                           FROM files f JOIN contents c ON c.id = f.content_id
                           JOIN embeddings e ON e.content_id = c.id AND e.model = ?
                           WHERE f.status = 'ok' AND substr(f.path, 1, ?) = ?""",
                        (model, len(prefix), prefix)):
                    out.append(_file_info(row))
        uniq = {f.path: f for f in out}
        return [uniq[p] for p in sorted(uniq)]

    def content_rows(self, ids: Iterable[int], lazy_signatures: bool = False) -> dict[int, dict]:
        """Decoded facts and signature per content id. With `lazy_signatures` each row reads its pixel
        signature (~15 KB) from the database when asked for it, so 100k rows stay small in memory."""
        out = {}
        ids = list(ids)
        sig_col = "signature IS NOT NULL" if lazy_signatures else "signature"
        with self.lock:
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                q = ",".join("?" * len(chunk))
                for row in self.db.execute(
                        f"""SELECT id, hash, size, width, height, format, capture_time, camera, camera_serial,
                                   facts, pixel_hash, {sig_col}, sig_version FROM contents WHERE id IN ({q})""", chunk):
                    d = {
                        "id": row[0], "hash": row[1], "size": row[2], "width": row[3], "height": row[4],
                        "format": row[5], "capture_time": row[6], "camera": row[7], "camera_serial": row[8],
                        "facts": json.loads(row[9]) if row[9] else {}, "pixel_hash": row[10],
                        "sig_version": row[12],
                    }
                    if lazy_signatures:
                        out[row[0]] = LazyRow(d, self.signature, bool(row[11]))
                    else:
                        d["signature"] = row[11]
                        out[row[0]] = d
        return out

    def signature(self, content_id: int) -> Optional[bytes]:
        with self.lock:
            row = self.db.execute("SELECT signature FROM contents WHERE id=?", (content_id,)).fetchone()
        return row[0] if row else None

    # -- scans -------------------------------------------------------------------------------------
    def begin_scan(self, roots: list[str], model: str) -> int:
        with self.transaction() as db:
            return db.execute("INSERT INTO scans(started, roots, model) VALUES (?,?,?)",
                              (time.time(), json.dumps(roots), model)).lastrowid

    def finish_scan(self, scan_id: int, stats: dict) -> None:
        with self.transaction() as db:
            db.execute("UPDATE scans SET finished=?, stats=? WHERE id=?", (time.time(), json.dumps(stats), scan_id))

    def last_scan(self) -> Optional[dict]:
        with self.lock:
            row = self.db.execute(
                "SELECT id, started, finished, roots, model, stats FROM scans WHERE finished IS NOT NULL "
                "ORDER BY id DESC LIMIT 1").fetchone()
        if not row:
            return None
        return {"id": row[0], "started": row[1], "finished": row[2], "roots": json.loads(row[3]),
                "model": row[4], "stats": json.loads(row[5]) if row[5] else {}}

    # -- groups ------------------------------------------------------------------------------------
    def replace_groups(self, model: str, groups: list[dict]) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM groups WHERE model=?", (model,))
            db.executemany(
                "INSERT OR REPLACE INTO groups(id, model, kind, keep, reason, similarity, members, ord) "
                "VALUES (?,?,?,?,?,?,?,?)",
                [(g["id"], model, g["kind"], enc(g["keep"]), g.get("reason", ""), g.get("similarity", 1.0),
                  json.dumps(g["files"]), i) for i, g in enumerate(groups)])

    def stored_groups(self, model: str) -> list[dict]:
        with self.lock:
            rows = self.db.execute(
                "SELECT id, kind, keep, reason, similarity, members FROM groups WHERE model=? ORDER BY ord",
                (model,)).fetchall()
        return [{"id": r[0], "kind": r[1], "keep": dec(r[2]), "reason": r[3], "similarity": r[4],
                 "files": json.loads(r[5])} for r in rows]

    def dismiss(self, group_id: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO dismissed VALUES (?, ?)", (group_id, time.time()))

    def dismissed(self) -> set[str]:
        with self.lock:
            return {r[0] for r in self.db.execute("SELECT group_id FROM dismissed")}

    # -- settings ----------------------------------------------------------------------------------
    def setting(self, key: str, default=None):
        with self.lock:
            row = self.db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, json.dumps(value)))

    def totals(self) -> tuple[int, int]:
        with self.lock:
            row = self.db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE status='ok'").fetchone()
        return int(row[0]), int(row[1])


def _file_info(row) -> FileInfo:
    return FileInfo(path=dec(row[0]), size=row[1], mtime=row[2] / 1e9, content_hash=row[3], width=row[4] or 0,
                    height=row[5] or 0, format=row[6] or "", capture_time=row[7], camera=row[8], content_id=row[9])
