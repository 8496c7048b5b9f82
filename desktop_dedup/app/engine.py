"""The engine as the app sees it: lazy imports only, so importing the app never loads torch or pymilvus.

`Engine` is the seam for tests: they pass a fake with the same four methods.
"""
from __future__ import annotations

from typing import Callable, Optional

#: (name, title, one-line explanation) of the models offered in settings, default first.
MODEL_CHOICES = [
    ("resnet50", "ResNet-50 (recommended)",
     "Most accurate at telling edited copies from merely similar photos. "
     "Needs a one-time download of about 100 MB."),
    ("efficientnet-lite0", "EfficientNet-Lite0 (fast / offline)",
     "Smaller and about three times faster; ships with the app, so it works offline. "
     "Slightly more likely to call two different shots of one scene similar."),
]
MODEL_TITLES = {name: title.split(" (")[0] for name, title, _ in MODEL_CHOICES}


class Engine:
    """Opens libraries and checks model weights; everything imports the core on first use.

    `subprocess_scans`: scans and model downloads run in a child process (scan_worker), so the window's
    process never imports torch or pymilvus and its event loop never waits on them.
    """

    subprocess_scans = True

    def open_library(self, path: Optional[str] = None, milvus_uri: Optional[str] = None):
        from desktop_dedup.core.library import Library

        return Library.open(path, milvus_uri=milvus_uri)

    def default_library_dir(self) -> str:
        from desktop_dedup.core.library import default_library_dir

        return str(default_library_dir())

    def weights_status(self, name: str) -> dict:
        from desktop_dedup.core import models

        return models.weights_status(name)

    def load_embedder(self, name: str, progress: Optional[Callable[[int, int], None]] = None):
        from desktop_dedup.core import models

        return models.load_embedder(name, progress=progress)
