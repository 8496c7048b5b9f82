"""Move files to the OS trash, find them there again, and put them back.

Only the mechanism lives here; *whether* a file may be trashed is decided by the caller (library.py).
Nothing in this module ever deletes a file permanently: files go to the real OS trash through send2trash
(no app-owned pseudo-trash), and :func:`restore` only ever moves a file out of the trash to a path that is
free.

Where a trashed file lies, per platform:

* Linux / BSD (freedesktop trash spec): ``$XDG_DATA_HOME/Trash`` (default ``~/.local/share/Trash``) for files
  on the home device, else the volume's ``$topdir/.Trash/$uid`` or ``$topdir/.Trash-$uid``.  Each trashed file
  ``files/NAME`` has ``info/NAME.trashinfo`` with ``Path=`` (URL-quoted bytes, relative to ``$topdir`` or
  absolute) and ``DeletionDate=`` (local time, seconds).  We find the file by that ``.trashinfo`` - never by
  guessing the name (send2trash names a clash ``name 1.ext``, GIO ``name.2.ext``).
* macOS: ``~/.Trash`` or the volume's ``.Trashes/$uid``; no metadata we can read, so we locate by name, size
  and change time, best effort.
* Windows: ``<drive>:\\$Recycle.Bin\\<SID>\\$Rxxxxxx.ext`` with a ``$Ixxxxxx.ext`` record holding the original
  path and deletion time; we parse the ``$I`` records.

All paths are ``str``; names that are not valid UTF-8 travel as surrogate-escaped ``str``
(``os.fsdecode``) and are compared as bytes (``os.fsencode``).
"""
from __future__ import annotations

import errno
import os
import shutil
import struct
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Optional
from urllib.parse import unquote_to_bytes

from desktop_dedup.core.types import DedupError

__all__ = [
    "TrashEntry",
    "send_to_trash",
    "locate",
    "find_entries",
    "restore",
    "trash_dirs_for",
    "parse_windows_info",
]

_INFO_SUFFIX = b".trashinfo"
_TIME_SLACK = 2.0  # DeletionDate has one-second resolution; allow for truncation and clock jitter


@dataclass
class TrashEntry:
    """One file in a trash, as found through its metadata."""

    trash_path: str  # where the file lies now
    original_path: str  # where it came from
    deleted_at: float  # POSIX timestamp (0.0 if unknown)
    info_path: str = ""  # .trashinfo (freedesktop) or $I file (Windows); "" on macOS


# --------------------------------------------------------------------------------------------- public API


def send_to_trash(path: str) -> str:
    """Move ``path`` to the OS trash and return where it now lies ("" if it cannot be located).

    Raises DedupError when the file cannot be trashed (it is then left where it was).
    """
    path = os.fspath(path)
    abspath = os.path.abspath(path)
    if not os.path.lexists(abspath):
        raise DedupError(f"Cannot move {_show(path)} to the trash: it does not exist.")
    t0 = time.time()
    before = _identity(abspath)
    size = _lsize(abspath)
    _sync_send2trash_home()
    try:
        import send2trash
        from send2trash.exceptions import TrashPermissionError

        try:
            send2trash.send2trash(abspath)
        except TrashPermissionError as exc:
            raise DedupError(
                f"Cannot move {_show(path)} to the trash: this volume has no trash folder we may use.",
                "Nothing was deleted. Free the volume's trash permissions or move the file yourself.",
            ) from exc
    except DedupError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        raise DedupError(f"Cannot move {_show(path)} to the trash: {_reason(exc)}", "Nothing was deleted.") from exc
    if _identity(abspath) == before:
        # send2trash returned but the file is still there (should not happen): say so rather than lie.
        raise DedupError(f"Moving {_show(path)} to the trash did not take effect.", "Nothing was deleted.")
    return locate(abspath, since=t0, size=size)


def locate(original_path: str, since: Optional[float] = None, size: Optional[int] = None) -> str:
    """Where the newest trashed copy of ``original_path`` lies now, or "" if none is found.

    ``since``: only entries deleted at or after this POSIX time (minus a 2 s slack for the one-second
    DeletionDate); ``size``: only entries whose trashed file has this size (``None``: any).
    """
    entries = find_entries(original_path, since=since, size=size)
    return entries[0].trash_path if entries else ""


def find_entries(original_path: str, since: Optional[float] = None, size: Optional[int] = None) -> list[TrashEntry]:
    """Every trash entry whose original location is ``original_path``, newest first (filters as in locate)."""
    original_path = os.path.abspath(os.fspath(original_path))
    if _is_windows():
        found = _find_windows(original_path)
    elif sys.platform == "darwin":
        found = _find_macos(original_path, since)
    else:
        found = _find_freedesktop(original_path)
    out = []
    for e in found:
        if since is not None and e.deleted_at and e.deleted_at < since - _TIME_SLACK:
            continue
        if size is not None and _lsize(e.trash_path) != size:
            continue
        out.append(e)
    out.sort(key=lambda e: (e.deleted_at, _mtime_ns(e.info_path or e.trash_path)), reverse=True)
    return out


