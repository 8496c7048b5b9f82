"""Test-wide safety net: never touch the real user's trash, settings, model cache or network."""
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DESKTOP_DEDUP_OFFLINE", "1")  # a test that wants the download path opts back in


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    data = tmp_path_factory.mktemp("xdg_data")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg_config")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg_cache")))
    yield
