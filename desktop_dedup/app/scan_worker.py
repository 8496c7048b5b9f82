"""The scan (and a model download) in a child process, so the window's process never loads torch or Milvus.

Parent -> child: one JSON spec on the command line (`gui --worker SPEC`), then `pause` / `resume` / `cancel`
lines on stdin (end of stdin = cancel). Child -> parent: JSON lines on stdout:
    {"event": "progress", "phase", "done", "total", "current", "rate", "eta"}
    {"event": "download", "done", "total"}
    {"event": "result", "result": {...}}      (ScanResult without its groups; the window reloads them)
    {"event": "error", "kind": "ModelUnavailableError" | "LibraryInUseError" | "DedupError" | "Exception",
     "message", "hint"}
Anything else the child prints goes to stderr, which the parent appends to a log in the library folder.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from typing import Callable, Optional

from desktop_dedup.core.types import (DedupError, LibraryInUseError, ModelUnavailableError, ScanProgress, ScanResult,
                                      ScanStats, Skipped)

ERRORS = {"ModelUnavailableError": ModelUnavailableError, "LibraryInUseError": LibraryInUseError,
          "DedupError": DedupError}


def result_to_dict(r: ScanResult) -> dict:
    return {"roots": list(r.roots), "cancelled": r.cancelled, "groups": len(r.groups),
            "skipped": [{"path": s.path, "reason": s.reason} for s in r.skipped], "stats": dict(vars(r.stats))}


def result_from_dict(d: dict) -> ScanResult:
    stats = ScanStats(**{k: v for k, v in d.get("stats", {}).items() if k in ScanStats.__dataclass_fields__})
    return ScanResult(roots=d.get("roots", []), groups=[], cancelled=bool(d.get("cancelled")), stats=stats,
                      skipped=[Skipped(s["path"], s["reason"]) for s in d.get("skipped", [])])


def error_from_event(ev: dict) -> Exception:
    cls = ERRORS.get(ev.get("kind"))
    if cls is not None:
        return cls(ev.get("message", ""), ev.get("hint", ""))
    return DedupError(ev.get("message") or "The scan stopped unexpectedly.",
                      ev.get("hint") or "The details are in the log file in the library folder.")


def worker_command(spec: dict) -> list[str]:
    """How to start a worker: the frozen app's own executable, or this Python."""
    payload = json.dumps(spec)
    if getattr(sys, "frozen", False):
        exe = sys.executable
        console = os.path.join(os.path.dirname(exe), "desktop-dedup" + (".exe" if os.name == "nt" else ""))
        if os.path.exists(console):  # the console build has real stdio (a windowed .exe may not)
            exe = console
        return [exe, "gui", "--worker", payload]
    return [sys.executable, "-m", "desktop_dedup.app.main", "--worker", payload]


def main(spec: dict) -> int:
    """Child side: run the spec, report on the original stdout."""
    if hasattr(os, "nice"):
        try:
            os.nice(5)  # a background indexer: the window (and the rest of the desktop) keeps the CPU first
        except OSError:
            pass
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the protocol
    sys.stdout = sys.stderr
    lock = threading.Lock()

    def emit(obj: dict) -> None:
        with lock:
            channel.write(json.dumps(obj) + "\n")
            channel.flush()

    cancel, pause = threading.Event(), threading.Event()

    def commands() -> None:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "pause":
                pause.set()
            elif cmd == "resume":
                pause.clear()
            elif cmd == "cancel":
                cancel.set()
                pause.clear()
        cancel.set()  # the window went away
        pause.clear()

    threading.Thread(target=commands, name="commands", daemon=True).start()
    last = {"t": 0.0, "phase": None}

    def progress(p: ScanProgress) -> None:
        now = time.monotonic()
        if p.phase != last["phase"] or now - last["t"] >= 0.066 or p.phase == "done" or \
                (p.total and p.done >= p.total):
            last.update(t=now, phase=p.phase)
            emit({"event": "progress", "phase": p.phase, "done": p.done, "total": p.total, "current": p.current,
                  "rate": p.rate, "eta": p.eta_seconds})

    try:
        if spec.get("download"):
            from desktop_dedup.core import models

            models.load_embedder(spec["download"], progress=lambda d, t: emit({"event": "download", "done": d,
                                                                                "total": t or 0}))
            emit({"event": "result", "result": {"downloaded": spec["download"]}})
            return 0
        from desktop_dedup.core.library import Library

        with Library.open(spec["library"], milvus_uri=spec.get("milvus_uri")) as lib:
            result = lib.scan(spec["roots"], exclude=spec.get("exclude", []), model=spec["model"],
                              rotations=bool(spec.get("rotations")), progress=progress, cancel=cancel, pause=pause)
        emit({"event": "result", "result": result_to_dict(result)})
        return 0
    except DedupError as exc:
        emit({"event": "error", "kind": type(exc).__name__ if type(exc).__name__ in ERRORS else "DedupError",
              "message": exc.message, "hint": exc.hint})
        return 1
    except BaseException as exc:  # noqa: BLE001 - reported to the window, traceback to the log
        traceback.print_exc()
        emit({"event": "error", "kind": "Exception", "message": f"The scan stopped unexpectedly ({exc}).",
              "hint": "The details are in the log file in the library folder."})
        return 1


class WorkerProcess:
    """Parent side: start the child, send commands, read its events."""

    def __init__(self, spec: dict, log_path: Optional[str] = None):
        import subprocess

        self._lock = threading.Lock()
        log = open(log_path, "a", encoding="utf-8") if log_path else subprocess.DEVNULL  # noqa: SIM115
        flags = (getattr(subprocess, "CREATE_NO_WINDOW", 0) | getattr(subprocess, "BELOW_NORMAL_PRIORITY_CLASS", 0)
                 if os.name == "nt" else 0)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(worker_command(spec), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                     text=True, encoding="utf-8", bufsize=1, creationflags=flags, env=env)
        if log is not subprocess.DEVNULL:
            log.close()

    def send(self, command: str) -> None:
        with self._lock:
            if self.proc.poll() is None:
                try:
                    self.proc.stdin.write(command + "\n")
                    self.proc.stdin.flush()
                except (OSError, ValueError):
                    pass

    def events(self):
        for line in self.proc.stdout:
            try:
                yield json.loads(line)
            except ValueError:
                continue

    def run(self, on_event: Callable[[dict], None]) -> dict:
        """Read events until the child exits; returns its result payload or raises its error."""
        outcome: Optional[dict] = None
        for ev in self.events():
            if ev.get("event") in ("result", "error"):
                outcome = ev
            else:
                on_event(ev)
        code = self.proc.wait()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if outcome is None:
            raise DedupError(f"The scan stopped unexpectedly (exit status {code}).",
                             "The details are in the log file in the library folder; scanning again resumes.")
        if outcome["event"] == "error":
            raise error_from_event(outcome)
        return outcome["result"]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
