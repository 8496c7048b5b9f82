"""App tests: offscreen Qt, settings in a temp folder, fakes for the engine and the dialogs."""
import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from .fakes import FakeDialogs, FakeEngine, FakeLibrary  # noqa: E402


@pytest.fixture(autouse=True)
def _temp_qsettings(tmp_path_factory):
    """Any QSettings the app makes lands in a temp folder, never in the user's settings."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.IniFormat)
    for scope in (QSettings.UserScope, QSettings.SystemScope):
        QSettings.setPath(QSettings.IniFormat, scope, str(folder))
    yield folder


@pytest.fixture
def prefs(tmp_path):
    from desktop_dedup.app.prefs import Prefs

    return Prefs(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))


@pytest.fixture
def dialogs():
    return FakeDialogs()


@pytest.fixture
def make_window(qtbot, prefs, dialogs, tmp_path):
    """make_window(lib=None, engine=None) -> a shown MainWindow on a fake library, library loaded."""
    from desktop_dedup.app.theme import apply_theme
    from desktop_dedup.app.window import MainWindow
    from PySide6.QtWidgets import QApplication

    made = []

    def make(lib=None, engine=None, wait=True):
        apply_theme(QApplication.instance(), dark=False)
        if engine is None:
            engine = FakeEngine(lib if lib is not None else FakeLibrary(str(tmp_path / "lib")))
        w = MainWindow(engine=engine, prefs=prefs, dialogs=dialogs)
        qtbot.addWidget(w)
        w.resize(1280, 800)
        w.show()
        made.append(w)
        if wait:
            qtbot.waitUntil(lambda: w._ready, timeout=10000)
        return w

    yield make
    for w in made:
        if not w._closing:
            w.close()
