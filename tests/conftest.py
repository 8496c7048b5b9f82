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


@pytest.fixture
def resnet50_hub_cache(tmp_path, monkeypatch):
    """Random-init ResNet-50 weights (ImageNet ones cannot be downloaded here) under torchvision's file
    name in a temporary TORCH_HOME hub cache: the real loading path finds them there."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from desktop_dedup.core.models.weights import RESNET50_FILES

    home = tmp_path / "torch_home"
    ckpt = home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50().state_dict(), ckpt / RESNET50_FILES[0].filename)
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    return home
