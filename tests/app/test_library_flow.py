"""The library panel: indexing with progress, pause/resume and cancel; skipped files; folders."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from PySide6.QtCore import QCoreApplication

from engine.runtime import Encoders
from tests.engine.conftest import make_photos


@pytest.fixture
def slow_encoder(monkeypatch):
    """Each vision batch takes 40 ms longer: indexing lasts long enough to pause and cancel."""
    real = Encoders.vision

    def slow(self, pixels):
        time.sleep(0.04)
        return real(self, pixels)

    monkeypatch.setattr(Encoders, "vision", slow)


@pytest.fixture
def encoder_gate(monkeypatch):
    """The indexer's first vision batch runs; later ones wait until the test sets the gate.

    A test acts while indexing is surely mid-run, however fast or loaded the machine is.
    Only the indexing thread waits: a search on another thread never does.
    """
    real = Encoders.vision
    gate, batches = threading.Event(), []

    def gated(self, pixels):
        if threading.current_thread().name == "cirsearch-index":
            batches.append(len(pixels))
            if len(batches) > 1:
                assert gate.wait(60), "the test never opened the encoder gate"
        return real(self, pixels)

    monkeypatch.setattr(Encoders, "vision", gated)
    yield gate
    gate.set()


@pytest.fixture
def started(make_window, qtbot):
    w = make_window()
    # The progress throttle's clock moves one second per reading: every report reaches the
    # window, whatever the machine's speed (the throttle itself is tested in state/).
    ticks = itertools.count()
    w.index_job.clock = lambda: float(next(ticks))
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    return w


def test_progress_pause_resume_and_skipped_files(started, qtbot, tmp_path, encoder_gate):
    w = started
    folder = tmp_path / "many"
    make_photos(folder, 96, seed=5)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    seen = []
    w.index_job.progress.connect(lambda p: seen.append(p))
    w.add_folder(str(folder))
    assert w.panel.pause_button.isVisible() and w.panel.cancel_button.isVisible()
    qtbot.waitUntil(lambda: any(p.phase == "encode" and 0 < p.done < p.total for p in seen), timeout=20000)
    w.panel.pause_button.click()
    assert w.index_job.paused and w.panel.pause_button.text() == "Resume"
    encoder_gate.set()  # the batch in flight finishes, then the indexer stops between photos
    qtbot.waitUntil(lambda: w.index_job.parked, timeout=20000)
    QCoreApplication.processEvents()  # reports posted before it stopped
    done = w.index_job.last.done
    assert "paused" in w.panel.line.text()
    qtbot.wait(200)
    assert w.index_job.parked and w.index_job.last.done == done < 97, "nothing moves while paused"
    with qtbot.waitSignal(w.index_job.finished, timeout=60000) as fin:
        w.panel.pause_button.click()  # resume
    report = fin.args[0]
    assert not report.cancelled and report.encoded == 96 and len(report.failed) == 1
    encode = [p for p in seen if p.phase == "encode"]
    assert encode[-1].done == encode[-1].total == 97
    assert [p.done for p in encode] == sorted(p.done for p in encode), "progress only goes forward"
    assert "96 new" in w.panel.line.text() and "1 skipped" in w.panel.line.text()
    qtbot.waitUntil(lambda: w.panel.skipped.topLevelItemCount() == 1, timeout=5000)
    item = w.panel.skipped.topLevelItem(0)
    assert item.text(0).endswith("broken.jpg") and item.text(1), "the skipped file and why"
    assert "Skipped (1)" in w.panel.skipped_label.text()
    assert not w.panel.pause_button.isVisible()


def test_progress_words_while_running(started, qtbot, tmp_path):
    w = started
    make_photos(tmp_path / "some", 48, seed=6)
    lines = []
    w.index_job.progress.connect(lambda p: lines.append(w.panel.line.text()))
    with qtbot.waitSignal(w.index_job.finished, timeout=60000):
        w.add_folder(str(tmp_path / "some"))
    running = [t for t in lines if " of 48 photos" in t and "left" in t]
    assert running and "photos/s" in running[0], "rate and time left while indexing"
    assert w.panel.bar.value() == 100


def test_cancel_keeps_what_is_done(started, qtbot, tmp_path, encoder_gate):
    w = started
    make_photos(tmp_path / "big", 96, seed=7)
    seen = []
    w.index_job.progress.connect(seen.append)
    w.add_folder(str(tmp_path / "big"))
    qtbot.waitUntil(lambda: any(p.phase == "encode" and p.encoded > 0 for p in seen), timeout=20000)
    with qtbot.waitSignal(w.index_job.finished, timeout=30000) as fin:
        w.panel.cancel_button.click()
        encoder_gate.set()
    report = fin.args[0]
    assert report.cancelled and 0 < report.encoded < 96
    assert "Stopped" in w.panel.line.text()
    with qtbot.waitSignal(w.host.status_changed, timeout=5000) as st:
        w.host.refresh()
    assert st.args[0].photos == report.encoded and st.args[0].pending == 96 - report.encoded
    with qtbot.waitSignal(w.index_job.finished, timeout=60000) as fin:
        w.panel.rescan_button.click()
    assert fin.args[0].encoded == 96 - report.encoded, "a rescan finishes the rest, nothing twice"


def test_add_and_remove_folders(started, qtbot, photo_dir):
    w = started
    assert "no folders yet" in w.view.message
    with qtbot.waitSignal(w.index_job.finished, timeout=30000):
        w.add_folder(str(photo_dir))
    qtbot.waitUntil(lambda: w.panel.folders.count() == 1, timeout=5000)
    assert w.panel.folders.item(0).text() == str(photo_dir)
    w.panel.folders.setCurrentRow(0)
    assert w.panel.remove_button.isEnabled()
    w.ask = lambda title, text: True  # Remove asks first (tests/app/test_edges.py)
    w.panel.remove_button.click()
    qtbot.waitUntil(lambda: w.host.status.roots == () and w.panel.folders.count() == 0, timeout=10000)


def test_add_folder_while_indexing_says_so(started, qtbot, photo_dir, tmp_path, slow_encoder):
    w = started
    make_photos(tmp_path / "more", 64, seed=8)
    w.add_folder(str(tmp_path / "more"))
    w.add_folder(str(photo_dir))
    assert "Indexing is running" in w.statusBar().currentMessage()
    w.index_job.cancel()
    qtbot.waitUntil(lambda: not w.index_job.running, timeout=30000)


def test_an_indexing_failure_is_reported(started, qtbot, photo_dir, monkeypatch):
    from engine.errors import LibraryBusyError
    from engine.library import Library

    def busy(self, *a, **kw):
        raise LibraryBusyError("another cirsearch process is indexing this library")

    monkeypatch.setattr(Library, "index", busy)
    w = started
    with qtbot.waitSignal(w.index_job.failed, timeout=10000) as sig:
        w.add_folder(str(photo_dir))
    assert isinstance(sig.args[0], LibraryBusyError)
    assert "another cirsearch process" in w.statusBar().currentMessage()
    assert not w.index_job.running and not w.panel.cancel_button.isVisible()


def test_opening_the_demo_while_indexing_stops_that_run_first(started, qtbot, tmp_path, slow_encoder, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # where platformdirs puts the demo library
    from app.state.places import demo_places
    from engine.demo import ensure_demo_photos

    ensure_demo_photos(demo_places().photos, photos=60)  # drawn already: the demo opens at once
    w = started
    make_photos(tmp_path / "mine", 96, seed=9)
    seen = []
    w.index_job.progress.connect(seen.append)
    w.add_folder(str(tmp_path / "mine"))
    qtbot.waitUntil(lambda: any(p.phase == "encode" and p.encoded > 0 for p in seen), timeout=20000)
    reports = []
    w.index_job.finished.connect(reports.append)
    with qtbot.waitSignal(w.search.answered, timeout=90000) as sig:
        w.start_demo()
    assert reports[0].cancelled, "the run on the first library was stopped"
    assert reports[-1].encoded == 60 and not reports[-1].cancelled, "then the demo photos were indexed"
    assert sig.args[0].query.ref_path.startswith(str(tmp_path / "xdg")) and sig.args[0].query.text
    assert w.host.status.folder.startswith(str(tmp_path / "xdg"))
