"""The headless CLI end to end: the JSON contract, grouping of edited copies, incremental re-scan."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from desktop_dedup.cli import main

from .photos import brightened, cropped, grayscale, resized, save, scene

MODEL = "efficientnet-lite0"


def _scan(root, lib, *extra, capsys=None):
    out = os.path.join(lib, "..", "result.json")
    code = main(["scan", str(root), "--library", str(lib), "--model", MODEL, "--json", out, *extra])
    assert code == 0
    with open(out) as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def photo_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    files = {}
    for i in range(3):
        img = scene(200 + i, (480, 360))
        files[f"o{i}"] = save(img, str(root / "orig" / f"IMG_{i}.jpg"), quality=95)
        files[f"resized{i}"] = save(resized(img, 0.5), str(root / "edits" / f"small_{i}.jpg"))
        files[f"q30_{i}"] = save(img, str(root / "edits" / f"q30_{i}.jpg"), quality=30)
        files[f"gray{i}"] = save(grayscale(img), str(root / "edits" / f"gray_{i}.jpg"))
        files[f"bright{i}"] = save(brightened(img, 1.3), str(root / "edits" / f"bright_{i}.jpg"))
        files[f"crop{i}"] = save(cropped(img, 0.8), str(root / "edits" / f"crop_{i}.jpg"))
    files["copy0"] = str(root / "backup" / "IMG_0.jpg")
    os.makedirs(os.path.dirname(files["copy0"]))
    shutil.copy2(files["o0"], files["copy0"])
    for j in range(2):
        files[f"single{j}"] = save(scene(900 + j, (400, 300)), str(root / "misc" / f"other_{j}.jpg"))
    return root, files


def test_scan_json_contract_and_groups(photo_tree, tmp_path):
    root, files = photo_tree
    res = _scan(root, tmp_path / "lib")
    assert res["root"] == str(root) and res["roots"] == [str(root)]
    st = res["stats"]
    assert st["model"] == MODEL
    assert st["files_seen"] == len(files) == st["embedded"] + st["reused"] + st["skipped"]
    assert st["reused"] == 1  # the byte copy shares the original's embedding
    assert res["skipped"] == []
    dup = [g for g in res["groups"] if g["kind"] in ("exact", "near")]
    for g in res["groups"]:
        assert g["keep"] in g["files"]
        assert all(os.path.isabs(p) for p in g["files"])
    # every family lands in one duplicate group with its original kept, the singletons in none
    for i in range(3):
        family = {files[k] for k in files if k.endswith(str(i)) and not k.startswith("single")}
        if i == 0:
            family.add(files["copy0"])
        holder = [g for g in dup if files[f"o{i}"] in g["files"]]
        assert len(holder) == 1, f"family {i} split: {holder}"
        assert set(holder[0]["files"]) == family
        assert holder[0]["keep"] in (files[f"o{i}"], files.get("copy0"))
    in_dup = {p for g in dup for p in g["files"]}
    assert files["single0"] not in in_dup and files["single1"] not in in_dup


def test_incremental_rescan_reuses_moves_and_reembeds_changes(photo_tree, tmp_path):
    src, files = photo_tree
    root = tmp_path / "photos"
    shutil.copytree(src, root)
    lib = tmp_path / "lib"
    first = _scan(root, lib)
    assert first["stats"]["embedded"] == first["stats"]["files_seen"] - 1

    again = _scan(root, lib)
    assert again["stats"]["embedded"] == 0
    assert again["stats"]["reused"] == again["stats"]["files_seen"]
    assert sorted(map(sorted, (g["files"] for g in again["groups"]))) == \
        sorted(map(sorted, (g["files"] for g in first["groups"])))

    # move one file, change another (new content), delete a third
    moved_from = root / "edits" / "small_1.jpg"
    moved_to = root / "elsewhere" / "renamed.jpg"
    os.makedirs(moved_to.parent)
    os.rename(moved_from, moved_to)
    save(scene(777, (400, 300)), str(root / "misc" / "other_0.jpg"))
    os.remove(root / "edits" / "q30_2.jpg")
    third = _scan(root, lib)
    assert third["stats"]["embedded"] == 1  # only the changed file
    assert third["stats"]["files_seen"] == first["stats"]["files_seen"] - 1
    all_files = {p for g in third["groups"] for p in g["files"]}
    assert str(moved_to) in all_files and str(moved_from) not in all_files
    assert str(root / "edits" / "q30_2.jpg") not in all_files


def test_json_to_stdout_and_human_summary(photo_tree, tmp_path, capsys):
    root, _ = photo_tree
    assert main(["scan", str(root), "--library", str(tmp_path / "lib"), "--model", MODEL, "--json", "-"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["stats"]["model"] == MODEL
    assert main(["scan", str(root), "--library", str(tmp_path / "lib"), "--model", MODEL]) == 0
    assert "duplicate groups" in capsys.readouterr().out


def test_exclude_globs(photo_tree, tmp_path):
    root, files = photo_tree
    res = _scan(root, tmp_path / "lib", "--exclude", "edits", "--exclude", "other_*")
    assert res["stats"]["files_seen"] == 4  # 3 originals + the backup copy
    # the byte copy is the only duplicate (distinct drawn scenes may still be shown as "similar")
    assert [g["kind"] for g in res["groups"] if g["kind"] != "similar"] == ["exact"]


def test_bad_arguments_exit_nonzero_with_one_line(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "nope"), "--library", str(tmp_path / "lib")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nope" in err and "\n" not in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:
        main(["scan", str(tmp_path), "--model", "vgg"])
    assert e.value.code == 2


def test_library_that_cannot_be_opened(tmp_path, capsys):
    bad = tmp_path / "lib"
    bad.mkdir()
    (bad / "catalog.sqlite3").write_bytes(b"this is not sqlite" * 100)
    (tmp_path / "p").mkdir()
    assert main(["scan", str(tmp_path / "p"), "--library", str(bad), "--model", MODEL]) == 1
    err = capsys.readouterr().err
    assert "library" in err.lower() and "Traceback" not in err


def test_milvus_lite_persists_across_processes(photo_tree, tmp_path):
    root, _ = photo_tree
    lib = tmp_path / "lib"
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "desktop_dedup", "scan", str(root), "--library", str(lib), "--model", MODEL,
           "--json", str(tmp_path / "a.json")]
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=600)
    cmd[-1] = str(tmp_path / "b.json")
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=600)
    a, b = (json.load(open(tmp_path / n)) for n in ("a.json", "b.json"))
    assert b["stats"]["embedded"] == 0 and b["stats"]["reused"] == a["stats"]["files_seen"]
    assert [g["files"] for g in a["groups"]] == [g["files"] for g in b["groups"]]


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "desktop_dedup", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("desktop-dedup ")
