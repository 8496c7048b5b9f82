"""Human-readable numbers, durations and dates for the UI (no Qt)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional


def human_bytes(n: float) -> str:
    n = float(n or 0)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            if unit == "bytes":
                return f"{int(n)} bytes" if n != 1 else "1 byte"
            return f"{n:.1f} {unit}" if n < 100 else f"{n:.0f} {unit}"
        n /= 1000.0
    return f"{n:.0f} TB"  # pragma: no cover


def human_duration(seconds: Optional[float]) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s" if m < 10 else f"{m} min"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def human_count(n: int, word: str, plural: Optional[str] = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def parse_time(iso: Optional[str]) -> Optional[datetime]:
    if not iso:
        return None
    try:
        dt = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt


def human_time(iso: Optional[str], now: Optional[datetime] = None) -> str:
    """'today 14:02', 'yesterday 09:10', '3 Mar 2024 18:00' in local time; 'never' for None."""
    dt = parse_time(iso)
    if dt is None:
        return "never" if not iso else str(iso)
    if dt.tzinfo is not None:
        dt = dt.astimezone()
    now = now or datetime.now()
    if dt.tzinfo is not None and now.tzinfo is None:
        now = now.astimezone()
    days = (now.date() - dt.date()).days
    hm = dt.strftime("%H:%M")
    if days == 0:
        return f"today {hm}"
    if days == 1:
        return f"yesterday {hm}"
    return f"{dt.day} {dt.strftime('%b %Y')} {hm}"


def capture_date(iso: Optional[str]) -> str:
    dt = parse_time(iso)
    if dt is None:
        return iso or "—"
    return f"{dt.day} {dt.strftime('%b %Y, %H:%M')}"


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
