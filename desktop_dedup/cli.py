"""Headless command line: drives the same engine (core.library.Library) as the app.

    desktop-dedup                        open the app
    desktop-dedup scan ROOT... [--library DIR] [--model M] [--milvus-uri URI] [--json OUT] [--exclude GLOB]...
    desktop-dedup groups [--library DIR] [--json OUT]
    desktop-dedup trash PATH... [--library DIR] [--json OUT] [--unique-ok]
    desktop-dedup undo [--library DIR] [--all]
    desktop-dedup history [--library DIR] [--json]
    desktop-dedup info [--library DIR] [--json]
    desktop-dedup gui [--library DIR] [--milvus-uri URI] [--screenshot PNG]
    desktop-dedup bench speed|quality ...

Exit codes: 0 done; 1 the engine could not do it (message on stderr); 2 bad arguments;
3 `trash` refused some files.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from typing import Optional, Sequence

from . import __version__

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


def _fmt_eta(seconds: Optional[float]) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class _Progress:
    """A one-line progress bar with rate and ETA on stderr when it is a terminal; phase lines otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.phase = None

    def __call__(self, p) -> None:
        if not self.tty:
            if p.phase != self.phase:
                self.phase = p.phase
                if p.phase != "done":
                    print(f"[{p.phase}] ...", file=self.stream, flush=True)
            return
        if p.phase == "done":
            self.stream.write("\r\033[K")
            self.stream.flush()
            return
        width = 28
        if p.total:
            frac = min(1.0, p.done / p.total)
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            text = f"{p.phase:>5} [{bar}] {p.done}/{p.total} {p.rate:5.1f}/s ETA {_fmt_eta(p.eta_seconds)}"
        else:
            text = f"{p.phase:>5} {p.done} files"
        name = os.path.basename(p.current)[:30]
        self.stream.write(f"\r\033[K{text} {name}")
        self.stream.flush()


def _write_json(obj: dict, dest: str) -> None:
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    if dest == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    tmp = dest + ".tmp"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text + "\n")
    os.replace(tmp, dest)


