"""The GUI thread never runs an engine call: every call is recorded with its thread.

The whole first run of the demo (draw photos, open, list the library, index, example
query), thumbnails, more pages of results, the folder list and a folder filter, the
viewer (picture and details), votes and undo, "use as reference", a pasted image, a
model import and removing a folder all happen; then every recorded call must have run off the GUI thread.
``tests/app/test_learn_flow.py`` records the same way while a model learned from votes
is put to use and rolled back, a run is cancelled and one is kept;
``tests/app/test_get_model_flow.py`` while QuRe's checkpoint is converted and used, and a
conversion is cancelled.
"""

from __future__ import annotations

import functools
import threading

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage

import app.demo_setup
import app.get_model
import app.host
import app.learning
import app.main_window
import app.models
import app.reference
import app.search
import app.viewer
from engine.library import Library

LIBRARY_METHODS = ["search", "similar", "vote", "undo_vote", "votes", "thumbnail", "status", "index", "add_root",
                   "remove_root", "use_bundle", "close", "photo", "reference_features", "browse", "folders",
                   "photo_dates", "details", "roots"]
FUNCTIONS = [(app.demo_setup, "ensure_demo_photos"), (app.demo_setup, "count_photos"),
             (app.main_window, "example_queries"), (app.models, "load_bundle"), (app.host, "load_bundle"),
             (app.reference, "preview_png"), (app.reference, "png_bytes"), (app.search, "run"),
             (app.learning, "learn_facts"), (app.learning, "load_bundle"), (app.learning, "remove_run"),
             (app.get_model, "remove_run"), (app.viewer, "load_image")]


def record_threads(monkeypatch) -> list[tuple[str, bool]]:
    calls: list[tuple[str, bool]] = []

    def wrap(name, fn):
        @functools.wraps(fn)
        def recorded(*a, **kw):
            calls.append((name, threading.current_thread() is threading.main_thread()))
            return fn(*a, **kw)
        return recorded

    for name in LIBRARY_METHODS:
        monkeypatch.setattr(Library, name, wrap(name, getattr(Library, name)))
    real_open = Library.open.__func__
    monkeypatch.setattr(Library, "open", classmethod(wrap("open", real_open)))
    for module, name in FUNCTIONS:
        monkeypatch.setattr(module, name, wrap(name, getattr(module, name)))
    return calls


def test_no_engine_call_runs_on_the_gui_thread(make_window, qtbot, tmp_path, app_bundle, monkeypatch):
    calls = record_threads(monkeypatch)
    assert threading.current_thread() is threading.main_thread()
    (tmp_path / "settings.ini").write_text("[prefs]\nresults=20\n")  # pages of 20: more pages come as it scrolls
    w = make_window(library=tmp_path / "demo-library", demo=True, demo_photos=60)
    browsed = []
    w.search.browsed.connect(lambda *a: browsed.append(a))
    drawn = []
    w.demo.progress.connect(lambda done, total: drawn.append((done, total)))
    with qtbot.waitSignal(w.search.answered, timeout=60000) as sig:  # drawn, opened, indexed, example shown
        w.start()
    assert sig.args[0].query.text and w.model.rowCount() > 0
    assert drawn[0] == (0, 60) and drawn[-1] == (60, 60), "the first run shows the drawing's progress"
    qtbot.waitUntil(lambda: w.thumbs.loaded >= min(4, w.model.rowCount()), timeout=10000)
    assert browsed, "the library was listed before the example query came"
    qtbot.waitUntil(lambda: (w.view.scrollToBottom(), w.model.rowCount() > 20)[1], timeout=10000)
    w.browsing.open_viewer(1)
    qtbot.waitUntil(lambda: w.viewer.original is not None and w.viewer.details is not None, timeout=10000)
    w.viewer.close_viewer()
    qtbot.waitUntil(lambda: w.browse_bar.folder.count() > 1, timeout=10000)
    with qtbot.waitSignal(w.search.answered, timeout=10000):
        w.browse_bar.folder.setCurrentIndex(1)  # the demo photos' folder: the search again, narrowed
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        w.votes.vote(0, True)
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        w.votes.undo()
    with qtbot.waitSignal(w.search.answered, timeout=10000):
        w.view.reference_requested.emit(2)
    image = QImage(16, 16, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.blue)
    QGuiApplication.clipboard().setImage(image)
    with qtbot.waitSignal(w.search.answered, timeout=10000):
        w._paste()
    with qtbot.waitSignal(w.host.status_changed, timeout=10000):
        w.models.load(app_bundle)
    with qtbot.waitSignal(w.host.status_changed, timeout=10000):
        w._remove_folder(w.host.status.roots[0])
    w.close()
    names = {n for n, _ in calls}
    want = {"open", "index", "search", "votes", "vote", "undo_vote", "thumbnail", "status", "use_bundle",
            "remove_root", "close", "ensure_demo_photos", "example_queries", "load_bundle", "preview_png",
            "png_bytes", "run", "learn_facts", "browse", "folders", "photo_dates", "details", "load_image", "photo"}
    assert want <= names, f"not exercised: {want - names}"
    on_gui = sorted({n for n, main in calls if main})
    assert on_gui == [], f"engine calls on the GUI thread: {on_gui}"