def restore(trash_path: str, original_path: str) -> None:
    """Move a trashed file back to ``original_path`` and drop its trash metadata.

    Recreates missing parent folders. Never overwrites: if anything exists at ``original_path`` the file stays
    in the trash and DedupError says why. Also refuses when the file is no longer in the trash, or when its
    ``.trashinfo`` says it came from somewhere else (the trash was emptied and the name reused).
    """
    original_path = os.path.abspath(os.fspath(original_path))
    if not trash_path:
        raise DedupError(
            f"Cannot restore {_show(original_path)} automatically: its place in the trash is unknown.",
            f"Restore it from the {_trash_name()}: look for {_show(os.path.basename(original_path))} "
            f"deleted from {_show(os.path.dirname(original_path))}.",
        )
    trash_path = os.fspath(trash_path)
    if not os.path.lexists(trash_path):
        raise DedupError(
            f"Cannot restore {_show(original_path)}: it is no longer in the trash ({_show(trash_path)}).",
            "The trash was probably emptied; the file cannot be brought back from here.",
        )
    info = _metadata_path(trash_path)
    if info and info.endswith(".trashinfo") and os.path.exists(info):
        recorded = _read_trashinfo(info, _topdir_of_trash(os.path.dirname(os.path.dirname(trash_path))))
        if recorded is not None and not _same_path(recorded[0], original_path):
            raise DedupError(
                f"Cannot restore {_show(original_path)}: the trash entry {_show(trash_path)} now belongs to "
                f"another file ({_show(recorded[0])}).",
                "The trash was probably emptied since; the file cannot be brought back from here.",
            )
    if os.path.lexists(original_path):
        raise DedupError(
            f"Not restoring {_show(original_path)}: a file of that name exists there now.",
            f"The trashed copy stays in the trash at {_show(trash_path)}; move the other file away and retry.",
        )
    parent = os.path.dirname(original_path)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise DedupError(f"Cannot restore {_show(original_path)}: cannot create {_show(parent)}: {_reason(exc)}") from exc
    try:
        _move_no_replace(trash_path, original_path)
    except FileExistsError as exc:
        raise DedupError(
            f"Not restoring {_show(original_path)}: a file of that name exists there now.",
            f"The trashed copy stays in the trash at {_show(trash_path)}.",
        ) from exc
    except OSError as exc:
        raise DedupError(f"Cannot restore {_show(original_path)} from {_show(trash_path)}: {_reason(exc)}") from exc
    if info:
        try:
            os.unlink(info)
        except FileNotFoundError:
            pass
        except OSError:  # the file is back; a stale record in the trash is harmless
            pass


def trash_dirs_for(path: str) -> list[str]:
    """Freedesktop trash directories that may hold ``path`` (home trash first, then the volume's)."""
    dirs: list[bytes] = [os.path.join(_xdg_data_home(), b"Trash")]
    cached = _send2trash_home()
    if cached:
        dirs.append(cached)
    try:
        top = _mount_point(os.fsencode(_existing_ancestor(os.path.abspath(path))))
    except OSError:
        top = None
    if top is not None and hasattr(os, "getuid"):
        uid = str(os.getuid()).encode("ascii")
        dirs.append(os.path.join(top, b".Trash", uid))
        dirs.append(os.path.join(top, b".Trash-" + uid))
    out: list[str] = []
    seen: set[bytes] = set()
    for d in dirs:
        key = os.path.normpath(d)
        if key not in seen:
            seen.add(key)
            out.append(os.fsdecode(d))
    return out


# ------------------------------------------------------------------------------------- freedesktop (Linux)


def _xdg_data_home() -> bytes:
    value = os.environb.get(b"XDG_DATA_HOME", b"") if hasattr(os, "environb") else os.fsencode(
        os.environ.get("XDG_DATA_HOME", "")
    )
    if value and os.path.isabs(value):
        return value
    return os.path.expanduser(b"~/.local/share")  # relative values are invalid per the basedir spec


def _send2trash_home() -> Optional[bytes]:
    mod = sys.modules.get("send2trash.plat_other")
    return getattr(mod, "HOMETRASH_B", None) if mod else None


