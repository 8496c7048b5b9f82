"""Durable, write-ahead journal of file actions, so every action can be undone - also after a restart or a crash.

Protocol (the caller, library.py, decides *whether* a file may go; this module records *that* it went)::

    j = Journal(os.path.join(library_dir, "journal.sqlite3"))
    j.reconcile()                                   # once at start: settle what a crash left pending
    aid = j.begin_action("trash", {"group": gid})
    for f in files:
        eid = j.record_intent(aid, f.path, {"size": f.size, "mtime": f.mtime, "content_hash": f.content_hash})
        try:
            j.record_done(eid, trash.send_to_trash(f.path))     # durable BEFORE and AFTER the move
        except DedupError as e:
            j.record_failed(eid, e.message)
    j.end_action(aid)
    undo_last(j)   /   undo_all(j)

Entry states: ``intent`` (about to move; a crash leaves it so) -> ``done`` (in the trash) or ``failed``;
``done`` -> ``restored`` by undo.  A refused restore keeps ``done`` and notes the reason in ``restore_refused``.

Storage: SQLite in its own file, WAL mode with ``synchronous=FULL``.  Chosen over fsync'd JSON lines because
each write is one atomic transaction that is on disk (WAL fsync'd) when the call returns, a torn write can never
leave a half-parsed line, state changes are updates rather than an ever-growing log to replay and compact, and
WAL lets another process (the CLI next to the app) read committed state while we write.  Paths are stored as
bytes (``os.fsencode``) so names that are not valid UTF-8 survive exactly.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from desktop_dedup.core import trash
from desktop_dedup.core.types import DedupError, UndoOutcome

__all__ = ["Entry", "Action", "Journal", "undo_last", "undo_all", "undo_action", "JOURNAL_FILENAME"]

JOURNAL_FILENAME = "journal.sqlite3"
_SCHEMA_VERSION = 1
_MTIME_SLACK = 2.0  # seconds; FAT-style volumes store mtime at 2 s resolution

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    time    REAL NOT NULL,
    meta    TEXT NOT NULL DEFAULT '{}',
    ended   REAL,
    undone  REAL
);
CREATE TABLE IF NOT EXISTS entries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id       INTEGER NOT NULL REFERENCES actions(id),
    path            BLOB NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('intent', 'done', 'failed', 'restored')),
    trash_path      BLOB,
    size            INTEGER,
    mtime           REAL,
    content_hash    TEXT,
    info            TEXT NOT NULL DEFAULT '{}',
    reason          TEXT NOT NULL DEFAULT '',
    restore_refused TEXT NOT NULL DEFAULT '',
    time            REAL NOT NULL,
    outcome_time    REAL,
    restored_time   REAL
);
CREATE INDEX IF NOT EXISTS entries_action ON entries(action_id);
CREATE INDEX IF NOT EXISTS entries_state ON entries(state);
"""


@dataclass
class Entry:
    """One file within an action."""

    id: int
    action_id: int
    path: str  # original location
    state: str  # intent | done | failed | restored
    trash_path: str = ""  # where it lies in the OS trash ("" if unknown)
    size: Optional[int] = None
    mtime: Optional[float] = None
    content_hash: str = ""
    reason: str = ""  # why it failed
    restore_refused: str = ""  # why undo left it in the trash (latest attempt)
    time: float = 0.0  # when the intent was recorded
    info: dict = field(default_factory=dict)  # everything the caller passed to record_intent


@dataclass
class Action:
    """One user action (e.g. "trash these 12 files"), newest first in listings."""

    id: int
    kind: str
    time: float
    meta: dict
    entries: list[Entry]
    undone: bool = False
    ended: bool = False

    @property
    def done_entries(self) -> list[Entry]:
        return [e for e in self.entries if e.state == "done"]

    @property
    def restored_entries(self) -> list[Entry]:
        return [e for e in self.entries if e.state == "restored"]


