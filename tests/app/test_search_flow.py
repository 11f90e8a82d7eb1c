"""Drop a photo, type, results arrive; debouncing; stale answers dropped; the modes."""

from __future__ import annotations

import threading

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication, QImage

from app.state.query import Mode
from engine.library import Library
from engine.runtime import Encoders


def first_photo(photo_dir) -> str:
    return str(sorted((photo_dir / "a").iterdir())[0])


def drop(widget, mime: QMimeData) -> None:
    pos = QPointF(widget.rect().center())
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)


def wait_results(qtbot, w, timeout=10000):
    with qtbot.waitSignal(w.search.answered, timeout=timeout) as sig:
        pass
    return sig.args[0]


def test_drop_a_photo_type_and_results_arrive(window, qtbot, photo_dir, monkeypatch):
    w = window
    ref = first_photo(photo_dir)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(ref)])
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        drop(w.well, mime)
    assert w.well.reference == ref
    first = sig.args[0]
    assert first.query.mode == "composed" and first.query.ref_path == ref and first.query.text == ""
    assert w.model.rowCount() == len(first.hits) == 23, "every photo but the reference itself"
    qtbot.waitUntil(lambda: w.well.picture.pixmap() is not None and not w.well.picture.pixmap().isNull(), timeout=5000)

    calls = []
    real_vision = Encoders.vision
    monkeypatch.setattr(Encoders, "vision", lambda self, px: (calls.append(len(px)), real_vision(self, px))[1])
    sent = w.search.sent
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        qtbot.keyClicks(w.query_bar.edit, "make it red")
    assert w.search.sent == sent + 1, "typing a sentence quickly sends one search (debounced)"
    res = sig.args[0]
    assert res.query.text == "make it red" and res.query.ref_sha256 == first.query.ref_sha256
    assert calls == [], "the reference's vision features are reused: only the query graph runs"
    direct = w.host.lib.search(text="make it red", image=ref, k=w.prefs.results)
    assert [w.model.hit(r).photo_id for r in range(w.model.rowCount())] == [h.photo_id for h in direct.hits]
    assert "strong match" in w.header.text() or "no clear drop" in w.header.text()


def test_a_stale_answer_is_dropped(window, qtbot, photo_dir, monkeypatch):
    w = window
    release, entered = threading.Event(), threading.Event()
    real_search = Library.search

    def slow_first(self, text=None, image=None, k=50, **kw):
        if text == "red":
            entered.set()
            release.wait(10)  # the first search is still running when the second is asked for
        return real_search(self, text=text, image=image, k=k, **kw)

    monkeypatch.setattr(Library, "search", slow_first)
    w.query_bar.set_mode(Mode.TEXT)
    w.search.set_text("red")
    w.search.submit()
    assert entered.wait(10)
    w.search.set_text("blue dress")
    w.search.submit()
    release.set()
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        pass
    qtbot.waitUntil(lambda: w.search.dropped == 1, timeout=5000)
    assert sig.args[0].query.text == "blue dress", "only the newest request's answer is shown"
    assert w.model.result.query.text == "blue dress"


def test_modes(window, qtbot, photo_dir):
    w = window
    assert all(b.isEnabled() for b in w.query_bar.buttons.values())
    ref = first_photo(photo_dir)
    w.well.set_reference(ref)
    wait_results(qtbot, w)
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        w.query_bar.buttons[Mode.SIMILAR].click()
    assert sig.args[0].query.mode == "similar" and not w.query_bar.edit.isEnabled()
    with qtbot.waitSignal(w.search.idle, timeout=5000) as idle:
        w.query_bar.buttons[Mode.TEXT].click()
    assert "Type what" in idle.args[0] and "Type what" in w.view.message
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        qtbot.keyClicks(w.query_bar.edit, "blue")
    assert sig.args[0].query.mode == "text"


def test_text_mode_is_disabled_with_a_reason_when_the_model_has_none(make_window, qtbot, app_bundle_no_text):
    w = make_window(bundle=app_bundle_no_text)
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    b = w.query_bar.buttons[Mode.TEXT]
    assert not b.isEnabled() and "no text-only search" in b.toolTip()
    with qtbot.waitSignal(w.search.idle, timeout=5000) as idle:
        qtbot.keyClicks(w.query_bar.edit, "red")
    assert "needs one" in idle.args[0]


def test_clear_and_paste_references(window, qtbot, photo_dir):
    w = window
    w.well.set_reference(first_photo(photo_dir))
    wait_results(qtbot, w)
    with qtbot.waitSignal(w.search.idle, timeout=5000):
        w.well.clear_button.click()
    assert w.model.rowCount() == 0 and w.well.reference is None and "Drop a photo" in w.view.message
    image = QImage(40, 30, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.red)
    QGuiApplication.clipboard().setImage(image)
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        w.query_bar.edit.setFocus()
        qtbot.keyClick(w.query_bar.edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert isinstance(w.well.reference, bytes) and w.well.reference[:4] == b"\x89PNG"
    assert sig.args[0].query.ref_path is None and w.query_bar.edit.text() == "", "pasted as the reference, not as words"
    path = sorted((photo_dir / "b").iterdir())[3]
    QGuiApplication.clipboard().setText(str(path))
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        w._paste()
    assert sig.args[0].query.ref_path == str(path)
    QGuiApplication.clipboard().setText("just words")
    w._paste()
    assert "no image" in w.statusBar().currentMessage() and w.well.reference == str(path)


def test_an_unreadable_reference_is_reported(window, qtbot, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    w = window
    with qtbot.waitSignal(w.search.failed, timeout=10000) as sig:
        w.well.set_reference(str(bad))
    assert "bad.jpg" in sig.args[0]
    assert "search failed" in w.view.message
    qtbot.waitUntil(lambda: "cannot be shown" in w.well.picture.text(), timeout=5000)


def test_the_real_tiny_model_end_to_end(make_window, qtbot, photo_dir, tiny_bundle):
    """The exported tiny QuRe bundle (random weights) behind the whole window."""
    w = make_window(bundle=tiny_bundle)
    with qtbot.waitSignal(w.host.opened, timeout=30000):
        w.start()
    with qtbot.waitSignal(w.index_job.finished, timeout=120000) as fin:
        w.add_folder(str(photo_dir))
    assert fin.args[0].encoded == 24
    ref = first_photo(photo_dir)
    with qtbot.waitSignal(w.search.answered, timeout=30000) as sig:
        w.query_bar.edit.setText("make it blue and striped")
        w.well.set_reference(ref)
    res = sig.args[0]
    assert res.query.text == "make it blue and striped" and len(res.hits) == 23
    direct = w.host.lib.search(text="make it blue and striped", image=ref, k=w.prefs.results)
    assert [h.photo_id for h in res.hits] == [h.photo_id for h in direct.hits]
    assert w.model.cutoff == res.cutoff


def test_open_dialog_and_grid_drag_give_references(window, qtbot, photo_dir, monkeypatch):
    import app.reference

    w = window
    path = str(sorted((photo_dir / "b").iterdir())[1])
    monkeypatch.setattr(app.reference.QFileDialog, "getOpenFileName", lambda *a, **k: (path, ""))
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        w.well.open_button.click()
    assert sig.args[0].query.ref_path == path
    mime = w.model.mimeData([w.model.index(3)])  # what a tile dragged out of the grid carries
    dragged = w.model.hit(3).path
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        drop(w.well, mime)
    assert sig.args[0].query.ref_path == dragged
