"""Smoke test of `desktop-dedup bench speed` on two tiny synthetic photos."""
from __future__ import annotations

import json

from PIL import Image

from desktop_dedup.bench import speed


def test_synthetic_camera_jpeg(tmp_path):
    p = tmp_path / "a.jpg"
    n = speed.synth_camera_jpeg(p, 0, megapixels=0.5)
    with Image.open(p) as im:
        w, h = im.size
        assert im.format == "JPEG" and abs(w * h - 0.5e6) < 0.02e6 and w > h
    assert n > 50_000  # textured, not a flat picture (~100 KB at 0.5 MP)


def test_bench_speed_smoke(tmp_path, capsys):
    out = tmp_path / "speed.json"
    rc = speed.main(["--model", "efficientnet-lite0", "--images", "2", "--megapixels", "0.3",
                     "--batch-size", "2", "--workers", "1", "--precision", "fp32", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "end-to-end" in text and "cosine app vs naive" in text and "speed-up" in text
    res = json.loads(out.read_text())
    assert res["images"] == 2 and res["errors"] == []
    for side in ("naive", "app"):
        assert all(res[side][k] > 0 for k in ("decode", "inference", "end_to_end"))
    assert res["cosine_min"] > 0.99
    assert "end-to-end CPU ms/img" in text and "0.995 bar" in text
    assert all(v > 0 for v in res["cpu_ms_per_image"].values())
    assert res["full_res_input"] in (True, False)