class Journal:
    """The action journal of one library. Thread-safe; one writer process at a time (the library lock)."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self._lock = threading.RLock()
        self._live: set[int] = set()  # intents recorded by this object and not settled yet
        parent = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(parent, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=15.0, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise DedupError(f"Cannot open the action journal at {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise DedupError(
                    f"The action journal at {self.path} was written by a newer version of this app.",
                    "Update the app to undo those actions.",
                )
            self._db.executescript(_SCHEMA)  # idempotent
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise DedupError(
                f"The action journal at {self.path} is unreadable ({exc}).",
                "Move that file away to start a new one; trashed files stay restorable from the OS trash.",
            ) from exc
        except DedupError:
            self._db.close()
            raise

    # ------------------------------------------------------------------------------------------- writes

    def begin_action(self, kind: str, meta: Optional[dict] = None) -> int:
        """Start an action; returns its id."""
        with self._tx() as db:
            cur = db.execute("INSERT INTO actions(kind, time, meta) VALUES (?, ?, ?)", (_text(kind), time.time(), _dumps(meta)))
            return int(cur.lastrowid)

    def record_intent(self, action_id: int, path: str, info: Optional[dict] = None) -> int:
        """Record, durably, that ``path`` is about to move. Call BEFORE moving it; returns the entry id.

        ``info``: ``content_hash`` (str) and whatever else the caller wants kept (JSON-able). Size and mtime are
        taken from the file itself (``lstat``), falling back to ``info["size"]``/``info["mtime"]``.
        """
        info = dict(info or {})
        path = os.path.abspath(os.fspath(path))
        size, mtime = info.get("size"), info.get("mtime")
        try:  # what the file is right now is what undo must find in the trash
            st = os.lstat(path)
            size, mtime = st.st_size, st.st_mtime
        except OSError:
            pass
        with self._tx() as db:
            if db.execute("SELECT 1 FROM actions WHERE id=?", (action_id,)).fetchone() is None:
                raise ValueError(f"unknown action {action_id}")
            cur = db.execute(
                "INSERT INTO entries(action_id, path, state, size, mtime, content_hash, info, time)"
                " VALUES (?, ?, 'intent', ?, ?, ?, ?, ?)",
                (
                    action_id,
                    _enc(path),
                    int(size) if size is not None else None,
                    float(mtime) if mtime is not None else None,
                    _text(info.get("content_hash") or ""),
                    _dumps(info),
                    time.time(),
                ),
            )
            eid = int(cur.lastrowid)
        self._live.add(eid)
        return eid

    def record_done(self, entry_id: int, trash_path: str) -> None:
        """Record that the file moved; ``trash_path`` is where it lies now ("" if the trash could not say)."""
        self._transition(entry_id, "intent", "done", trash_path=_enc(trash_path or ""), outcome_time=time.time())
        self._live.discard(entry_id)

    def record_failed(self, entry_id: int, reason: str) -> None:
        """Record that the file did not move (it is where it was)."""
        self._transition(entry_id, "intent", "failed", reason=_text(reason), outcome_time=time.time())
        self._live.discard(entry_id)

    def end_action(self, action_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE actions SET ended=? WHERE id=? AND ended IS NULL", (time.time(), action_id))

    def mark_restored(self, entry_id: int) -> None:
        """Record that undo put the file back at its original path."""
        self._transition(entry_id, "done", "restored", restored_time=time.time(), restore_refused="")

    def mark_restore_refused(self, entry_id: int, reason: str) -> None:
        """Record why undo left a file in the trash (it stays ``done``; a later undo_action may retry)."""
        with self._tx() as db:
            db.execute("UPDATE entries SET restore_refused=? WHERE id=? AND state='done'", (_text(reason), entry_id))

    def mark_undone(self, action_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE actions SET undone=? WHERE id=? AND undone IS NULL", (time.time(), action_id))

    def reconcile(self) -> list[Entry]:
        """Settle intents a crash left without outcome; returns the entries it changed (new state).

        For each pending entry: a trash entry for its path, deleted since the intent, with the size the file
        had -> ``done`` (it moved; the crash came before record_done); else the file still at its path ->
        ``failed`` ("interrupted, file untouched"); else ``failed`` saying it is in neither place.
        Intents recorded through *this* Journal object are left alone (their move may be under way in another
        thread). Actions left without end_action and with nothing pending are ended.
        """
        changed: list[Entry] = []
        with self._lock:
            for e in self.pending():
                if e.id in self._live:
                    continue
                tp = trash.locate(e.path, since=e.time, size=e.size)
                if tp:
                    self.record_done(e.id, tp)
                elif os.path.lexists(e.path):
                    self.record_failed(e.id, "interrupted, file untouched")
                else:
                    self.record_failed(e.id, "interrupted; the file is neither at its path nor found in the trash")
                changed.append(self.entry(e.id))
            if changed:
                with self._tx() as db:
                    db.execute(
                        "UPDATE actions SET ended=? WHERE ended IS NULL AND NOT EXISTS"
                        " (SELECT 1 FROM entries WHERE entries.action_id=actions.id AND state='intent')",
                        (time.time(),),
                    )
        return changed

    # -------------------------------------------------------------------------------------------- reads

    def pending(self) -> list[Entry]:
        """Intents without outcome (a crash in the middle), oldest first."""
        with self._lock:
            rows = self._db.execute(f"SELECT {_ENTRY_COLS} FROM entries WHERE state='intent' ORDER BY id").fetchall()
        return [_entry(r) for r in rows]

    def entry(self, entry_id: int) -> Entry:
        with self._lock:
            row = self._db.execute(f"SELECT {_ENTRY_COLS} FROM entries WHERE id=?", (entry_id,)).fetchone()
        if row is None:
            raise ValueError(f"unknown journal entry {entry_id}")
        return _entry(row)

    def action(self, action_id: int) -> Action:
        with self._lock:
            row = self._db.execute("SELECT id, kind, time, meta, ended, undone FROM actions WHERE id=?", (action_id,)).fetchone()
            if row is None:
                raise ValueError(f"unknown action {action_id}")
            return self._actions([row])[0]

    def actions(self, include_undone: bool = True, limit: Optional[int] = None) -> list[Action]:
        """Actions newest first, each with its entries (oldest first)."""
        sql = "SELECT id, kind, time, meta, ended, undone FROM actions"
        if not include_undone:
            sql += " WHERE undone IS NULL"
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            return self._actions(self._db.execute(sql).fetchall())

    def last_undoable(self) -> Optional[Action]:
        """The newest action not yet undone that has files in the trash, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, kind, time, meta, ended, undone FROM actions a WHERE undone IS NULL AND EXISTS"
                " (SELECT 1 FROM entries e WHERE e.action_id=a.id AND e.state='done') ORDER BY id DESC LIMIT 1"
            ).fetchone()
            return self._actions([row])[0] if row else None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ helpers

    def _tx(self):
        return _Tx(self)

    def _transition(self, entry_id: int, old: str, new: str, **cols: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in cols)
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE entries SET state=?, {sets} WHERE id=? AND state=?", (new, *cols.values(), entry_id, old)
            )
            if cur.rowcount != 1:
                row = db.execute("SELECT state FROM entries WHERE id=?", (entry_id,)).fetchone()
                raise ValueError(
                    f"journal entry {entry_id} is {row[0]!r}, not {old!r}" if row else f"unknown journal entry {entry_id}"
                )

    def _actions(self, rows: list) -> list[Action]:
        if not rows:
            return []
        ids = [r[0] for r in rows]
        by_action: dict[int, list[Entry]] = {i: [] for i in ids}
        for chunk in range(0, len(ids), 500):
            part = ids[chunk : chunk + 500]
            q = f"SELECT {_ENTRY_COLS} FROM entries WHERE action_id IN ({','.join('?' * len(part))}) ORDER BY id"
            for r in self._db.execute(q, part):
                by_action[r[1]].append(_entry(r))
        return [
            Action(id=r[0], kind=r[1], time=r[2], meta=_loads(r[3]), entries=by_action[r[0]], ended=r[4] is not None, undone=r[5] is not None)
            for r in rows
        ]


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT under the journal's lock; COMMIT returns only once the WAL is fsync'd."""

    def __init__(self, journal: Journal):
        self.j = journal

    def __enter__(self) -> sqlite3.Connection:
        self.j._lock.acquire()
        if self.j._db is None:
            self.j._lock.release()
            raise DedupError("The action journal is closed.")
        try:
            self.j._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self.j._lock.release()
            raise _db_error(self.j.path, exc) from exc
        return self.j._db

    def __exit__(self, et, ev, tb) -> bool:
        try:
            if et is None:
                try:
                    self.j._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self.j._db.execute("ROLLBACK")
                    raise _db_error(self.j.path, exc) from exc
            else:
                self.j._db.execute("ROLLBACK")
                if isinstance(ev, sqlite3.Error):
                    raise _db_error(self.j.path, ev) from ev
        finally:
            self.j._lock.release()
        return False


# ------------------------------------------------------------------------------------------------ undo


def undo_action(journal: Journal, action_id: int) -> UndoOutcome:
    """Put back every file of one action that is still in the trash (newest entry first).

    A file is restored only to a free path and only if the trash still holds the very file we moved (same
    size and mtime); otherwise it stays in the trash and is reported in ``refused``. The action is then
    marked undone. Safe to call again on an undone action (retries what was refused).
    """
    act = journal.action(action_id)
    out = UndoOutcome(actions=[action_id])
    for e in reversed(act.done_entries):
        ok, reason = _restore_entry(journal, e)
        if ok:
            out.restored.append({"path": e.path, "trash_path": e.trash_path})
        else:
            out.refused.append({"path": e.path, "reason": reason})
    journal.mark_undone(action_id)
    out.message = _summary(out)
    return out


def undo_last(journal: Journal) -> UndoOutcome:
    """Undo the newest action that is not undone yet; UndoOutcome(message="nothing to undo") if none."""
    journal.reconcile()
    act = journal.last_undoable()
    if act is None:
        return UndoOutcome(message="nothing to undo")
    return undo_action(journal, act.id)


def undo_all(journal: Journal) -> UndoOutcome:
    """Undo every action not undone yet, newest first."""
    journal.reconcile()
    total = UndoOutcome()
    while True:
        act = journal.last_undoable()
        if act is None:
            break
        one = undo_action(journal, act.id)
        total.restored += one.restored
        total.refused += one.refused
        total.actions += one.actions
    if not total.actions:
        return UndoOutcome(message="nothing to undo")
    total.message = _summary(total)
    return total


def _restore_entry(journal: Journal, e: Entry) -> tuple[bool, str]:
    tp = e.trash_path or trash.locate(e.path, since=e.time, size=e.size)
    if tp and not os.path.lexists(tp) and _matches(e, e.path):
        # A crash during an earlier undo: the file is back but was not marked restored yet.
        journal.mark_restored(e.id)
        return True, ""
    try:
        if tp and os.path.lexists(tp) and not _matches(e, tp):
            raise DedupError(
                f"Not restoring {e.path}: the file at {tp} is not the one that was trashed (size or date differ).",
                "The trash was probably emptied and the name reused.",
            )
        trash.restore(tp, e.path)
    except DedupError as exc:
        reason = f"{exc.message} {exc.hint}".strip()
    except OSError as exc:
        reason = f"Cannot restore {e.path}: {exc.strerror or exc}"
    else:
        if tp != e.trash_path:
            e.trash_path = tp
        journal.mark_restored(e.id)
        return True, ""
    journal.mark_restore_refused(e.id, reason)
    return False, reason


def _matches(e: Entry, path: str) -> bool:
    """Is the file at ``path`` the one the entry recorded (size and mtime, where recorded)?"""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if e.size is not None and st.st_size != e.size:
        return False
    if e.mtime is not None and abs(st.st_mtime - e.mtime) > _MTIME_SLACK:
        return False
    return True


def _summary(out: UndoOutcome) -> str:
    n, r = len(out.restored), len(out.refused)
    acts = len(out.actions)
    msg = f"restored {n} file{'s' if n != 1 else ''}"
    if acts > 1:
        msg += f" from {acts} actions"
    if r:
        msg += f"; {r} left in the trash"
    return msg


# ---------------------------------------------------------------------------------------------- rows

_ENTRY_COLS = (
    "id, action_id, path, state, trash_path, size, mtime, content_hash, reason, restore_refused, time, info"
)


def _entry(r: tuple) -> Entry:
    return Entry(
        id=r[0],
        action_id=r[1],
        path=_dec(r[2]),
        state=r[3],
        trash_path=_dec(r[4]),
        size=r[5],
        mtime=r[6],
        content_hash=r[7] or "",
        reason=r[8] or "",
        restore_refused=r[9] or "",
        time=r[10],
        info=_loads(r[11]),
    )


def _enc(path: str) -> bytes:
    return os.fsencode(path)


def _dec(value: Optional[bytes]) -> str:
    return os.fsdecode(bytes(value)) if value else ""


def _text(value: object) -> str:
    """A str SQLite can store: lone surrogates (undecodable file names) shown as \\xNN."""
    s = str(value)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        pass
    try:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("ascii")


def _dumps(obj: Optional[dict]) -> str:
    return json.dumps(obj or {}, ensure_ascii=True, default=str)  # ensure_ascii keeps lone surrogates intact


def _loads(text: Optional[str]) -> dict:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def _db_error(path: str, exc: sqlite3.Error) -> DedupError:
    if "locked" in str(exc) or "busy" in str(exc):
        return DedupError(f"The action journal at {path} is busy.", "Another process is writing to it; try again.")
    return DedupError(f"The action journal at {path} could not be written ({exc}).", "Check free disk space.")
