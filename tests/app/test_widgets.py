"""The app driven through its widgets on a fake engine (fast): first run, scan, review, trash, undo."""
import os
import sys
import time

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop_dedup.app.prefs import Prefs
from desktop_dedup.core.types import LibraryInUseError, ModelUnavailableError

from .fakes import FakeEngine, FakeLibrary, draw_image, make_group


@pytest.fixture
def photo_groups(tmp_path):
    """Three groups over real little JPEGs: identical (3 files), edited copy (2), similar (2)."""
    root = tmp_path / "photos"
    p = [draw_image(str(root / f"d{i % 2}" / f"IMG_{i:04d}.jpg"), i, (320, 240)) for i in range(7)]
    return root, p, [
        make_group("exact", [p[0], p[1], p[2]], "exact1", reason="same bytes"),
        make_group("near", [p[3], p[4]], "near1", reason="resized copy, similarity 0.97"),
        make_group("similar", [p[5], p[6]], "sim1", reason="burst: different shots"),
    ]


def wait_settled(qtbot, w, timeout=10000):
    qtbot.waitUntil(w.is_settled, timeout=timeout)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_first_run_folders_drop_and_remembered(make_window, prefs, tmp_path, qtbot):
    lib = FakeLibrary(str(tmp_path / "lib"), scan_files=3, scan_groups=[])
    w = make_window(lib)
    assert w.pages.currentWidget() is w.first_run
    assert not w.first_run.scan_button.isEnabled()
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    w.first_run.add_folders([str(a)])
    # drag and drop a folder (and a file, which is ignored) onto the window
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(b)), QUrl.fromLocalFile(__file__)])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(w.first_run, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(w.first_run, drop)
    assert w.first_run.folders() == [str(a), str(b)]
    assert w.first_run.scan_button.text() == "Scan 2 folders"
    w.first_run.exclusions.setText("*.tmp, Private")
    qtbot.mouseClick(w.first_run.scan_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(lib.scans) and not w.scan_ctl.active, timeout=5000)
    assert lib.scans[0]["roots"] == [str(a), str(b)]
    assert lib.scans[0]["exclude"] == ["*.tmp", "Private"]
    # remembered across runs (a new Prefs on the same settings file, then a new window)
    again = Prefs(prefs.qs.__class__(prefs.qs.fileName(), prefs.qs.format()))
    assert again.folders == [str(a), str(b)] and again.exclusions == ["*.tmp", "Private"]
    w.close()
    w2 = make_window(FakeLibrary(str(tmp_path / "lib2")))
    assert w2.first_run.folders() == [str(a), str(b)]
    assert w2.first_run.exclusion_patterns() == ["*.tmp", "Private"]


def test_scan_progress_pause_resume_cancel_then_groups(make_window, tmp_path, qtbot, photo_groups):
    _root, _p, groups = photo_groups
    lib = FakeLibrary(str(tmp_path / "lib"), scan_files=400, scan_delay=0.005, scan_groups=groups)
    w = make_window(lib)
    folder = tmp_path / "photos"
    w.first_run.add_folders([str(folder)])
    qtbot.mouseClick(w.first_run.scan_button, Qt.LeftButton)
    assert w.pages.currentWidget() is w.progress
    qtbot.waitUntil(lambda: w.progress.bar.value() > 5, timeout=5000)
    assert "of 400 files" in w.progress.counts.text() and "files/s" in w.progress.counts.text()
    assert "IMG_" in w.progress.current.text()
    qtbot.mouseClick(w.progress.pause_button, Qt.LeftButton)
    assert w.library.scan_job.pause.is_set() and w.progress.pause_button.text() == "Resume"
    qtbot.wait(150)
    v1 = w.progress.bar.value()
    qtbot.wait(200)
    assert w.progress.bar.value() - v1 <= 1  # stands still while paused
    qtbot.mouseClick(w.progress.pause_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: w.progress.bar.value() > v1 + 3, timeout=5000)
    qtbot.mouseClick(w.progress.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not w.scan_ctl.active, timeout=5000)
    assert w.pages.currentWidget() is w.first_run  # nothing found yet: back to the folders
    assert "continues where" in w.statusBar().currentMessage()
    # the full scan shows the groups, the first selected in the compare view
    lib.scan_delay = 0
    qtbot.mouseClick(w.first_run.scan_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.review and w.groups_model.rowCount() == 3, timeout=5000)
    wait_settled(qtbot, w)
    assert w.compare.group is not None and len(w.compare.panes) == len(w.compare.group.files)
    assert "photos" in w.library_label.text() and "last scan" in w.library_label.text()


def test_gui_thread_never_stalls_during_scan(make_window, tmp_path, qtbot):
    """A 10 ms timer keeps ticking while the engine works on its own thread."""
    from PySide6.QtCore import QTimer

    lib = FakeLibrary(str(tmp_path / "lib"), scan_files=300, scan_delay=0.002, scan_groups=[])
    w = make_window(lib)
    w.first_run.add_folders([str(tmp_path)])
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    qtbot.mouseClick(w.first_run.scan_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not w.scan_ctl.active, timeout=10000)
    timer.stop()
    assert len(gaps) > 20
    assert max(gaps) < 0.25, f"longest stall {max(gaps) * 1000:.0f} ms"
    qtbot.waitUntil(lambda: w.library.runner.pending() == 0, timeout=5000)
    assert threading_ids_differ(lib)


def threading_ids_differ(lib):
    import threading

    return threading.get_ident() not in lib.thread_ids


def test_review_keyboard_trash_undo_dismiss_skip(make_window, tmp_path, qtbot, photo_groups):
    _root, p, groups = photo_groups
    lib = FakeLibrary(str(tmp_path / "lib"), groups)
    w = make_window(lib)
    assert w.pages.currentWidget() is w.review
    wait_settled(qtbot, w)
    g = w.compare.group
    assert g.id == "exact1"  # most space to free first
    keeper_pane = w.compare.pane_for(g.keep)
    assert keeper_pane.is_keeper and keeper_pane.badge.isVisibleTo(w)
    assert sum(pn.is_keeper for pn in w.compare.panes) == 1
    assert all(pn.view.has_image() for pn in w.compare.panes)  # previews loaded off the GUI thread
    assert "320 × 240" in keeper_pane.facts.text() and "Fake Camera X1" in keeper_pane.facts.text()
    # T trashes the highlighted (non-keeper) file
    victim = w.compare.current_path
    assert victim != g.keep
    qtbot.keyClick(w.groups_view.list, Qt.Key_T)
    qtbot.waitUntil(lambda: not os.path.exists(victim), timeout=5000)
    qtbot.waitUntil(lambda: len(w.compare.panes) == 2, timeout=5000)
    assert "Ctrl+Z" in w.statusBar().currentMessage()
    # Ctrl+Z puts it back and the group is whole again
    qtbot.keyClick(w.groups_view.list, Qt.Key_Z, Qt.ControlModifier)
    qtbot.waitUntil(lambda: os.path.exists(victim), timeout=5000)
    qtbot.waitUntil(lambda: w.compare.group is not None and len(w.compare.group.files) == 3, timeout=5000)
    # Right moves the highlight; K keeps it and trashes the rest: group resolved, next group shown
    qtbot.keyClick(w.groups_view.list, Qt.Key_Right)
    keep = w.compare.current_path
    qtbot.keyClick(w.groups_view.list, Qt.Key_K)
    qtbot.waitUntil(lambda: w.groups_model.row_of("exact1") == -1, timeout=5000)
    assert os.path.exists(keep) and sum(os.path.exists(x) for x in p[:3]) == 1
    qtbot.waitUntil(lambda: w.compare.group is not None and w.compare.group.id == "near1", timeout=5000)
    # S skips, N dismisses (remembered by the engine)
    qtbot.keyClick(w.groups_view.list, Qt.Key_S)
    assert w.compare.group.id == "sim1"
    qtbot.keyClick(w.groups_view.list, Qt.Key_N)
    qtbot.waitUntil(lambda: "sim1" in lib.dismissed, timeout=5000)
    qtbot.waitUntil(lambda: w.groups_model.row_of("sim1") == -1)
    # Z (plain) undoes the K action: both files back
    qtbot.keyClick(w.groups_view.list, Qt.Key_Z)
    qtbot.waitUntil(lambda: all(os.path.exists(x) for x in p[:3]), timeout=5000)


def test_similar_group_asks_before_trashing_a_unique_photo(make_window, tmp_path, qtbot, photo_groups, dialogs):
    _root, p, groups = photo_groups
    lib = FakeLibrary(str(tmp_path / "lib"), groups)
    w = make_window(lib)
    w.groups_view.set_filter("similar")
    qtbot.waitUntil(lambda: w.compare.group is not None and w.compare.group.kind == "similar")
    pane = w.compare.panes[1]
    dialogs.answer = False
    qtbot.mouseClick(pane.trash_button, Qt.LeftButton)
    qtbot.wait(50)
    assert lib.trash_calls == [] and os.path.exists(pane.path)
    assert dialogs.log[-1][0] == "confirm" and "only copy" in dialogs.log[-1][1]
    dialogs.answer = True
    path = pane.path
    qtbot.mouseClick(pane.trash_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not os.path.exists(path), timeout=5000)
    assert lib.trash_calls == [([path], True)]


def test_batch_trash_of_identical_copies_confirms_count_and_bytes(make_window, tmp_path, qtbot, dialogs):
    files = [draw_image(str(tmp_path / "ph" / f"{i}.jpg"), i) for i in range(6)]
    groups = [make_group("exact", files[0:3], "e1", [1000, 1000, 1000]),
              make_group("exact", files[3:5], "e2", [500, 500]),
              make_group("near", [files[5], files[0]], "n1", [10, 10])]
    lib = FakeLibrary(str(tmp_path / "lib"), groups)
    w = make_window(lib)
    dialogs.answer = False
    qtbot.mouseClick(w.groups_view.batch_button, Qt.LeftButton)
    assert lib.trash_calls == []
    assert "Move 3 identical copies (2.5 KB) from 2 groups" in dialogs.log[-1][1]
    dialogs.answer = True
    qtbot.mouseClick(w.groups_view.batch_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(lib.trash_calls), timeout=5000)
    assert sorted(lib.trash_calls[0][0]) == sorted([files[1], files[2], files[4]])
    qtbot.waitUntil(lambda: w.groups_model.counts()["exact"] == 0, timeout=5000)
    assert not w.groups_view.batch_button.isEnabled()


def test_refused_files_are_shown_with_reasons(make_window, tmp_path, qtbot, photo_groups, dialogs):
    _root, p, groups = photo_groups
    lib = FakeLibrary(str(tmp_path / "lib"), groups)
    w = make_window(lib)
    wait_settled(qtbot, w)
    lib.refuse[w.compare.current_path] = "changed since the scan (size, date or content differ); scan again first"
    qtbot.keyClick(w.groups_view.list, Qt.Key_T)
    qtbot.waitUntil(lambda: bool(dialogs.refusals), timeout=5000)
    assert "changed since the scan" in dialogs.refusals[0][0]["reason"]
    assert len(w.compare.panes) == 3  # nothing moved


def test_history_view_lists_actions_and_undoes(make_window, tmp_path, qtbot, photo_groups):
    _root, p, groups = photo_groups
    lib = FakeLibrary(str(tmp_path / "lib"), groups)
    w = make_window(lib)
    wait_settled(qtbot, w)
    qtbot.mouseClick(w.compare.keep_suggested, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(lib.actions), timeout=5000)
    hist = w.open_history()
    qtbot.waitUntil(lambda: hist.tree.topLevelItemCount() == 1 and hist.tree.topLevelItem(0).childCount() == 2,
                    timeout=5000)
    assert hist.tree.topLevelItem(0).text(1) == "Moved to trash" and hist.undo_button.isEnabled()
    qtbot.mouseClick(hist.undo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: all(os.path.exists(x) for x in p[:3]), timeout=5000)
    w.open_history()
    qtbot.waitUntil(lambda: hist.tree.topLevelItem(0).text(3) == "undone", timeout=5000)
    assert not hist.undo_button.isEnabled()


def test_help_overlay_and_about(make_window, tmp_path, qtbot, photo_groups):
    from desktop_dedup import __version__
    from desktop_dedup.app.views.about import about_text, show_about

    _root, _p, groups = photo_groups
    w = make_window(FakeLibrary(str(tmp_path / "lib"), groups))
    qtbot.keyClick(w.groups_view.list, Qt.Key_F1)
    assert w.help.isVisible()
    w.help.grab()  # paints without error
    qtbot.keyClick(w.help, Qt.Key_Escape)
    assert not w.help.isVisible()
    assert __version__ in about_text()
    box = show_about(w)
    assert __version__ in box.text()
    box.close()


def test_compare_zoom_sync_and_difference_view(make_window, tmp_path, qtbot, photo_groups):
    _root, _p, groups = photo_groups
    w = make_window(FakeLibrary(str(tmp_path / "lib"), groups))
    wait_settled(qtbot, w)
    c = w.compare
    views = [pn.view for pn in c.panes]
    c.actual_size()
    assert all(abs(v.current_scale() - 1.0) < 1e-6 for v in views)
    c.zoom_in()
    assert all(abs(v.current_scale() - 1.25) < 1e-6 for v in views)
    c.fit()
    scales = [v.current_scale() for v in views]
    assert all(abs(s - views[0].fit_scale()) < 1e-6 for s in scales[:1])
    # panning one view pans the others (same relative centre)
    c.sync.zoom_by(4.0)
    views[0].horizontalScrollBar().setValue(views[0].horizontalScrollBar().minimum())
    u0, v0 = views[0].center_uv()
    for v in views[1:]:
        u, vv = v.center_uv()
        assert abs(u - u0) < 0.05 and abs(vv - v0) < 0.05
    # difference and flicker for two images
    qtbot.keyClick(w.groups_view.list, Qt.Key_D)
    assert c.mode == "diff"
    qtbot.waitUntil(lambda: c._pair is not None and c.pair_view.has_image(), timeout=5000)
    assert "differ" in c.pair_caption.text()
    qtbot.keyClick(w.groups_view.list, Qt.Key_D)
    assert c.mode == "flicker" and c.flicker_timer.isActive()
    qtbot.keyClick(w.groups_view.list, Qt.Key_D)
    assert c.mode == "side" and not c.flicker_timer.isActive()


def test_big_group_shows_six_panes_then_all(make_window, tmp_path, qtbot):
    files = [draw_image(str(tmp_path / "big" / f"{i}.jpg"), i, (120, 90)) for i in range(9)]
    w = make_window(FakeLibrary(str(tmp_path / "lib"), [make_group("near", files, "big")]))
    qtbot.waitUntil(lambda: w.compare.group is not None and w.compare.more_button is not None)
    assert len(w.compare.panes) == 6 and w.compare.panes[0].path == files[0]  # the keeper first
    assert "Show all 9 files" in w.compare.more_button.text()
    qtbot.mouseClick(w.compare.more_button, Qt.LeftButton)
    assert len(w.compare.panes) == 2 and w.compare.building()  # built a few at a time: no long stall
    qtbot.waitUntil(lambda: len(w.compare.panes) == 9 and not w.compare.building())
    assert w.compare.more_button is None
    wait_settled(qtbot, w)


def test_thumbnails_are_made_off_thread_and_cached_on_disk(make_window, tmp_path, qtbot, photo_groups):
    _root, p, groups = photo_groups
    lib = FakeLibrary(str(tmp_path / "lib"), groups)
    w = make_window(lib)
    wait_settled(qtbot, w)
    qtbot.waitUntil(lambda: all(w.thumbnails.has(x) for x in p[:2]), timeout=5000)
    cache = os.path.join(lib.path, "thumbnails")
    made = [f for _d, _s, fs in os.walk(cache) for f in fs if f.endswith(".jpg")]
    assert len(made) >= 4
    assert w.thumbnails.get(p[0]) is not None and not w.thumbnails.get(p[0]).isNull()


def test_model_download_flow_and_offline_fallback(make_window, tmp_path, qtbot, prefs, dialogs):
    lib = FakeLibrary(str(tmp_path / "lib"), scan_files=3, scan_groups=[])
    engine = FakeEngine(lib, weights_available=False)
    prefs.model = "resnet50"
    w = make_window(engine=engine)
    w.first_run.add_folders([str(tmp_path)])
    qtbot.mouseClick(w.first_run.scan_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: bool(lib.scans), timeout=5000)
    assert engine.downloads == ["resnet50"] and lib.scans[-1]["model"] == "resnet50"
    assert dialogs.log[0][0] == "ask_download" and "download.pytorch.org" in dialogs.log[0][1]
    qtbot.waitUntil(lambda: not w.scan_ctl.active, timeout=5000)
    # offline: the download fails; the user takes the offline model
    engine.weights_available = False
    engine.download_error = ModelUnavailableError("ResNet-50 weights are not on this computer and cannot be "
                                                  "downloaded (offline).", "Use --model efficientnet-lite0.")
    w.rescan()
    qtbot.waitUntil(lambda: len(lib.scans) == 2, timeout=5000)
    assert dialogs.log[-1][0] == "model_unavailable" and "offline" in dialogs.log[-1][1]
    assert lib.scans[-1]["model"] == "efficientnet-lite0" and prefs.model == "efficientnet-lite0"
    assert "EfficientNet-Lite0" in w.first_run.model_label.text()


def test_scan_refusing_model_offers_offline(make_window, tmp_path, qtbot, prefs, dialogs):
    lib = FakeLibrary(str(tmp_path / "lib"), scan_files=2, scan_groups=[])
    lib.scan_error = ModelUnavailableError("No weights.", "Use --model efficientnet-lite0.")
    prefs.model = "resnet50"
    w = make_window(lib)
    w.first_run.add_folders([str(tmp_path)])
    dialogs.offline_answer = False
    qtbot.mouseClick(w.first_run.scan_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not w.scan_ctl.active, timeout=5000)
    assert dialogs.log[-1] == ("model_unavailable", "No weights.")
    assert w.pages.currentWidget() is w.first_run


def test_library_errors_are_friendly_and_logged(make_window, tmp_path, qtbot, dialogs, monkeypatch):
    from desktop_dedup.app import errors

    engine = FakeEngine(open_error=LibraryInUseError("The library is in use by another window.",
                                                     "Close the other Desktop Dedup window first."))
    w = make_window(engine=engine)
    assert dialogs.errors == [("The library is in use by another window.",
                               "Close the other Desktop Dedup window first.")]
    assert "in use" in w.loading.text()
    # uncaught exceptions: a friendly message, the traceback goes to the log in the library folder
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(errors, "_log_dir", str(tmp_path / "libdir"))
    shown = []
    errors.install_excepthook(lambda m, h: shown.append((m, h)))
    try:
        raise ValueError("boom inside a slot")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    log = (tmp_path / "libdir" / errors.LOG_NAME).read_text()
    assert "Traceback" in log and "boom inside a slot" in log
    assert shown and "Traceback" not in shown[0][0] + shown[0][1] and errors.LOG_NAME in shown[0][1]


def test_closing_mid_scan_cancels_and_waits(make_window, tmp_path, qtbot):
    lib = FakeLibrary(str(tmp_path / "lib"), scan_files=5000, scan_delay=0.002, scan_groups=[])
    w = make_window(lib)
    w.first_run.add_folders([str(tmp_path)])
    qtbot.mouseClick(w.first_run.scan_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: w.progress.bar.value() > 10, timeout=5000)
    job = w.library.scan_job
    t = time.perf_counter()
    w.close()
    assert time.perf_counter() - t < 5
    assert job.cancel.is_set() and w.library.runner.pool.activeThreadCount() == 0 and lib.closed


def test_settings_dialog_saves_model_and_exclusions(make_window, tmp_path, qtbot, prefs):
    w = make_window(FakeLibrary(str(tmp_path / "lib")))
    dlg = w.open_settings()
    qtbot.waitUntil(lambda: "Weights" in dlg.weights_label.text(), timeout=5000)
    dlg.radios["efficientnet-lite0"].setChecked(True)
    dlg.exclusions.setPlainText("*.tmp\n\nCache\n")
    dlg.rotations.setChecked(True)
    dlg.accept()
    assert prefs.model == "efficientnet-lite0" and prefs.exclusions == ["*.tmp", "Cache"] and prefs.rotations
    assert "EfficientNet-Lite0" in w.first_run.model_label.text()


def test_settings_show_the_library_calibration(make_window, tmp_path, qtbot):
    w = make_window(FakeLibrary(str(tmp_path / "lib")))
    dlg = w.open_settings()
    assert "first scan" in dlg.calibration_label.text() and not dlg.calibration_rows
    dlg.reject()
    w.library.info = dict(w.library.info or {}, calibration={
        "version": 1, "model": "resnet50", "date": "2026-11-29T20:00:00", "sample": 32, "fallback": False,
        "floor": 0.61234, "similar_cosine": 0.912, "template_cosine": 0.7, "same_err": 0.024, "aligned_err": 0.022})
    dlg = w.open_settings()
    assert "ResNet-50" in dlg.calibration_label.text() and "32 of your photos" in dlg.calibration_label.text()
    values = [v.text() for v in dlg.calibration_rows.values()]
    assert values == ["0.61", "0.91", "0.70", "0.024 / 0.022"]
    dlg.reject()


def test_screenshot_mode_saves_png_and_exits_zero(qapp, tmp_path, monkeypatch, photo_groups):
    from PySide6.QtGui import QImage

    from desktop_dedup.app.main import main

    _root, _p, groups = photo_groups
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    out = tmp_path / "shot.png"
    code = main(["--library", str(tmp_path / "lib"), "--screenshot", str(out)],
                engine=FakeEngine(FakeLibrary(str(tmp_path / "lib"), groups)))
    assert code == 0
    img = QImage(str(out))
    assert img.width() >= 1280 and img.height() >= 800
