"""The app never imports torch or pymilvus by itself (the window must show before torch loads)."""
import re
import subprocess
import sys

APP_MODULES = [
    "desktop_dedup.app.main", "desktop_dedup.app.window", "desktop_dedup.app.jobs", "desktop_dedup.app.engine",
    "desktop_dedup.app.thumbnails", "desktop_dedup.app.prefs", "desktop_dedup.app.theme", "desktop_dedup.app.errors",
    "desktop_dedup.app.controllers.library", "desktop_dedup.app.controllers.review",
    "desktop_dedup.app.controllers.scan", "desktop_dedup.app.models.groups_model",
    "desktop_dedup.app.views.first_run", "desktop_dedup.app.views.progress", "desktop_dedup.app.views.groups",
    "desktop_dedup.app.views.compare", "desktop_dedup.app.views.history", "desktop_dedup.app.views.settings",
    "desktop_dedup.app.views.help_overlay", "desktop_dedup.app.views.about", "desktop_dedup.app.views.dialogs",
]


def test_app_modules_do_not_import_torch_or_pymilvus():
    code = (
        "import importlib, sys\n"
        f"for m in {APP_MODULES!r}: importlib.import_module(m)\n"
        "from desktop_dedup.app.main import make_app\n"
        "from desktop_dedup.app.window import MainWindow\n"
        "app = make_app()\n"
        "w = MainWindow(open_library=False); w.show(); app.processEvents()\n"
        "bad = [m for m in ('torch', 'pymilvus', 'milvus_lite', 'torchvision') if m in sys.modules]\n"
        "print('BAD', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_view_module_mentions_engine_internals():
    """Views only know Qt and plain data: no Milvus, no torch, no Library import."""
    import pathlib

    import desktop_dedup.app as app_pkg

    root = pathlib.Path(app_pkg.__file__).parent
    pattern = re.compile(r"^\s*(import|from)\s+(torch|torchvision|pymilvus|milvus_lite)\b", re.M)
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert not pattern.search(text), path
        if path.parent.name == "views":
            assert "core.library" not in text and "core.models" not in text, path


def test_pyside_none_refcount_guard():
    """PySide6 6.12.0 on Python 3.11 leaks a None reference per void call; importing the app guards it."""
    from desktop_dedup.app import compat

    assert compat.affected("6.12.0", (3, 11)) and not compat.affected("6.12.0", (3, 12))
    assert not compat.affected("6.11.3", (3, 11)) and not compat.affected("", (3, 11))
    if compat.affected():
        assert compat._done and sys.getrefcount(None) > 1 << 39
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    for _ in range(20000):  # would abort the interpreter at exit without the guard on an affected PySide6
        label.setText("x")