def _err(msg: str, hint: str = "") -> None:
    print(f"desktop-dedup: {msg}" + (f" {hint}" if hint else ""), file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    from .core.models import DEFAULT_MODEL, MODEL_NAMES

    p = argparse.ArgumentParser(prog="desktop-dedup",
                                description="Find duplicate and near-duplicate photos; trash safely.")
    p.add_argument("--version", action="version", version=f"desktop-dedup {__version__}")
    sub = p.add_subparsers(dest="command")

    def lib_args(sp, uri=True):
        sp.add_argument("--library", metavar="DIR", help="library folder (default: your user data folder)")
        if uri:
            sp.add_argument("--milvus-uri", metavar="URI",
                            help="use a Milvus server (http://host:port) instead of the embedded Milvus Lite")

    s = sub.add_parser("scan", help="index folders (incrementally) and report duplicate groups")
    s.add_argument("roots", nargs="+", metavar="ROOT")
    lib_args(s)
    s.add_argument("--model", default=DEFAULT_MODEL, choices=MODEL_NAMES)
    s.add_argument("--json", metavar="OUT", help="write the result as JSON to OUT ('-' = stdout)")
    s.add_argument("--exclude", metavar="GLOB", action="append", default=[],
                   help="skip paths matching GLOB (relative to the root, or a basename); repeatable")
    s.add_argument("--rotations", action="store_true", help="also match copies rotated by 90 degrees or mirrored")
    s.add_argument("--include-hidden", action="store_true", help="also scan hidden and system folders")

    g = sub.add_parser("groups", help="print the groups of the last scan")
    lib_args(g)
    g.add_argument("--json", metavar="OUT")

    t = sub.add_parser("trash", help="move files to the OS trash (safely, undoable)")
    t.add_argument("paths", nargs="+", metavar="PATH")
    lib_args(t)
    t.add_argument("--json", metavar="OUT")
    t.add_argument("--unique-ok", action="store_true", help="allow trashing files that have no duplicate")

    u = sub.add_parser("undo", help="put back the files of the last trash action")
    lib_args(u)
    u.add_argument("--all", action="store_true", help="undo every action still undone, newest first")

    h = sub.add_parser("history", help="list journalled actions")
    lib_args(h)
    h.add_argument("--json", action="store_true")

    i = sub.add_parser("info", help="show library facts")
    lib_args(i)
    i.add_argument("--json", action="store_true", help="print the facts as one JSON object")

    gui = sub.add_parser("gui", help="open the app")
    lib_args(gui)
    gui.add_argument("--screenshot", metavar="PNG", help="render the window to PNG and exit")

    b = sub.add_parser("bench", help="benchmarks: speed, quality, scale")
    b.add_argument("which", choices=["speed", "quality", "scale"])
    b.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _open_library(args):
    from .core.library import Library

    return Library.open(getattr(args, "library", None), milvus_uri=getattr(args, "milvus_uri", None))


def cmd_scan(args) -> int:
    for r in args.roots:
        if not os.path.isdir(r):
            _err(f"{r}: no such folder.")
            return EXIT_USAGE
    cancel = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\ncancelling (work done so far is kept; press Ctrl+C again to abort)", file=sys.stderr)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        with _open_library(args) as lib:
            result = lib.scan(args.roots, exclude=args.exclude, model=args.model, rotations=args.rotations,
                              include_hidden=args.include_hidden, progress=_Progress(), cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        _write_json(result.to_json(), args.json)
    if not args.json or args.json != "-":
        s = result.stats
        dup = [g for g in result.groups if g.kind != "similar"]
        sim = [g for g in result.groups if g.kind == "similar"]
        reclaim = sum(g.reclaimable_bytes for g in dup)
        state = "cancelled" if result.cancelled else "done"
        print(f"{state}: {s.files_seen} files ({s.embedded} embedded, {s.reused} reused, {s.skipped} skipped) "
              f"in {s.seconds:.1f}s; {len(dup)} duplicate groups ({_human_bytes(reclaim)} reclaimable), "
              f"{len(sim)} similar groups")
    return EXIT_OK


def cmd_groups(args) -> int:
    with _open_library(args) as lib:
        groups = lib.groups()
    if args.json:
        _write_json({"groups": [{"kind": g.kind, "files": g.paths, "keep": g.keep, "reason": g.reason,
                                 "id": g.id} for g in groups]}, args.json)
        return EXIT_OK
    for g in groups:
        print(f"[{g.kind}] {g.reason} ({len(g.files)} files, {_human_bytes(g.reclaimable_bytes)} reclaimable)")
        for f in g.files:
            print(f"  {'*' if f.path == g.keep else ' '} {f.path}")
    if not groups:
        print("no groups (run `desktop-dedup scan FOLDER` first)")
    return EXIT_OK


def cmd_trash(args) -> int:
    with _open_library(args) as lib:
        out = lib.trash(args.paths, unique_ok=args.unique_ok)
    if args.json:
        _write_json(out.to_json(), args.json)
    if args.json != "-":
        for t in out.trashed:
            print(f"trashed  {t['path']}")
        for r in out.refused:
            print(f"refused  {r['path']}: {r['reason']}")
    return EXIT_REFUSED if out.refused else EXIT_OK


def cmd_undo(args) -> int:
    with _open_library(args) as lib:
        out = lib.undo(all=args.all)
    for r in out.restored:
        print(f"restored {r['path']}")
    for r in out.refused:
        print(f"left in trash {r['path']}: {r['reason']}")
    if out.message:
        print(out.message)
    return EXIT_OK


def cmd_history(args) -> int:
    with _open_library(args) as lib:
        hist = lib.history()
    if args.json:
        _write_json({"actions": hist}, "-")
        return EXIT_OK
    if not hist:
        print("no actions yet")
    for a in hist:
        flag = " (undone)" if a["undone"] else ""
        print(f"#{a['id']} {a['time']} {a['kind']} {len(a['files'])} file(s){flag}")
        for f in a["files"]:
            print(f"    {f['status']:>8}  {f['path']}")
    return EXIT_OK


def _calibration_line(cal: Optional[dict]) -> str:
    if not cal:
        return "none yet (measured on the first scan)"
    how = ("built-in values (too few photos to measure)" if cal.get("fallback")
           else f"measured on {cal.get('sample')} of your photos")
    floor = "none" if cal.get("floor") is None else f"{cal['floor']:.3f}"
    return (f"{how} for {cal.get('model')} on {str(cal.get('date', ''))[:10]}: candidate floor {floor}, "
            f"similar scene {cal.get('similar_cosine', 0):.3f}, small-crop search {cal.get('template_cosine', 0):.3f}")


def cmd_info(args) -> int:
    with _open_library(args) as lib:
        info = lib.info()
    if getattr(args, "json", False):
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return EXIT_OK
    for k, v in info.items():
        if k == "calibration":
            v = _calibration_line(v)
        print(f"{k:>10}: {v}")
    return EXIT_OK


def cmd_gui(argv: Sequence[str]) -> int:
    from .app.main import main as gui_main

    return gui_main(list(argv))


def cmd_bench(args) -> int:
    if args.which == "speed":
        from .bench.speed import main as bench_main
    elif args.which == "quality":
        from .bench.quality import main as bench_main
    else:
        from .bench.scale import main as bench_main
    return bench_main(args.rest) or 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] == "gui":
        return cmd_gui(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    # file names that are not valid UTF-8 (surrogate-escaped by Python) print as their original bytes instead of
    # crashing with UnicodeEncodeError on a strict UTF-8 terminal (after the files were already trashed)
    try:
        sys.stdout.reconfigure(errors="surrogateescape")
    except (AttributeError, ValueError):  # pragma: no cover - replaced or detached stream
        pass
    if args.command is None:
        return cmd_gui([])
    from .core.types import DedupError

    handlers = {"scan": cmd_scan, "groups": cmd_groups, "trash": cmd_trash, "undo": cmd_undo,
                "history": cmd_history, "info": cmd_info, "bench": cmd_bench}
    try:
        return handlers[args.command](args)
    except DedupError as exc:
        _err(exc.message, exc.hint)
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted.")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
