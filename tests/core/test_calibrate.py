"""Per-library calibration of the embedding cut-offs (calibrate.calibrate_library) and its place in a scan."""
import json

import numpy as np
import pytest

from desktop_dedup.core import calibrate, verify
from desktop_dedup.core.library import Library

from ..photos import save, scene

LITE0 = "efficientnet-lite0"


def _photos(n: int, size=(256, 192), start: int = 300) -> list:
    return [scene(start + i, size) for i in range(n)]


@pytest.fixture(scope="module")
def lite0():
    from desktop_dedup.core.library import _embedder

    return _embedder(LITE0)


def _embed_fn(emb):
    return lambda images: emb.embed(np.stack([emb.preprocess(im) for im in images]))


@pytest.fixture(scope="module")
def lite0_calibration(lite0):
    return calibrate.calibrate_library(_photos(10), _embed_fn(lite0), model=LITE0, library_size=10)


def test_lite0_values_lie_between_edits_and_distinct_photos(lite0_calibration):
    cal = lite0_calibration
    json.dumps(cal)  # stored as-is in the catalog
    assert cal["version"] == calibrate.CALIBRATION_VERSION and cal["model"] == LITE0 and not cal["fallback"]
    assert cal["sample"] == 10 and cal["library_size"] == 10 and cal["seconds"] > 0
    edits = cal["measured"]["edit_cosine"]
    assert {"resized", "cropped60", "cropped80", "grayscale", "framed", "captioned", "rotated", "turned90"} <= set(edits)
    assert all(v["n"] == 10 for v in edits.values())
    distinct = cal["measured"]["distinct_cosine"]
    assert distinct["n"] >= calibrate.MIN_SAMPLE
    # every edited copy is compared (floor below the lowest edit cosine, crops included) ...
    assert cal["floor"] < min(v["min"] for k, v in edits.items() if k not in calibrate.TURNED)
    assert cal["floor_rotations"] <= min(cal["floor"], edits["turned90"]["min"])
    assert cal["template_cosine"] < edits["cropped60"]["min"]
    # ... and distinct photos do not count as one scene
    assert cal["similar_cosine"] > distinct["max"]
    assert cal["floor"] <= cal["template_cosine"] <= cal["similar_cosine"] < 1.0
    # the residuals of the same edits are measured and reported; the residual thresholds keep their defaults
    for key in ("same_err", "aligned_err"):
        assert cal[key] == verify.DEFAULT_THRESHOLDS[key]
        assert cal["measured"]["residual"][key]["n_edits"] >= 5 and cal["measured"]["residual"][key]["edits_q99"] >= 0


def test_overrides_and_floor_helpers(lite0_calibration):
    T = calibrate.thresholds_of(lite0_calibration)
    assert set(T) == {"template_cosine", "similar_cosine", "same_err", "aligned_err"}
    assert calibrate.floor_of(lite0_calibration, LITE0) == lite0_calibration["floor"]
    assert calibrate.floor_of(lite0_calibration, LITE0, rotations=True) == lite0_calibration["floor_rotations"]
    assert calibrate.floor_of(None, LITE0) == verify.candidate_floor(LITE0)
    assert calibrate.thresholds_of(None) == {}


def test_too_few_photos_fall_back_to_builtin_values(lite0):
    calls = []

    def embed(images):
        calls.append(len(images))
        return _embed_fn(lite0)(images)

    cal = calibrate.calibrate_library(_photos(calibrate.MIN_SAMPLE - 1), embed, model=LITE0)
    assert cal["fallback"] and calls == []  # nothing measured, nothing embedded
    builtin = calibrate.builtin_calibration(LITE0)
    assert {k: cal[k] for k in builtin} == builtin


def test_sample_is_stable_and_spread():
    hashes = {i: f"{i:032x}" for i in range(100)}
    a = calibrate.sample_contents(hashes, 10)
    assert a == calibrate.sample_contents(dict(reversed(hashes.items())), 10)
    assert len(set(a)) == 10 and a != list(range(10))
    grown = {**hashes, **{i: f"{i:032x}" for i in range(100, 110)}}
    assert len(set(a) & set(calibrate.sample_contents(grown, 10))) >= 8  # mostly the same photos


def test_copies_among_neighbours_are_not_distinct(lite0):
    """Neighbour lists full of copies (a library of duplicates): copies, even ones that only align with the
    original and not with each other, are never counted as distinct pictures."""
    from ..photos import cropped

    a, b = scene(1), scene(2)
    sig = verify.make_signature
    big_crop = cropped(a, 0.6)
    framed = calibrate.ImageOps.expand(a, border=14, fill=(255, 255, 255))
    nbs = [[(0.95, sig(a.resize((160, 120)))), (0.9, sig(framed)), (0.8, sig(big_crop)), (0.4, sig(b))]]
    assert calibrate.nearest_distinct([sig(a)], nbs) == [0.4]


