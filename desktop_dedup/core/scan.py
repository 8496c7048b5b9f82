"""Scan stage: walk the chosen roots, find image files, hash their whole content.

The walk never follows a symlink loop (directories are identified by (st_dev, st_ino)), honours
exclusion globs (matched against the path relative to its root and against the basename), skips
hidden and system folders by default, and reports anything it cannot read as a skip with a reason
instead of failing.
"""
from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

import xxhash

#: File extensions recognised as images, mapped to a format family.
IMAGE_EXTENSIONS: dict[str, str] = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF", ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP", ".dib": "BMP",
    ".gif": "GIF",
    ".heic": "HEIF", ".heif": "HEIF", ".hif": "HEIF", ".avif": "AVIF",
    ".cr2": "RAW", ".cr3": "RAW", ".nef": "RAW", ".arw": "RAW", ".raf": "RAW",
    ".orf": "RAW", ".rw2": "RAW", ".dng": "RAW", ".pef": "RAW", ".srw": "RAW", ".nrw": "RAW",
}

#: Folder names never descended into unless hidden folders are included (system / NAS / trash folders).
SYSTEM_FOLDERS = frozenset({
    "$recycle.bin", "system volume information", "@eadir", "#recycle", "lost+found",
    ".trash", ".trashes", ".spotlight-v100", ".fseventsd", ".thumbnails", "__macosx",
})

HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class FoundFile:
    """An image file found by the walk (stat taken during the walk)."""

    path: str
    root: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class WalkSkip:
    """Something under a root that could not be looked at (unreadable folder, loop, broken link...)."""

    path: str
    reason: str


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def format_family(path: str) -> str:
    return IMAGE_EXTENSIONS.get(os.path.splitext(path)[1].lower(), "")


def _is_hidden(entry: os.DirEntry) -> bool:
    if entry.name.startswith("."):
        return True
    if entry.name.lower() in SYSTEM_FOLDERS:
        return True
    attrs = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    return bool(attrs & 0x2 or attrs & 0x4)  # FILE_ATTRIBUTE_HIDDEN / SYSTEM on Windows


class Excluder:
    """Matches exclusion globs against a path relative to its root and against its basename."""

    def __init__(self, patterns: Iterable[str] = ()):
        self.patterns = [p.replace("\\", "/").rstrip("/") for p in patterns if p and p.strip()]

    def __call__(self, rel_path: str) -> bool:
        if not self.patterns:
            return False
        rel = rel_path.replace(os.sep, "/")
        base = rel.rsplit("/", 1)[-1]
        for pat in self.patterns:
            if fnmatch.fnmatchcase(rel, pat) or fnmatch.fnmatchcase(base, pat):
                return True
            if pat.startswith("**/") and fnmatch.fnmatchcase(rel, pat[3:]):
                return True
        return False


def walk(
    roots: Iterable[str],
    exclude: Iterable[str] = (),
    *,
    include_hidden: bool = False,
    skip_dirs: Iterable[str] = (),
    on_skip: Optional[Callable[[WalkSkip], None]] = None,
) -> Iterator[FoundFile]:
    """Yield every image file under `roots` (each file once, even if roots overlap).

    Symlinked folders are followed unless they lead back into a folder already visited (a loop or
    a second path to the same folder). `skip_dirs` are absolute folders never entered (the library
    folder itself, for instance). Problems go to `on_skip` and the walk carries on.
    """
    excluded = Excluder(exclude)
    report = on_skip or (lambda s: None)
    never = {os.path.realpath(d) for d in skip_dirs}
    visited_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    links: list[tuple[tuple[int, int], FoundFile]] = []

    for root in roots:
        root = os.path.abspath(root)
        try:
            st = os.stat(root)
        except OSError as exc:
            report(WalkSkip(root, f"cannot read folder: {exc.strerror or exc}"))
            continue
        if not stat.S_ISDIR(st.st_mode):
            report(WalkSkip(root, "not a folder"))
            continue
        stack: list[tuple[str, tuple[int, int]]] = [(root, (st.st_dev, st.st_ino))]
        while stack:
            folder, key = stack.pop()
            if key in visited_dirs:
                continue
            visited_dirs.add(key)
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except PermissionError:
                report(WalkSkip(folder, "cannot read folder: permission denied"))
                continue
            except OSError as exc:
                report(WalkSkip(folder, f"cannot read folder: {exc.strerror or exc}"))
                continue
            subdirs = []
            for entry in entries:
                path = entry.path
                rel = os.path.relpath(path, root)
                try:
                    is_link = entry.is_symlink()
                    is_dir = entry.is_dir(follow_symlinks=True)
                except OSError as exc:
                    if is_image_name(entry.name):
                        report(WalkSkip(path, f"cannot read: {exc.strerror or exc}"))
                    continue
                if is_dir:
                    if (not include_hidden and _is_hidden(entry)) or excluded(rel):
                        continue
                    if os.path.realpath(path) in never:
                        continue
                    try:
                        dst = entry.stat(follow_symlinks=True)
                    except OSError as exc:
                        report(WalkSkip(path, f"cannot read folder: {exc.strerror or exc}"))
                        continue
                    dkey = (dst.st_dev, dst.st_ino)
                    if dkey in visited_dirs:
                        if is_link:
                            report(WalkSkip(path, "symlink loop or second link to a folder already scanned; not followed"))
                        continue
                    subdirs.append((path, dkey))
                    continue
                if not is_image_name(entry.name):
                    continue
                if not include_hidden and entry.name.startswith("."):
                    continue
                if excluded(rel):
                    continue
                try:
                    fst = entry.stat(follow_symlinks=True)
                except FileNotFoundError:
                    report(WalkSkip(path, "broken symlink" if is_link else "file disappeared during the scan"))
                    continue
                except OSError as exc:
                    report(WalkSkip(path, f"cannot read: {exc.strerror or exc}"))
                    continue
                if not stat.S_ISREG(fst.st_mode):
                    report(WalkSkip(path, "not a regular file"))
                    continue
                fkey = (fst.st_dev, fst.st_ino)
                found = FoundFile(path=path, root=root, size=fst.st_size, mtime_ns=fst.st_mtime_ns)
                if is_link:
                    # decided after the walk: a link to a file listed anyway is the same file, not a copy
                    links.append((fkey, found))
                    continue
                if fkey in seen_files:
                    continue
                seen_files.add(fkey)
                yield found
            # depth-first, in name order
            stack.extend(reversed(subdirs))
    for fkey, found in links:
        if fkey not in seen_files:
            seen_files.add(fkey)
            yield found


def hash_file(path: str) -> str:
    """xxh3-128 of the whole file content (hex). Raises OSError if the file cannot be read."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(HASH_CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def stat_signature(path: str) -> tuple[int, int]:
    """(size, mtime_ns) of a file, following symlinks."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns
