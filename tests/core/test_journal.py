"""Action journal: durable intents, undo across restarts, crash reconciliation (with the real OS trash)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from desktop_dedup.core import trash
from desktop_dedup.core.journal import Journal, undo_action, undo_all, undo_last
from desktop_dedup.core.types import DedupError

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="uses the freedesktop trash")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path


def _photo(path, data: bytes) -> str:
    path = os.fsencode(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return os.fsdecode(path)


def _trash_files(j: Journal, aid: int, paths: list[str]) -> list[str]:
    """What library.py does: intent (durable) -> move -> outcome."""
    out = []
    for p in paths:
        eid = j.record_intent(aid, p, {"content_hash": "h:" + os.path.basename(p)})
        try:
            tp = trash.send_to_trash(p)
        except DedupError as e:
            j.record_failed(eid, e.message)
            continue
        j.record_done(eid, tp)
        out.append(tp)
    return out


def test_round_trip(env):
    a = _photo(env / "p" / "a.jpg", b"a" * 10)
    b = _photo(env / "p" / "b.jpg", b"b" * 20)
    j = Journal(str(env / "lib" / "journal.sqlite3"))
    aid = j.begin_action("trash", {"group": "g1"})
    tps = _trash_files(j, aid, [a, b, str(env / "p" / "missing.jpg")])
    j.end_action(aid)

    (act,) = j.actions()
    assert act.id == aid and act.kind == "trash" and act.meta == {"group": "g1"} and act.ended and not act.undone
    assert [e.state for e in act.entries] == ["done", "done", "failed"]
    e = act.entries[0]
    assert (e.path, e.trash_path, e.size, e.content_hash) == (a, tps[0], 10, "h:a.jpg")
    assert e.info["content_hash"] == "h:a.jpg" and e.mtime > 0
    assert "does not exist" in act.entries[2].reason
    assert j.pending() == [] and j.last_undoable().id == aid

    out = undo_last(j)
    assert out.actions == [aid] and out.refused == []
    assert sorted(r["path"] for r in out.restored) == [a, b]
    assert open(a, "rb").read() == b"a" * 10 and open(b, "rb").read() == b"b" * 20
    assert not any(os.path.exists(tp) for tp in tps)
    act = j.actions()[0]
    assert act.undone and [e.state for e in act.entries] == ["restored", "restored", "failed"]
    assert undo_last(j).message == "nothing to undo"
    assert j.actions(include_undone=False) == []
    j.close()


def test_undo_after_restart(env):
    path = str(env / "journal.sqlite3")
    a = _photo(env / "a.jpg", b"x")
    j = Journal(path)
    aid = j.begin_action("trash")
    _trash_files(j, aid, [a])
    j.end_action(aid)
    j.close()
    assert not os.path.exists(a)

    with Journal(path) as j2:  # "restart"
        assert j2.reconcile() == []
        out = undo_last(j2)
    assert out.actions == [aid] and open(a, "rb").read() == b"x"


def test_undo_all_newest_first(env):
    """Same path trashed in two actions: the newest copy comes back, the older one is refused (never overwrites)."""
    j = Journal(str(env / "j.sqlite3"))
    p = str(env / "p" / "same.jpg")
    ids = []
    for data in (b"old", b"newer"):
        _photo(p, data)
        aid = j.begin_action("trash")
        _trash_files(j, aid, [p])
        j.end_action(aid)
        ids.append(aid)
    other = _photo(env / "p" / "other.jpg", b"o")
    aid3 = j.begin_action("trash")
    _trash_files(j, aid3, [other])
    j.end_action(aid3)
    assert [a.id for a in j.actions()] == [aid3, ids[1], ids[0]]

    out = undo_all(j)
    assert out.actions == [aid3, ids[1], ids[0]]
    assert [r["path"] for r in out.restored] == [other, p]
    assert open(p, "rb").read() == b"newer"
    (ref,) = out.refused
    assert ref["path"] == p and "exists" in ref["reason"]
    older = j.action(ids[0])
    assert older.undone and older.entries[0].state == "done" and "exists" in older.entries[0].restore_refused
    assert os.path.exists(older.entries[0].trash_path)  # the refused file stays in the trash
    assert undo_all(j).message == "nothing to undo"
    assert "1 left in the trash" in out.message

    os.rename(p, str(env / "p" / "moved-away.jpg"))  # user clears the way, retries that action
    again = undo_action(j, ids[0])
    assert [r["path"] for r in again.restored] == [p] and open(p, "rb").read() == b"old"


def test_reconcile_intent_whose_file_moved(env):
    """Crash after the move, before record_done: reconcile finds it in the trash, undo restores it."""
    path = str(env / "j.sqlite3")
    a = _photo(env / "a.jpg", b"abc")
    j = Journal(path)
    aid = j.begin_action("trash")
    eid = j.record_intent(aid, a, {})
    tp = trash.send_to_trash(a)
    j.close()  # "crash"

    j = Journal(path)
    assert [e.id for e in j.pending()] == [eid]
    (changed,) = j.reconcile()
    assert (changed.id, changed.state, changed.trash_path) == (eid, "done", tp)
    assert j.pending() == [] and j.action(aid).ended
    out = undo_last(j)
    assert out.restored == [{"path": a, "trash_path": tp}] and open(a, "rb").read() == b"abc"


def test_reconcile_intent_whose_file_never_moved(env):
    path = str(env / "j.sqlite3")
    a = _photo(env / "a.jpg", b"abc")
    gone = _photo(env / "gone.jpg", b"?")
    j = Journal(path)
    aid = j.begin_action("trash")
    j.record_intent(aid, a, {})
    j.record_intent(aid, gone, {})
    os.unlink(gone)  # vanished by other means: not in the trash
    j.close()

    j = Journal(path)
    changed = j.reconcile()
    assert [(e.path, e.state) for e in changed] == [(a, "failed"), (gone, "failed")]
    assert changed[0].reason == "interrupted, file untouched"
    assert "neither" in changed[1].reason
    assert j.last_undoable() is None and undo_last(j).message == "nothing to undo"
    assert open(a, "rb").read() == b"abc"


def test_reconcile_ignores_an_older_trash_entry_of_the_same_path(env):
    """A copy trashed long before the intent is not mistaken for the interrupted one."""
    j = Journal(str(env / "j.sqlite3"))
    a = _photo(env / "a.jpg", b"first")
    tp_old = trash.send_to_trash(a)
    info = os.path.join(env, "xdg", "Trash", "info", os.path.basename(tp_old) + ".trashinfo")
    with open(info) as f:
        text = f.read()
    with open(info, "w") as f:  # pretend it was trashed in 2020
        f.write(text.split("DeletionDate=")[0] + "DeletionDate=2020-01-01T00:00:00\n")
    _photo(a, b"second")
    j2 = Journal(str(env / "j.sqlite3"))
    j2.record_intent(j2.begin_action("trash"), a, {})
    j2.close()
    (e,) = j.reconcile()
    assert e.state == "failed" and e.reason == "interrupted, file untouched"


def test_reconcile_leaves_live_intents_of_this_process_alone(env):
    j = Journal(str(env / "j.sqlite3"))
    a = _photo(env / "a.jpg", b"a")
    eid = j.record_intent(j.begin_action("trash"), a, {})
    assert j.reconcile() == [] and [e.id for e in j.pending()] == [eid]
    j.record_done(eid, trash.send_to_trash(a))
    with pytest.raises(ValueError):
        j.record_failed(eid, "twice")


def test_undo_refuses_when_trash_entry_was_emptied(env):
    j = Journal(str(env / "j.sqlite3"))
    a = _photo(env / "a.jpg", b"a")
    aid = j.begin_action("trash")
    (tp,) = _trash_files(j, aid, [a])
    os.unlink(tp)
    out = undo_last(j)
    assert out.restored == [] and out.refused[0]["path"] == a
    assert "no longer in the trash" in out.refused[0]["reason"]
    assert j.action(aid).undone and not os.path.exists(a)


def test_undo_refuses_a_different_file_under_the_recorded_trash_name(env):
    j = Journal(str(env / "j.sqlite3"))
    a = _photo(env / "a.jpg", b"a")
    aid = j.begin_action("trash")
    (tp,) = _trash_files(j, aid, [a])
    with open(tp, "wb") as f:
        f.write(b"something else entirely")
    out = undo_last(j)
    assert out.restored == [] and "not the one that was trashed" in out.refused[0]["reason"]
    assert not os.path.exists(a) and os.path.exists(tp)


def test_weird_names_survive_the_journal(env):
    j = Journal(str(env / "j.sqlite3"))
    a = _photo(os.path.join(os.fsencode(env), b"caf\xe9 \xf0\x9f\x93\xb7.jpg"), b"w")
    aid = j.begin_action("trash", {"note": a})
    (tp,) = _trash_files(j, aid, [a])
    j.close()
    j = Journal(str(env / "j.sqlite3"))
    act = j.actions()[0]
    assert act.entries[0].path == a and act.entries[0].trash_path == tp and act.meta["note"] == a
    assert undo_last(j).restored[0]["path"] == a and os.path.exists(a)


def test_concurrent_reader_sees_committed_state(env):
    path = str(env / "j.sqlite3")
    writer = Journal(path)
    reader = Journal(path)
    aid = writer.begin_action("trash")
    a = _photo(env / "a.jpg", b"a")
    eid = writer.record_intent(aid, a, {})
    assert [e.id for e in reader.pending()] == [eid]  # the intent is visible (durable) before the move
    writer.record_done(eid, trash.send_to_trash(a))
    assert reader.action(aid).entries[0].state == "done"
    # and from another process, too
    code = f"import sqlite3; print(sqlite3.connect({path!r}).execute(\"select state from entries\").fetchone()[0])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "done"


def test_unreadable_journal_is_a_dedup_error(tmp_path):
    bad = tmp_path / "journal.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DedupError):
        Journal(str(bad))


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from desktop_dedup.core import trash
    from desktop_dedup.core.journal import Journal
    j = Journal(sys.argv[1])
    aid = j.begin_action("trash")
    j.record_intent(aid, sys.argv[2], {"content_hash": "h"})
    if sys.argv[3] == "move":
        trash.send_to_trash(sys.argv[2])
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("move", [True, False])
def test_real_crash_sigkill(env, move):
    path = str(env / "lib" / "journal.sqlite3")
    a = _photo(env / "p" / "a.jpg", b"precious")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, path, a, "move" if move else "stay"],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert os.path.exists(a) != move

    j = Journal(path)
    (e,) = j.reconcile()
    if move:
        assert e.state == "done" and os.path.exists(e.trash_path)
        assert undo_last(j).restored == [{"path": a, "trash_path": e.trash_path}]
    else:
        assert e.state == "failed" and e.reason == "interrupted, file untouched"
        assert undo_last(j).message == "nothing to undo"
    assert open(a, "rb").read() == b"precious"
