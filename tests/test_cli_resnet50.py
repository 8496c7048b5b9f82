"""The default model through the CLI: the real torchvision loading path (random-init stand-in weights,
since ImageNet weights cannot be downloaded here) and the offline error when the file is missing."""
import json
import os

import pytest

from desktop_dedup.cli import main

from .photos import resized, save, scene


@pytest.fixture
def tiny_tree(tmp_path):
    root = tmp_path / "photos"
    img = scene(11, (256, 192))
    save(img, str(root / "a.jpg"))
    save(resized(img, 0.5), str(root / "a_small.jpg"))
    save(scene(12, (256, 192)), str(root / "b.jpg"))
    return root


def test_scan_with_resnet50_from_hub_cache(tiny_tree, tmp_path, resnet50_hub_cache):
    out = tmp_path / "r.json"
    assert main(["scan", str(tiny_tree), "--library", str(tmp_path / "lib"), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["stats"]["model"] == "resnet50"
    assert res["stats"]["embedded"] == 3 and res["skipped"] == []
    from desktop_dedup.core.library import Library

    with Library.open(str(tmp_path / "lib")) as lib:
        idx = lib._index("resnet50")
        vecs = idx.get(list(idx.all_ids()))
    assert len(vecs) == 3 and all(v.shape == (2048,) for v in vecs.values())


def test_missing_resnet50_offline_is_a_clear_message(tiny_tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setenv("DESKTOP_DEDUP_OFFLINE", "1")
    monkeypatch.delenv("DESKTOP_DEDUP_WEIGHTS_DIR", raising=False)
    import desktop_dedup.core.library as library

    monkeypatch.setattr(library, "_EMBEDDERS", {})
    try:
        import torch

        monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    except ImportError:
        pass
    code = main(["scan", str(tiny_tree), "--library", str(tmp_path / "lib"), "--model", "resnet50"])
    err = capsys.readouterr().err
    assert code == 1
    assert "resnet50-" in err and ".pth" in err  # names the file
    assert "efficientnet-lite0" in err  # offers the offline model
    assert "Traceback" not in err
