"""The same engine against a real Milvus server (2.3.x standalone) instead of Milvus Lite."""
import json
import os
import shutil

import numpy as np
import pytest

from desktop_dedup.cli import main
from desktop_dedup.core.vectors import VectorIndex

from ..photos import brightened, cropped, resized, save, scene

pytestmark = pytest.mark.milvus_server
MODEL = "efficientnet-lite0"


def _scan(root, lib, out, *extra):
    assert main(["scan", str(root), "--library", str(lib), "--model", MODEL, "--json", str(out), *extra]) == 0
    with open(out) as fh:
        return json.load(fh)


def _groups(res):
    return sorted((g["kind"], tuple(sorted(g["files"])), g["keep"]) for g in res["groups"])


def test_vector_index_on_server(milvus_server):
    v = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    idx = VectorIndex(milvus_server, "unit", "m", 16)
    try:
        idx.upsert(range(300), v)
        idx.upsert(range(10), v[:10])  # idempotent
        assert idx.count() == 300
        idx.delete([0, 1])
        assert idx.existing([0, 1, 2]) == {2}
        assert idx.all_ids() == set(range(2, 300))
        hits = idx.search(v[5:6], 3)[0]
        assert hits[0][0] == 5 and hits[0][1] == pytest.approx(1.0, abs=1e-4)
        exact = np.argsort(-(v[2:] @ v[5]))[:3] + 2
        assert [h for h, _ in hits] == [int(x) for x in exact]
    finally:
        idx.client.drop_collection(idx.name)
        idx.close()


def test_scan_on_server_matches_lite(milvus_server, tmp_path):
    root = tmp_path / "photos"
    for i in range(3):
        img = scene(300 + i, (480, 360))
        save(img, str(root / "orig" / f"IMG_{i}.jpg"), quality=95)
        save(resized(img, 0.5), str(root / "edits" / f"small_{i}.jpg"))
        save(brightened(img, 1.2), str(root / "edits" / f"bright_{i}.jpg"))
        save(cropped(img, 0.85), str(root / "edits" / f"crop_{i}.jpg"))
    os.makedirs(root / "backup")
    shutil.copy2(root / "orig" / "IMG_0.jpg", root / "backup" / "IMG_0.jpg")
    save(scene(999, (400, 300)), str(root / "misc" / "other.jpg"))

    lite = _scan(root, tmp_path / "lite", tmp_path / "lite.json")
    server = _scan(root, tmp_path / "srv", tmp_path / "srv.json", "--milvus-uri", milvus_server)
    assert lite["groups"], "the library has duplicates to find"
    assert _groups(server) == _groups(lite)
    assert server["stats"]["embedded"] == lite["stats"]["embedded"] > 0

    again = _scan(root, tmp_path / "srv", tmp_path / "srv2.json", "--milvus-uri", milvus_server)
    assert again["stats"]["embedded"] == 0
    assert again["stats"]["reused"] == server["stats"]["files_seen"] - server["stats"]["skipped"]
    assert _groups(again) == _groups(server)