def _sync_send2trash_home() -> None:
    """send2trash's own freedesktop backend reads XDG_DATA_HOME once, at import; point it at the current value.

    This keeps it and :func:`locate` in agreement when the environment changes after import (tests, embedding).
    """
    if _is_windows() or sys.platform == "darwin":
        return
    try:
        import send2trash
    except ImportError:  # pragma: no cover - dependency
        return
    if getattr(send2trash.send2trash, "__module__", "") != "send2trash.plat_other":
        return  # GIO backend: GLib resolves the user data dir itself
    mod = sys.modules["send2trash.plat_other"]
    home = _xdg_data_home()
    mod.XDG_DATA_HOME = home
    mod.HOMETRASH_B = os.path.join(home, b"Trash")
    mod.HOMETRASH = os.fsdecode(mod.HOMETRASH_B)


def _topdir_of_trash(trash_dir: str | bytes) -> bytes:
    """The directory relative ``Path=`` values are based on, for a given trash directory."""
    d = os.path.normpath(os.fsencode(trash_dir))
    parent, name = os.path.split(d)
    if name.startswith(b".Trash-"):
        return parent  # $topdir/.Trash-$uid
    if os.path.basename(parent) == b".Trash":
        return os.path.dirname(parent)  # $topdir/.Trash/$uid
    return parent  # $XDG_DATA_HOME/Trash


def _read_trashinfo(info_path: str | bytes, topdir: bytes) -> Optional[tuple[str, float]]:
    """(original path, deletion time) from a .trashinfo file, or None if it is unreadable."""
    try:
        with open(info_path, "rb") as f:
            raw = f.read(64 * 1024)
    except OSError:
        return None
    orig: Optional[bytes] = None
    when = 0.0
    in_section = False
    for line in raw.splitlines():
        line = line.strip()
        if line.startswith(b"["):
            in_section = line == b"[Trash Info]"
            continue
        if not in_section or b"=" not in line:
            continue
        key, _, value = line.partition(b"=")
        key = key.strip()
        if key == b"Path" and orig is None:
            orig = unquote_to_bytes(value.strip())
        elif key == b"DeletionDate" and not when:
            when = _parse_deletion_date(value.strip().decode("ascii", "replace"))
    if not orig:
        return None
    if not os.path.isabs(orig):
        orig = os.path.join(topdir, orig)
    return os.fsdecode(os.path.normpath(orig)), when


def _parse_deletion_date(value: str) -> float:
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y%m%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f"):
        try:
            return datetime.strptime(value, fmt).timestamp()  # naive = local time, as the spec says
        except ValueError:
            continue
    return 0.0


def _find_freedesktop(original_path: str) -> list[TrashEntry]:
    want = os.fsencode(original_path)
    stem = os.path.splitext(os.path.basename(want))[0]
    out: list[TrashEntry] = []
    for trash_dir in trash_dirs_for(original_path):
        tdir = os.fsencode(trash_dir)
        info_dir = os.path.join(tdir, b"info")
        files_dir = os.path.join(tdir, b"files")
        try:
            names = [n for n in os.listdir(info_dir) if n.endswith(_INFO_SUFFIX)]
        except OSError:
            continue
        topdir = _topdir_of_trash(tdir)
        # Clash names keep the stem ("a 1.jpg", "a.2.jpg"): read those first, everything only if none match.
        likely = [n for n in names if n.startswith(stem)]
        for batch in (likely, [n for n in names if not n.startswith(stem)]):
            hits = []
            for name in batch:
                rec = _read_trashinfo(os.path.join(info_dir, name), topdir)
                if rec is None or not _same_path(rec[0], original_path, want):
                    continue
                fpath = os.path.join(files_dir, name[: -len(_INFO_SUFFIX)])
                if not os.path.lexists(fpath):
                    continue  # orphaned record: the file itself is gone
                hits.append(TrashEntry(os.fsdecode(fpath), rec[0], rec[1], os.fsdecode(os.path.join(info_dir, name))))
            out.extend(hits)
            if hits:
                break
    return out


# --------------------------------------------------------------------------------------------------- macOS


def _find_macos(original_path: str, since: Optional[float]) -> list[TrashEntry]:
    """Best effort: same stem and extension in ~/.Trash or the volume's .Trashes/$uid, changed after `since`."""
    base = os.path.basename(original_path)
    stem, ext = os.path.splitext(base)
    dirs = [os.path.expanduser("~/.Trash")]
    try:
        top = os.fsdecode(_mount_point(os.fsencode(_existing_ancestor(original_path))))
        if top != "/" and hasattr(os, "getuid"):
            dirs.append(os.path.join(top, ".Trashes", str(os.getuid())))
    except OSError:
        pass
    out = []
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if not (name == base or (name.startswith(stem + " ") and name.endswith(ext))):
                continue
            p = os.path.join(d, name)
            try:
                changed = os.lstat(p).st_ctime  # a rename into the trash bumps ctime
            except OSError:
                continue
            if since is not None and changed < since - _TIME_SLACK:
                continue
            out.append(TrashEntry(p, original_path, changed))
    return out