def _tree(root, n: int, start: int = 500):
    for i in range(n):
        save(scene(start + i, (160, 120)), str(root / f"p{start + i}.jpg"))


def test_scan_stores_reuses_and_recomputes(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    _tree(root, 8)
    calls = []
    real = calibrate.calibrate_library

    def counted(*a, **kw):
        calls.append(kw.get("library_size"))
        return real(*a, **dict(kw, pixel=False))  # the residual part is not what this test is about

    monkeypatch.setattr(calibrate, "calibrate_library", counted)
    seen = []
    with Library.open(str(tmp_path / "lib")) as lib:
        lib.scan([str(root)], model=LITE0, progress=seen.append)
        assert calls == [8] and "calibrate" in [p.phase for p in seen]
        cal = lib.calibration()
        assert cal == lib.info()["calibration"] == lib.settings_get(f"calibration:{LITE0}")
        assert not cal["fallback"] and cal["library_size"] == 8

        lib.scan([str(root)], model=LITE0)  # unchanged: reused
        assert calls == [8]

        stale = dict(lib.calibration(), version=calibrate.CALIBRATION_VERSION - 1)
        lib.settings_set(f"calibration:{LITE0}", stale)
        lib.scan([str(root)], model=LITE0)  # another calibration method: measured again
        assert calls == [8, 8] and lib.calibration()["version"] == calibrate.CALIBRATION_VERSION

        _tree(root, 7, start=600)  # 15 < 2 x 8: still reused
        lib.scan([str(root)], model=LITE0)
        assert calls == [8, 8]
        _tree(root, 1, start=700)  # 16 = 2 x 8: measured again
        lib.scan([str(root)], model=LITE0)
        assert calls == [8, 8, 16] and lib.calibration()["library_size"] == 16


def test_new_thresholds_regroup(tmp_path, monkeypatch):
    """The calibration is part of the grouping fingerprint: other thresholds, new groups."""
    from desktop_dedup.core import library as library_mod

    root = tmp_path / "photos"
    _tree(root, 3)
    built = []
    real = library_mod.build_groups

    def counted(*a, **kw):
        built.append(kw.get("thresholds"))
        return real(*a, **kw)

    monkeypatch.setattr(library_mod, "build_groups", counted)
    with Library.open(str(tmp_path / "lib")) as lib:
        lib.scan([str(root)], model=LITE0)
        lib.scan([str(root)], model=LITE0)
        assert len(built) == 1  # unchanged library: stored groups
        cal = dict(lib.calibration(), similar_cosine=0.6)
        lib.settings_set(f"calibration:{LITE0}", cal)
        lib.scan([str(root)], model=LITE0)
        assert len(built) == 2 and built[-1]["similar_cosine"] == 0.6


@pytest.fixture
def resnet50_random(resnet50_hub_cache):
    """ResNet-50 loaded from random-init weights in a temporary hub cache (tests/conftest.py)."""
    from desktop_dedup.core.models import load_embedder

    return load_embedder("resnet50")


def test_resnet50_gets_its_own_calibration(resnet50_random, lite0_calibration):
    cal = calibrate.calibrate_library(_photos(8, (160, 120)), _embed_fn(resnet50_random), model="resnet50",
                                      pixel=False)
    assert not cal["fallback"] and cal["model"] == "resnet50"
    builtin = calibrate.builtin_calibration("resnet50")
    assert builtin["floor"] is None  # no hand-set values for this model ...
    assert cal["floor"] is not None  # ... but measured ones, by the same rules
    edits = cal["measured"]["edit_cosine"]
    assert cal["floor"] < min(v["min"] for k, v in edits.items() if k not in calibrate.TURNED)
    assert cal["similar_cosine"] > cal["measured"]["distinct_cosine"]["max"] or cal["similar_cosine"] == 1.0
    for key in ("floor", "template_cosine", "similar_cosine"):
        assert cal[key] != lite0_calibration[key]
    assert cal["similar_cosine"] != verify.thresholds_for("resnet50")["similar_cosine"]
    assert cal["same_err"] == verify.DEFAULT_THRESHOLDS["same_err"]  # pixel=False: residuals untouched


def test_info_json_shows_calibration(tmp_path, capsys):
    from desktop_dedup.cli import main

    root = tmp_path / "photos"
    _tree(root, 8, start=800)
    lib = str(tmp_path / "lib")
    assert main(["info", "--library", lib, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["calibration"] is None
    assert main(["scan", str(root), "--library", lib, "--model", LITE0]) == 0
    capsys.readouterr()
    assert main(["info", "--library", lib, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"path", "files", "groups", "model", "calibration"} <= set(info)
    assert info["calibration"]["model"] == LITE0 and info["calibration"]["sample"] == 8
    assert main(["info", "--library", lib]) == 0
    assert "measured on 8 of your photos" in capsys.readouterr().out
