"""Plain data passed between the engine's stages, the CLI and the UI (no Qt, no Milvus, no torch)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Optional

GroupKind = Literal["exact", "near", "similar"]


class DedupError(Exception):
    """An error with a message meant for the user (shown as-is by the CLI and the app, never a traceback)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return f"{self.message} {self.hint}".strip()


class LibraryInUseError(DedupError):
    """Another process holds the library lock."""


class ModelUnavailableError(DedupError):
    """Model weights are missing and cannot be downloaded (offline)."""


class SkipFile(Exception):
    """Raised by a stage to skip one file with a human-readable reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class FileInfo:
    """One image file as the catalog knows it."""

    path: str
    size: int
    mtime: float
    content_hash: str
    width: int = 0
    height: int = 0
    format: str = ""
    capture_time: Optional[str] = None  # ISO 8601 from EXIF, if any
    camera: Optional[str] = None  # "Make Model", if any
    content_id: int = 0


@dataclass
class Group:
    """A set of files the user reviews together."""

    kind: GroupKind
    files: list[FileInfo]
    keep: str  # path of the suggested keeper, always one of `files`
    reason: str = ""  # one line: "same pixels", "resized copy, similarity 0.97", "burst: different shots"
    similarity: float = 1.0  # lowest verified similarity to the representative
    id: str = ""  # stable across runs for the same set of contents (used for "not a duplicate")

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    @property
    def reclaimable_bytes(self) -> int:
        """Bytes freed by trashing every member but the keeper (0 for `similar` groups)."""
        if self.kind == "similar":
            return 0
        return sum(f.size for f in self.files if f.path != self.keep)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class ScanProgress:
    """Reported during a scan; `phase` is one of walk, hash, embed, group, done."""

    phase: str
    done: int = 0
    total: int = 0
    current: str = ""
    rate: float = 0.0  # files per second in this phase
    eta_seconds: Optional[float] = None


ProgressCallback = Callable[[ScanProgress], None]


@dataclass
class ScanStats:
    files_seen: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: int = 0
    seconds: float = 0.0
    model: str = ""
    removed: int = 0
    moved: int = 0


@dataclass
class ScanResult:
    roots: list[str]
    groups: list[Group]
    skipped: list[Skipped]
    stats: ScanStats
    cancelled: bool = False

    def to_json(self) -> dict:
        """The CLI contract (`scan --json`)."""
        return {
            "root": self.roots[0] if self.roots else None,
            "roots": list(self.roots),
            "groups": [
                {
                    "kind": g.kind,
                    "files": g.paths,
                    "keep": g.keep,
                    "reason": g.reason,
                    "similarity": round(g.similarity, 4),
                    "id": g.id,
                }
                for g in self.groups
            ],
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "stats": {
                "files_seen": self.stats.files_seen,
                "embedded": self.stats.embedded,
                "reused": self.stats.reused,
                "skipped": self.stats.skipped,
                "seconds": round(self.stats.seconds, 3),
                "model": self.stats.model,
            },
            "cancelled": self.cancelled,
        }


@dataclass
class TrashOutcome:
    trashed: list[dict] = field(default_factory=list)  # {"path", "trash_path"}
    refused: list[dict] = field(default_factory=list)  # {"path", "reason"}
    action_id: Optional[int] = None

    def to_json(self) -> dict:
        return {"trashed": self.trashed, "refused": self.refused}


@dataclass
class UndoOutcome:
    restored: list[dict] = field(default_factory=list)  # {"path", "trash_path"}
    refused: list[dict] = field(default_factory=list)  # {"path", "reason"}
    actions: list[int] = field(default_factory=list)
    message: str = ""
