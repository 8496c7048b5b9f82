"""Every question and message the app asks or shows, in one replaceable object (tests answer for the user).

Messages say what happened and what to do; tracebacks only ever go to the log file.
"""
from __future__ import annotations

import os

from PySide6.QtWidgets import QMessageBox, QWidget

from ..fmt import human_bytes


class Dialogs:
    """Modal dialogs. `interactive=False` (screenshots, scripts) never blocks: it logs and answers no."""

    def __init__(self, interactive: bool = True):
        self.interactive = interactive
        self.log: list[tuple[str, str]] = []

    def _box(self, parent, icon, title, text, informative="", detail="", buttons=None, default=None):
        box = QMessageBox(parent)
        box.setIcon(icon)
        box.setWindowTitle(title)
        box.setText(text)
        if informative:
            box.setInformativeText(informative)
        if detail:
            box.setDetailedText(detail)
        made = {}
        for key, (label, role) in (buttons or {"ok": ("OK", QMessageBox.AcceptRole)}).items():
            made[key] = box.addButton(label, role)
        if default in made:
            box.setDefaultButton(made[default])
        box.exec()
        clicked = box.clickedButton()
        for key, button in made.items():
            if button is clicked:
                return key
        return None

    def error(self, parent: QWidget, message: str, hint: str = "", detail: str = "") -> None:
        self.log.append(("error", f"{message} {hint}".strip()))
        if self.interactive:
            self._box(parent, QMessageBox.Warning, "Desktop Dedup", message, hint, detail)

    def info(self, parent: QWidget, title: str, message: str, hint: str = "") -> None:
        self.log.append(("info", f"{message} {hint}".strip()))
        if self.interactive:
            self._box(parent, QMessageBox.Information, title, message, hint)

    def confirm(self, parent: QWidget, title: str, message: str, hint: str = "", ok: str = "OK",
                danger: bool = False) -> bool:
        self.log.append(("confirm", message))
        if not self.interactive:
            return False
        return self._box(parent, QMessageBox.Warning if danger else QMessageBox.Question, title, message, hint,
                         buttons={"ok": (ok, QMessageBox.AcceptRole), "cancel": ("Cancel", QMessageBox.RejectRole)},
                         default="cancel" if danger else "ok") == "ok"

    def confirm_batch(self, parent: QWidget, files: int, size: int, groups: int) -> bool:
        return self.confirm(
            parent, "Trash identical copies",
            f"Move {files:,} identical cop{'y' if files == 1 else 'ies'} ({human_bytes(size)}) from "
            f"{groups:,} group{'s' if groups != 1 else ''} to the trash?",
            "The suggested file of every group stays where it is. You can undo this (Ctrl+Z) or restore the "
            "files from the system trash.", ok=f"Trash {files:,} files", danger=True)

    def confirm_unique(self, parent: QWidget, paths: list[str]) -> bool:
        n = len(paths)
        names = ", ".join(os.path.basename(p) for p in paths[:3]) + (" …" if n > 3 else "")
        return self.confirm(
            parent, "These photos have no duplicate",
            f"{names} {'is' if n == 1 else 'are'} only similar to the other photos, not a copy of them: trashing "
            f"{'it' if n == 1 else 'them'} removes the only copy of {'this picture' if n == 1 else 'these pictures'}.",
            "The files go to the system trash; Undo (Ctrl+Z) brings them back.",
            ok="Trash anyway", danger=True)

    def refused(self, parent: QWidget, refused: list[dict], trashed: int) -> None:
        lines = [f"{os.path.basename(r['path'])}: {r['reason']}" for r in refused]
        self.log.append(("refused", "; ".join(lines)))
        if not self.interactive:
            return
        head = (f"{trashed} file{'s' if trashed != 1 else ''} moved to the trash. " if trashed else "") + \
            f"{len(refused)} file{'s were' if len(refused) != 1 else ' was'} kept for safety:"
        shown = "\n".join("• " + line for line in lines[:8])
        if len(lines) > 8:
            shown += f"\n… and {len(lines) - 8} more (see details)"
        self._box(parent, QMessageBox.Information, "Some files were not trashed", head, shown,
                  detail="\n".join(f"{r['path']}: {r['reason']}" for r in refused))

    def ask_download(self, parent: QWidget, model_title: str, url: str) -> str:
        """'download', 'offline' (use the offline model) or 'cancel'."""
        self.log.append(("ask_download", url))
        if not self.interactive:
            return "cancel"
        where = url.split("/")[2] if url and "//" in url else "the internet"
        return self._box(
            parent, QMessageBox.Question, "Download the image model",
            f"{model_title} needs a one-time download of its weights (about 100 MB) from {where}.",
            "Or use EfficientNet-Lite0: it ships with the app, works offline and is faster, "
            "though slightly less precise.",
            buttons={"download": ("Download", QMessageBox.AcceptRole),
                     "offline": ("Use EfficientNet-Lite0", QMessageBox.ActionRole),
                     "cancel": ("Cancel", QMessageBox.RejectRole)}, default="download") or "cancel"

    def model_unavailable(self, parent: QWidget, message: str, hint: str) -> bool:
        """True when the user picks the offline model."""
        self.log.append(("model_unavailable", message))
        if not self.interactive:
            return False
        return self._box(
            parent, QMessageBox.Warning, "The image model is not available", message,
            (hint + "\n\n" if hint else "") + "EfficientNet-Lite0 ships with the app and works offline.",
            buttons={"offline": ("Use EfficientNet-Lite0", QMessageBox.AcceptRole),
                     "cancel": ("Cancel", QMessageBox.RejectRole)}, default="offline") == "offline"
