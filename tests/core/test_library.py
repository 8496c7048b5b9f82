"""Library facade: progress, cancel + resume, groups after trash, dismissed groups, info."""
import threading

import pytest

from desktop_dedup.core.library import Library
from desktop_dedup.core.types import DedupError

from ..photos import make_library, save, scene

MODEL = "efficientnet-lite0"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("lib_photos")
    return root, make_library(str(root), n_scenes=3)


def test_progress_phases_and_info(tree, tmp_path):
    root, files = tree
    seen = []
    with Library.open(str(tmp_path / "lib")) as lib:
        res = lib.scan([str(root)], model=MODEL, progress=seen.append)
        info = lib.info()
    phases = [p.phase for p in seen]
    assert phases[-1] == "done"
    for ph in ("walk", "hash", "embed", "group"):
        assert ph in phases
    embed = [p for p in seen if p.phase == "embed"]
    assert embed[-1].done == embed[-1].total == len(files)
    assert all(p.eta_seconds is None or p.eta_seconds >= 0 for p in seen)
    assert info["files"] == len(files) and info["model"] == MODEL and info["last_scan"]
    assert info["groups"] == len(res.groups)


def test_cancel_then_resume_embeds_each_file_once(tmp_path):
    root = tmp_path / "many"
    files = [save(scene(500 + i, (96, 72)), str(root / f"p{i:02d}.png")) for i in range(40)]
    cancel = threading.Event()

    def progress(p):
        if p.phase == "embed" and p.done >= 3:
            cancel.set()

    with Library.open(str(tmp_path / "lib")) as lib:
        first = lib.scan([str(root)], model=MODEL, progress=progress, cancel=cancel)
        assert first.cancelled
        second = lib.scan([str(root)], model=MODEL)
    assert not second.cancelled
    assert 0 < first.stats.embedded < len(files)
    assert first.stats.embedded + second.stats.embedded == len(files)
    assert second.stats.reused == first.stats.embedded


def test_pause_blocks_progress_until_resumed(tree, tmp_path):
    root, files = tree
    pause = threading.Event()
    pause.set()
    result = {}
    with Library.open(str(tmp_path / "lib")) as lib:
        t = threading.Thread(target=lambda: result.setdefault("r", lib.scan([str(root)], model=MODEL, pause=pause)))
        t.start()
        t.join(3.0)
        assert t.is_alive()  # paused
        pause.clear()
        t.join(300)
    assert not result["r"].cancelled and result["r"].stats.embedded == len(files)


def test_dismissed_group_stays_dismissed_across_scans(tree, tmp_path):
    root, _ = tree
    with Library.open(str(tmp_path / "lib")) as lib:
        lib.scan([str(root)], model=MODEL)
        groups = lib.groups()
        assert groups
        lib.dismiss_group(groups[0].id)
        assert groups[0].id not in {g.id for g in lib.groups()}
        lib.scan([str(root)], model=MODEL)
        assert groups[0].id not in {g.id for g in lib.groups()}
        assert groups[0].id in {g.id for g in lib.groups(include_dismissed=True)}


def test_unknown_model_and_missing_root_are_clear_errors(tmp_path):
    with Library.open(str(tmp_path / "lib")) as lib:
        with pytest.raises(DedupError, match="Unknown model"):
            lib.scan([str(tmp_path)], model="vgg16")
        with pytest.raises(DedupError, match="does not exist"):
            lib.scan([str(tmp_path / "missing")], model=MODEL)


def test_stale_signatures_are_remade_without_embedding_again(tmp_path):
    """Rows signed by an older verify.SIGNATURE_VERSION get new signatures at the next grouping (the vectors
    stay): without them an edited copy would get no pixel verification and fall out of its group."""
    from desktop_dedup.core import verify

    from ..photos import resized

    root = tmp_path / "photos"
    img = scene(41, (256, 192))
    save(img, str(root / "a.jpg"))
    save(resized(img, 0.5), str(root / "a_small.jpg"))
    save(scene(42, (256, 192)), str(root / "b.jpg"))
    with Library.open(str(tmp_path / "lib")) as lib:
        first = lib.scan([str(root)], model=MODEL)
        assert "near" in [g.kind for g in first.groups]
        with lib.catalog.transaction() as db:
            db.execute("UPDATE contents SET sig_version=?", (verify.SIGNATURE_VERSION - 1,))
        lib.settings_set(f"groups_fingerprint:{MODEL}", None)  # as after a version bump: group again
        again = lib.scan([str(root)], model=MODEL)
        assert again.stats.embedded == 0
        assert [(g.kind, g.paths) for g in again.groups] == [(g.kind, g.paths) for g in first.groups]
        with lib.catalog.lock:
            versions = {r[0] for r in lib.catalog.db.execute("SELECT sig_version FROM contents")}
        assert versions == {verify.SIGNATURE_VERSION}
