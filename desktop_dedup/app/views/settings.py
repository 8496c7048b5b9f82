"""Settings: the image model (with its weights status and a download), exclusions, rotations, and the
detection thresholds this library measured on its own photos (read-only)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QDialog, QDialogButtonBox, QGridLayout, QHBoxLayout, QLabel,
                               QPlainTextEdit, QProgressBar, QPushButton, QRadioButton, QVBoxLayout)

from typing import Optional

from ..engine import MODEL_CHOICES, MODEL_TITLES
from ..fmt import human_bytes
from .first_run import card


class SettingsView(QDialog):
    """Emits `downloadRequested(model)` and `statusRequested(model)`; `values()` after accept."""

    downloadRequested = Signal(str)
    statusRequested = Signal(str)

    def __init__(self, model: str, exclusions: list[str], rotations: bool, library_path: str = "", parent=None,
                 calibration: Optional[dict] = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(620)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 18, 18, 14)
        lay.setSpacing(10)
        head = QLabel("Image model")
        head.setProperty("role", "heading")
        lay.addWidget(head)
        expl = QLabel("The model turns every picture into a fingerprint of what it shows, so edited copies are "
                      "found even when no byte is the same. Changing the model re-analyses your photos on the "
                      "next scan.")
        expl.setWordWrap(True)
        expl.setProperty("role", "muted")
        lay.addWidget(expl)
        self.group = QButtonGroup(self)
        self.radios = {}
        for name, title, text in MODEL_CHOICES:
            box = card()
            bl = QVBoxLayout(box)
            bl.setContentsMargins(12, 10, 12, 10)
            radio = QRadioButton(title)
            radio.setStyleSheet("font-weight: 600;")
            radio.setChecked(name == model)
            self.group.addButton(radio)
            self.radios[name] = radio
            desc = QLabel(text)
            desc.setWordWrap(True)
            desc.setProperty("role", "muted")
            bl.addWidget(radio)
            bl.addWidget(desc)
            if name == "resnet50":
                row = QHBoxLayout()
                self.weights_label = QLabel("Checking the weights…")
                self.weights_label.setWordWrap(True)
                self.download_button = QPushButton("Download now")
                self.download_button.hide()
                self.download_button.clicked.connect(lambda: self.downloadRequested.emit("resnet50"))
                row.addWidget(self.weights_label, 1)
                row.addWidget(self.download_button)
                bl.addLayout(row)
                self.download_bar = QProgressBar()
                self.download_bar.setTextVisible(False)
                self.download_bar.hide()
                bl.addWidget(self.download_bar)
            lay.addWidget(box)
        self.rotations = QCheckBox("Also find copies rotated by 90° or mirrored (slower)")
        self.rotations.setChecked(rotations)
        lay.addWidget(self.rotations)

        ex = QLabel("Skip files and folders matching (one pattern per line)")
        ex.setProperty("role", "heading")
        lay.addSpacing(6)
        lay.addWidget(ex)
        self.exclusions = QPlainTextEdit("\n".join(exclusions))
        self.exclusions.setFixedHeight(86)
        lay.addWidget(self.exclusions)
        cal_head = QLabel("Detection thresholds")
        cal_head.setProperty("role", "heading")
        lay.addSpacing(6)
        lay.addWidget(cal_head)
        head, rows = calibration_text(calibration)
        self.calibration_label = QLabel(head)
        self.calibration_label.setWordWrap(True)
        self.calibration_label.setProperty("role", "muted")
        lay.addWidget(self.calibration_label)
        self.calibration_rows = {}
        if rows:
            grid = QGridLayout()
            grid.setContentsMargins(0, 0, 0, 0)
            grid.setHorizontalSpacing(16)
            grid.setVerticalSpacing(2)
            for i, (name, value) in enumerate(rows):
                grid.addWidget(QLabel(name), i, 0)
                val = QLabel(value)
                val.setStyleSheet("font-weight: 600;")
                val.setTextInteractionFlags(Qt.TextSelectableByMouse)
                grid.addWidget(val, i, 1, Qt.AlignRight)
                self.calibration_rows[name] = val
            grid.setColumnStretch(2, 1)
            lay.addLayout(grid)
        if library_path:
            lib = QLabel(f"Library (catalogue, thumbnails, history, log): {library_path}")
            lib.setProperty("role", "muted")
            lib.setWordWrap(True)
            lib.setTextInteractionFlags(Qt.TextSelectableByMouse)
            lay.addWidget(lib)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def model(self) -> str:
        for name, radio in self.radios.items():
            if radio.isChecked():
                return name
        return MODEL_CHOICES[0][0]

    def values(self) -> dict:
        patterns = [line.strip() for line in self.exclusions.toPlainText().splitlines() if line.strip()]
        return {"model": self.model(), "exclusions": patterns, "rotations": self.rotations.isChecked()}

    def set_weights_status(self, status: dict) -> None:
        if status.get("available"):
            self.weights_label.setText("✓ Weights are on this computer.")
            self.download_button.hide()
        elif status.get("error"):
            self.weights_label.setText(status["error"])
            self.download_button.hide()
        else:
            self.weights_label.setText("Weights not downloaded yet: they are fetched on the first scan, or now.")
            self.download_button.show()

    def set_download_progress(self, done: int, total: int) -> None:
        self.download_button.setEnabled(False)
        self.download_bar.show()
        if total:
            self.download_bar.setRange(0, 1000)
            self.download_bar.setValue(int(1000 * done / total))
            self.weights_label.setText(f"Downloading… {human_bytes(done)} of {human_bytes(total)}")
        else:
            self.download_bar.setRange(0, 0)

    def set_download_failed(self, message: str) -> None:
        self.download_bar.hide()
        self.download_button.setEnabled(True)
        self.weights_label.setText(message + " Choose EfficientNet-Lite0 to work offline.")


def calibration_text(cal: Optional[dict]) -> tuple[str, list[tuple[str, str]]]:
    """(sentence, [(threshold, value)]) describing what the library measured on its own photos
    (calibrate.calibrate_library)."""
    if not cal:
        return ("Measured on the first scan: a sample of your own photos is edited (cropped, resized, made "
                "grayscale, framed…) and compared with its nearest different photos; the thresholds are set "
                "from what the model sees.", [])
    model = MODEL_TITLES.get(cal.get("model") or "", cal.get("model") or "the model")
    if cal.get("fallback"):
        head = (f"{model}: built-in values (too few photos to measure: {cal.get('sample', 0)}); measured "
                "again once the library has grown.")
    else:
        head = (f"{model}: measured on {cal.get('sample')} of your photos on {str(cal.get('date') or '')[:10]} "
                "(edited copies against their nearest different photos); measured again when the library has "
                "doubled.")

    def fig(key: str, digits: int = 2) -> str:
        v = cal.get(key)
        return "none" if v is None else f"{v:.{digits}f}"

    return head, [("Compare pairs whose model similarity is at least", fig("floor")),
                  ("Call two unaligned pictures the same scene from", fig("similar_cosine")),
                  ("Search for small crops from", fig("template_cosine")),
                  ("Pixel difference allowed: same frame / aligned", f"{fig('same_err', 3)} / {fig('aligned_err', 3)}")]