# ------------------------------------------------------------------------------------------------- Windows


_FILETIME_EPOCH = 116444736000000000  # 100 ns ticks from 1601-01-01 to 1970-01-01


def parse_windows_info(data: bytes) -> Optional[tuple[str, int, float]]:
    """(original path, size, deletion time) from the bytes of a Recycle Bin ``$I`` file, or None.

    Version 1 (Vista-8.1): header, size, FILETIME, then 260 UTF-16 chars. Version 2 (Windows 10+): header,
    size, FILETIME, a 32-bit char count (with the NUL), then that many UTF-16 chars.
    """
    if len(data) < 24:
        return None
    version, size, filetime = struct.unpack_from("<qqq", data, 0)
    if version == 1:
        raw = data[24 : 24 + 520]
    elif version == 2 and len(data) >= 28:
        (nchars,) = struct.unpack_from("<i", data, 24)
        raw = data[28 : 28 + 2 * max(nchars, 0)]
    else:
        return None
    text = raw.decode("utf-16-le", "surrogatepass").split("\x00", 1)[0]
    if not text:
        return None
    when = (filetime - _FILETIME_EPOCH) / 1e7 if filetime > _FILETIME_EPOCH else 0.0
    return text, size, when


def _recycle_bins(original_path: str) -> list[str]:
    drive = os.path.splitdrive(original_path)[0]
    root = os.path.join(drive + os.sep, "$Recycle.Bin")
    try:
        return [os.path.join(root, sid) for sid in os.listdir(root)]
    except OSError:
        return []


def _find_windows(original_path: str, bins: Optional[Iterable[str]] = None) -> list[TrashEntry]:
    want = os.path.normcase(os.path.normpath(original_path))
    out = []
    for d in bins if bins is not None else _recycle_bins(original_path):
        try:
            names = [n for n in os.listdir(d) if n.startswith("$I")]
        except OSError:  # other users' bins are not readable
            continue
        for name in names:
            ipath = os.path.join(d, name)
            try:
                with open(ipath, "rb") as f:
                    rec = parse_windows_info(f.read(64 * 1024))
            except OSError:
                continue
            if rec is None or os.path.normcase(os.path.normpath(rec[0])) != want:
                continue
            rpath = os.path.join(d, "$R" + name[2:])
            if os.path.lexists(rpath):
                out.append(TrashEntry(rpath, rec[0], rec[2], ipath))
    return out


# ------------------------------------------------------------------------------------------------- helpers


def _metadata_path(trash_path: str) -> str:
    """The record that describes ``trash_path`` in its trash ('' if none): .trashinfo or $I file."""
    d, name = os.path.split(os.path.normpath(trash_path))
    if name.startswith("$R"):
        i = os.path.join(d, "$I" + name[2:])
        return i if os.path.lexists(i) else ""
    if os.path.basename(d) == "files":
        return os.path.join(os.path.dirname(d), "info", name + ".trashinfo")
    return ""


def _move_no_replace(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``; FileExistsError if ``dst`` exists, never replacing it (also not by a race)."""
    if _is_windows():
        os.rename(src, dst)  # Windows rename refuses an existing target
        return
    if not os.path.isdir(src) or os.path.islink(src):
        try:
            os.link(src, dst, follow_symlinks=False)  # atomic "create if absent" on POSIX
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                raise
        else:
            os.unlink(src)
            return
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "exists", dst)
    try:
        os.rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    # Another volume: copy into a freshly created file (O_EXCL), then drop the trashed one.
    if os.path.isdir(src) and not os.path.islink(src):
        shutil.copytree(src, dst, symlinks=True)
        shutil.rmtree(src)
        return
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        shutil.copyfileobj(fin, fout, 1024 * 1024)
        fout.flush()
        os.fsync(fout.fileno())
    shutil.copystat(src, dst)
    os.unlink(src)


def _same_path(found: str, wanted: str, wanted_b: Optional[bytes] = None) -> bool:
    a = os.path.normpath(os.fsencode(found))
    b = os.path.normpath(wanted_b if wanted_b is not None else os.fsencode(os.path.abspath(wanted)))
    return a == b


def _mount_point(path: bytes) -> bytes:
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _existing_ancestor(path: str) -> str:
    p = path
    while not os.path.exists(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def _identity(path: str) -> Optional[tuple[int, int]]:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _lsize(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return -1


def _mtime_ns(path: str) -> int:
    try:
        return os.lstat(path).st_mtime_ns
    except OSError:
        return 0


def _is_windows() -> bool:
    return sys.platform == "win32"


def _trash_name() -> str:
    return "Recycle Bin" if _is_windows() else "Trash"


def _show(path: str) -> str:
    """A path fit for a message (undecodable bytes shown as \\xNN, not as lone surrogates)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace") if not _is_windows() else path


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__
