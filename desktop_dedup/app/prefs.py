"""Remembered user choices (QSettings): folders, exclusions, model, window geometry.

Lists are stored as JSON strings so every QSettings backend round-trips them the same way. Writes are not
synced by hand (QSettings flushes from the event loop and on exit; a sync costs ~20 ms of disk I/O on the
GUI thread): `sync()` is called once when the window closes.
Tests point QSettings at a temporary folder (see tests/app/conftest.py), never at the user's settings.
"""
from __future__ import annotations

import json
from typing import Optional

from PySide6.QtCore import QByteArray, QSettings

from desktop_dedup import APP_NAME

ORGANIZATION = "desktop-dedup"
DEFAULT_MODEL = "resnet50"
OFFLINE_MODEL = "efficientnet-lite0"
DEFAULT_EXCLUSIONS = ["@eaDir", ".thumbnails", "*.tmp"]


class Prefs:
    """Typed access to the app's QSettings."""

    def __init__(self, settings: Optional[QSettings] = None):
        self.qs = settings if settings is not None else QSettings(ORGANIZATION, APP_NAME)

    def _get_list(self, key: str, default: list[str]) -> list[str]:
        raw = self.qs.value(key)
        if raw is None:
            return list(default)
        try:
            value = json.loads(raw)
        except (TypeError, ValueError):
            return list(default)
        return [str(v) for v in value] if isinstance(value, list) else list(default)

    def _set_list(self, key: str, value: list[str]) -> None:
        self.qs.setValue(key, json.dumps(list(value)))

    @property
    def folders(self) -> list[str]:
        return self._get_list("scan/folders", [])

    @folders.setter
    def folders(self, value: list[str]) -> None:
        self._set_list("scan/folders", value)

    @property
    def exclusions(self) -> list[str]:
        return self._get_list("scan/exclusions", DEFAULT_EXCLUSIONS)

    @exclusions.setter
    def exclusions(self, value: list[str]) -> None:
        self._set_list("scan/exclusions", [v.strip() for v in value if v.strip()])

    @property
    def model(self) -> str:
        return str(self.qs.value("scan/model", DEFAULT_MODEL))

    @model.setter
    def model(self, value: str) -> None:
        self.qs.setValue("scan/model", value)

    @property
    def rotations(self) -> bool:
        return str(self.qs.value("scan/rotations", "false")).lower() in ("1", "true", "yes")

    @rotations.setter
    def rotations(self, value: bool) -> None:
        self.qs.setValue("scan/rotations", "true" if value else "false")

    def geometry(self, key: str) -> Optional[QByteArray]:
        value = self.qs.value(f"window/{key}")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_geometry(self, key: str, value: QByteArray) -> None:
        self.qs.setValue(f"window/{key}", value)

    def sync(self) -> None:
        self.qs.sync()
