"""The indexing page: phase, files done / total, rate, ETA, current file; pause, resume, cancel."""
from __future__ import annotations


from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from .. import theme
from ..fmt import human_bytes, human_duration
from .first_run import card

PHASES = {
    "walk": "Looking for photos…",
    "hash": "Reading files…",
    "embed": "Looking at every picture…",
    "calibrate": "Measuring how the model sees a sample of your photos (once)…",
    "group": "Grouping duplicates…",
    "done": "Finishing…",
    "download": "Downloading model weights (one time)…",
    "load": "Loading the image model…",
    "start": "Starting…",
}


class ProgressView(QWidget):
    pauseRequested = Signal()
    resumeRequested = Signal()
    cancelRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._paused = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 28, 40, 28)
        outer.addStretch(1)
        box = card()
        box.setMaximumWidth(680)
        box.setMinimumWidth(520)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(28, 24, 28, 24)
        lay.setSpacing(12)
        self.title = QLabel("Scanning your photos")
        self.title.setProperty("role", "title")
        self.steps = QLabel()
        self.steps.setTextFormat(Qt.RichText)
        self.phase = QLabel(PHASES["start"])
        self.phase.setProperty("role", "heading")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setRange(0, 0)
        self.counts = QLabel("")
        self.counts.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.current = QLabel("")
        self.current.setProperty("role", "muted")
        self.current.setMinimumWidth(300)
        self.note = QLabel("You can pause, or even close the app: the next scan continues where this one stopped.")
        self.note.setProperty("role", "muted")
        self.note.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self._toggle_pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setProperty("role", "danger")
        self.cancel_button.clicked.connect(self._cancel)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        for w in (self.title, self.steps, self.phase, self.bar, self.counts, self.current, self.note):
            lay.addWidget(w)
        lay.addSpacing(4)
        lay.addLayout(buttons)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(box, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def reset(self, title: str = "Scanning your photos") -> None:
        self._paused = False
        self.title.setText(title)
        self.phase.setText(PHASES["start"])
        self.set_step("")
        self.bar.setRange(0, 0)
        self.counts.setText("")
        self.current.setText("")
        self.pause_button.setText("Pause")
        self.pause_button.setEnabled(True)
        self.pause_button.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")

    def set_step(self, phase: str) -> None:
        order = ["walk", "hash", "embed", "group"]
        names = ["Find files", "Read", "Compare pictures", "Group"]
        phase = "group" if phase == "calibrate" else phase  # calibration is the first part of grouping
        current = order.index(phase) if phase in order else (4 if phase == "done" else -1)
        parts = []
        for i, name in enumerate(names):
            if i < current:
                parts.append(f"<span style='color:{theme.KIND_COLORS['exact']}'>✓ {name}</span>")
            elif i == current:
                parts.append(f"<b style='color:{theme.color('highlight')}'>● {name}</b>")
            else:
                parts.append(f"<span style='color:{theme.color('muted')}'>○ {name}</span>")
        self.steps.setText("&nbsp;&nbsp;&nbsp;".join(parts))

    def set_progress(self, p) -> None:
        """Show a ScanProgress."""
        self.set_step(p.phase)
        label = PHASES.get(p.phase, p.phase)
        if p.phase == "hash" and p.total and p.done >= p.total:
            label = "Getting ready to compare (the first scan loads the image model)…"
        self.phase.setText(("Paused — " + label) if self._paused else label)
        if p.total:
            self.bar.setRange(0, max(1, int(p.total)))
            self.bar.setValue(min(int(p.done), int(p.total)))
            parts = [f"{p.done:,} of {p.total:,} files"]
        else:
            self.bar.setRange(0, 0)
            parts = [f"{p.done:,} files"] if p.done else []
        if p.rate and p.phase in ("hash", "embed"):
            parts.append(f"{p.rate:.1f} files/s" if p.rate < 10 else f"{p.rate:.0f} files/s")
        if p.eta_seconds is not None and p.phase in ("hash", "embed") and not self._paused:
            parts.append(f"about {human_duration(p.eta_seconds)} left")
        self.counts.setText(" · ".join(parts))
        self.set_current(p.current)

    def set_download(self, done: int, total: int) -> None:
        self.phase.setText(PHASES["download"])
        self.pause_button.setVisible(False)
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * done / total))
            self.counts.setText(f"{human_bytes(done)} of {human_bytes(total)}")
        else:
            self.bar.setRange(0, 0)
            self.counts.setText(human_bytes(done))

    def set_current(self, path: str) -> None:
        if not path:
            self.current.setText("")
            return
        text = self.current.fontMetrics().elidedText(path, Qt.ElideMiddle, max(200, self.current.width()))
        self.current.setText(text)
        self.current.setToolTip(path)

    def is_paused(self) -> bool:
        return self._paused

    def _toggle_pause(self) -> None:
        self._paused = not self._paused
        self.pause_button.setText("Resume" if self._paused else "Pause")
        text = self.phase.text().removeprefix("Paused — ")
        self.phase.setText(("Paused — " + text) if self._paused else text)
        (self.pauseRequested if self._paused else self.resumeRequested).emit()

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Stopping…")
        self.pause_button.setEnabled(False)
        self.cancelRequested.emit()
