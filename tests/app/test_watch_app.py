"""Watched folders in the app: photos added, renamed and removed are indexed with no click,
never while the app's own run goes (one run queues after it), the setting turns it off
and on, and closing ends the watch thread. Waits are on conditions, never fixed sleeps."""

from __future__ import annotations

import itertools
import os
import threading

import numpy as np
import pytest

from app.watching import watch_words
from engine.library import Library
from engine.scanner import walk
from engine.watch import Coverage, WatchConfig
from tests.app.test_library_flow import encoder_gate  # noqa: F401 (a fixture)
from tests.app.test_threads import record_threads
from tests.engine.conftest import make_photos

FAST = WatchConfig(settle_s=0.1, max_wait_s=5.0)


@pytest.fixture
def watching(make_window, qtbot, tmp_path):
    """A started window watching ``tmp_path/photos`` (8 photos, indexed), with a short settle time."""
    root = tmp_path / "photos"
    make_photos(root / "a", 4, seed=1)
    make_photos(root / "b", 4, seed=2)
    w = make_window(watch=True)
    w.watcher.cfg = FAST
    ticks = itertools.count()  # every progress report reaches the window (as test_library_flow's ``started``)
    w.index_job.clock = lambda: float(next(ticks))
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    with qtbot.waitSignal(w.index_job.finished, timeout=60000):
        w.add_folder(str(root))
    qtbot.waitUntil(lambda: w.panel.watch_line.text() == "Watching 1 folder", timeout=30000)
    return w, root


def _watch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "cirsearch-watch"]


def test_photos_added_renamed_and_removed_are_indexed_without_a_click(watching, qtbot, tmp_path, monkeypatch):
    calls = record_threads(monkeypatch)
    w, root = watching
    runs = []
    w.index_job.finished.connect(runs.append)
    make_photos(root / "c", 3, seed=3)
    os.rename(root / "a" / "img_1_000.jpg", root / "a" / "renamed.jpg")
    os.remove(root / "b" / "img_2_000.jpg")
    (root / "b" / "notes.txt").write_text("not a photo")
    want = {p: s.key for p, s in walk(root).files.items()}
    assert len(want) == 10
    qtbot.waitUntil(lambda: bool(runs) and not w.index_job.running and w.host.status.indexed == 10, timeout=30000)
    assert sum(r.encoded for r in runs) == 3 and sum(r.reused for r in runs) == 1, "the rename is recognised"
    assert "Indexed" in w.panel.line.text()
    w.close()
    assert not [t for t in _watch_threads() if t.is_alive()], "closing ends the watch thread"
    on_gui = sorted({n for n, main in calls if main})
    assert {n for n, _ in calls} >= {"index", "status"} and on_gui == [], f"engine calls on the GUI thread: {on_gui}"

    lib, fresh = Library.open(tmp_path / "lib"), Library.open(tmp_path / "fresh", bundle=w.options.bundle)
    try:
        fresh.index([root])
        for a in (lib, fresh):
            assert {p: tuple(k) for r in a.catalog.roots() for p, k in a.catalog.listing(r.id).items()} == want
        for p in want:
            mine, theirs = lib.photo_tokens([lib.photo_at(p).id]), fresh.photo_tokens([fresh.photo_at(p).id])
            np.testing.assert_allclose(mine, theirs, atol=2e-3, err_msg=p)
    finally:
        lib.close()
        fresh.close()


def test_no_watched_run_while_the_apps_own_run_goes_and_one_after_it(watching, qtbot, tmp_path, encoder_gate):  # noqa: F811
    w, root = watching
    make_photos(tmp_path / "more", 48, seed=5)
    runs, seen = [], []
    w.index_job.finished.connect(runs.append)
    w.index_job.progress.connect(seen.append)
    w.add_folder(str(tmp_path / "more"))  # the app's own run: held at its second batch by the gate
    qtbot.waitUntil(lambda: any(p.phase == "encode" and p.done > 0 for p in seen), timeout=20000)
    w.panel.pause_button.click()
    assert w.index_job.paused and w.panel.watch_line.text() == "Watching paused"
    make_photos(root / "new", 2, seed=6)
    batcher = w.watcher._watch._batcher
    qtbot.waitUntil(lambda: batcher._changes >= 2, timeout=30000)  # the watch saw them, during the run
    assert batcher.decide(1e12) is None, "no decision while a run goes, paused or not"
    w.panel.pause_button.click()
    assert w.panel.watch_line.text() == "Watching 1 folder", "the new folder is watched once it is a root"
    encoder_gate.set()
    qtbot.waitUntil(lambda: len(runs) == 2 and not w.index_job.running, timeout=60000)
    assert runs[0].encoded == 48 and not runs[0].cancelled
    assert runs[1].encoded == 2, "one run queued after the app's own, for what changed meanwhile"


def test_the_setting_turns_watching_off_and_on(watching, qtbot, make_window, tmp_path):
    w, root = watching
    w.panel.watch_box.click()
    assert not w.watcher.watching and w.panel.watch_line.text() == "Not watching folders"
    assert w.prefs.watch_folders is False
    make_photos(root / "while-off", 2, seed=7)
    with qtbot.waitSignal(w.index_job.finished, timeout=30000) as fin:
        w.panel.watch_box.click()  # on again: it catches up on what changed meanwhile
    assert fin.args[0].encoded == 2 and w.watcher.watching
    w.panel.watch_box.click()
    w.close()
    again = make_window(watch=True)  # whatever the window saved, not the test's default
    assert not again.panel.watch_box.isChecked() and not again.prefs.watch_folders, "the setting is kept"


def test_watching_words():
    assert watch_words(False, None, False)[0] == "Not watching folders"
    assert watch_words(True, Coverage(watched=("/p",)), True)[0] == "Watching paused"
    assert watch_words(True, None, False) == ("", "")
    assert watch_words(True, Coverage(watched=("/p", "/q"), rescan_every_s=3600), False)[0] == "Watching 2 folders"
    text, tip = watch_words(True, Coverage(watched=("/p",), polled=(("/nas", "a network drive (nfs)"),),
                                           rescan_every_s=300), False)
    assert text == "Watching 2 folders · 1 rescanned every 5 min"
    assert "/nas: a network drive (nfs)" in tip
