"""The rough edges of a first session (issue 13, item 1): no viewer registered, a header
that fits an 800-pixel window, the last query restored, indexing shown as it goes,
Remove confirmed, paths copied, the header's count, Text only, the learn dialog's
words below chance, transparent PNGs, and a dropped file whose name is not UTF-8."""

from __future__ import annotations

import os
import shutil
import threading
from types import SimpleNamespace
from urllib.parse import unquote_to_bytes

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData, QSettings, Qt, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

import app.indexing
import app.main_window
import app.reveal
from app.main_window import HEADER_MIN
from app.query_bar import EDIT_MIN
from app.reference import local_path, reference_from_mime
from app.reveal import file_url
from app.state.learn import LearnFacts, Phase, VoteCount
from app.state.learn_report import result_words
from app.state.progress import PausedTime, describe, report_words
from app.state.query import Mode
from app.state.window import default_size, header_words
from engine.fspath import shown
from engine.indexer import Control, IndexReport, Progress
from engine.thumbnails import thumbnail
from tests.app.state.test_learn_report import outcome
from tests.app.test_library_flow import encoder_gate, started  # noqa: F401 (fixtures)
from tests.engine.conftest import make_photos

BAD = os.fsdecode(b"bad \xff\xfe name")  # a name that is not UTF-8


def text_results(qtbot, w, words="a photo"):
    """Search by words alone: results whatever the reference."""
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        w.query_bar.set_mode(Mode.TEXT)
        w.query_bar.edit.setText(words)
    return sig.args[0]


def url_bytes(url: QUrl) -> bytes:
    return unquote_to_bytes(bytes(url.toEncoded().data()).decode("ascii").removeprefix("file://"))


# -- no program registered -----------------------------------------------------------


def test_open_and_reveal_say_so_when_no_program_is_registered(window, qtbot, monkeypatch):
    w = window
    text_results(qtbot, w)
    asked: list[QUrl] = []
    w.open_url = lambda url: asked.append(url) and False  # QDesktopServices.openUrl found no program
    monkeypatch.setattr(app.reveal, "_file_manager1", lambda bus: False)  # no FileManager1: open the folder
    path = w.model.hit(0).path
    w.view.open_requested.emit(0)
    assert asked == [file_url(path)]
    said = w.statusBar().currentMessage()
    assert "No program is registered to open" in said and path in said
    box = w.no_program_box
    assert box.isVisible() and not box.isModal() and path in box.text() and "image viewer" in box.text()
    assert box.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse, "the path can be selected"
    next(b for b in box.buttons() if b.text() == "Copy path").click()
    assert QGuiApplication.clipboard().text() == path
    w.view.reveal_requested.emit(0)
    assert asked[-1] == file_url(os.path.dirname(path))
    assert "No file manager" in w.statusBar().currentMessage()
    assert w.no_program_box is not box and path in w.no_program_box.text()
    last = w.no_program_box
    w.open_url = lambda url: True  # a viewer opened it: nothing to say
    w.statusBar().clearMessage()
    w.view.open_requested.emit(0)
    assert w.no_program_box is last and w.statusBar().currentMessage() == ""


# -- sizes ---------------------------------------------------------------------------


def test_the_header_fits_an_800_pixel_window_and_the_first_size_fits_the_screen(make_window, qtbot):
    w = make_window(size=None)  # nothing saved: a share of the screen
    free = w.screen().availableGeometry()
    assert w.width() <= max(int(0.85 * free.width()), w.minimumSizeHint().width()) <= free.width()
    assert w.height() <= free.height()
    label = "cirsearch-demo 2701ecfbd989 (demo model)"
    facts = LearnFacts(model="x", model_name="cirsearch-demo", can_personalize=True, personalized=True,
                       base_label=label, base_path="/somewhere", trainer=None, count=VoteCount(32, 20, 12, 0, 4, 41))
    w.learn.facts = facts
    w.learn_ui.sync()
    w.learn_bar.show_state(facts, None, Phase.IDLE, False, None)
    b = w.learn_bar.roll_back_button
    assert b.isVisibleTo(w) and b.text() == "Roll back" and label in b.toolTip()
    assert w.learn_ui.roll_back_action.text() == f"Roll back to {label}", "the menu names the model in full"
    w.header.setText("<b>12</b> strong matches above the line · 300 shown of 676 — searched the words alone")
    QApplication.processEvents()  # the layouts take in the changes
    assert w.minimumSizeHint().width() <= 800, "nothing forces the window wider than 800 pixels"
    w.resize(800, 600)
    qtbot.waitUntil(lambda: w.width() == 800)
    QApplication.processEvents()
    assert w.query_bar.edit.width() >= EDIT_MIN and w.header.width() >= HEADER_MIN


def test_default_size():
    assert default_size(1366, 768) == (1161, 652)  # a laptop: the status bar stays on the screen
    assert default_size(3840, 2160) == (1280, 820)
    assert default_size(800, 600) == (680, 510)


# -- the last query ------------------------------------------------------------------


def test_the_last_reference_and_words_come_back(make_window, window, qtbot, photo_dir, tmp_path):
    ref = str(tmp_path / f"{BAD}.jpg")  # the URL kept in the settings keeps its bytes
    shutil.copy(sorted((photo_dir / "a").iterdir())[0], ref)
    w = window
    with qtbot.waitSignal(w.search.answered, timeout=10000):
        w.well.set_reference(ref)
    with qtbot.waitSignal(w.search.answered, timeout=10000):
        w.query_bar.edit.setText("but in red")
    w.close()
    w2 = make_window()
    assert w2.query_bar.edit.text() == "but in red"
    answers = []
    w2.search.answered.connect(lambda result, *_: answers.append((result.query.text, result.query.ref_path)))
    w2.start()
    qtbot.waitUntil(lambda: ("but in red", ref) in answers, timeout=20000)
    assert w2.well.reference == ref
    w2.close()
    os.remove(ref)  # gone: the words come back alone
    w3 = make_window()
    with qtbot.waitSignal(w3.search.answered, timeout=20000) as sig:
        w3.start()
    assert w3.well.reference is None and sig.args[0].query.text == "but in red"


def test_the_demo_keeps_the_users_own_query(make_window, qtbot, tmp_path, photo_dir, monkeypatch):
    examples = []
    monkeypatch.setattr(app.main_window, "example_queries", lambda folder: examples.append(folder) or [])
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("search/text", "my own words")
    s.sync()
    w = make_window(library=tmp_path / "demo-library", demo=True, demo_photos=30)
    answers = []
    w.search.answered.connect(lambda result, *_: answers.append(result.query.text))
    with qtbot.waitSignal(w.index_job.finished, timeout=60000):
        w.start()
    before = len(answers)
    qtbot.waitUntil(lambda: len(answers) > before, timeout=10000)  # indexed: the query on screen asked again
    assert set(answers) == {"my own words"} and examples == [], "no example replaced it"


# -- indexing ------------------------------------------------------------------------


def test_indexing_lists_the_new_folder_and_the_counts_as_it_goes(started, qtbot, tmp_path, encoder_gate):  # noqa: F811
    w = started
    folder = tmp_path / f"many {BAD}"
    make_photos(folder, 96, seed=5)
    w.add_folder(str(folder))
    qtbot.waitUntil(lambda: w.panel.roots == (str(folder),), timeout=20000)
    assert w.index_job.running, "listed while the run goes on"
    assert w.panel.folders.item(0).text() == shown(str(folder))
    qtbot.waitUntil(lambda: "waiting" in w.panel.summary.text(), timeout=20000)
    assert w.index_job.running
    with qtbot.waitSignal(w.index_job.finished, timeout=60000):
        encoder_gate.set()
    qtbot.waitUntil(lambda: w.panel.summary.text() == "96 photos indexed", timeout=10000)


def test_the_rate_after_resume_leaves_the_pause_out(monkeypatch, qtbot):
    now = [100.0]
    monkeypatch.setattr(app.indexing, "time", SimpleNamespace(monotonic=lambda: now[0]))
    host = SimpleNamespace(call=lambda *a, **kw: None)  # no library: no status to read
    job = app.indexing.IndexJob(host)
    job._control = Control()

    def report(done, elapsed, made):
        job._show(Progress(phase="encode", total=1000, done=done, encoded=done, reused=0, failed=0,
                           elapsed_s=elapsed), made)
        return job.last

    assert report(100, 10.0, 100.0).rate == pytest.approx(10.0)  # began at 90
    job.pause()
    now[0] = 160.0  # a minute paused
    job.resume()
    after = report(200, 80.0, 170.0)
    assert after.rate == pytest.approx(10.0) and after.elapsed_s == pytest.approx(20.0)
    assert "10.0 photos/s" in describe(after).line


def test_paused_time():
    t = PausedTime()
    t.pause(10.0)
    t.pause(11.0)  # already paused
    assert t.paused and t.between(0.0, 15.0) == 5.0
    t.resume(20.0)
    t.pause(30.0)
    t.resume(31.0)
    assert not t.paused and t.between(0.0, 40.0) == 11.0 and t.between(15.0, 40.0) == 6.0
    assert t.between(21.0, 29.0) == 0.0
    p = Progress(phase="encode", total=10, done=5, encoded=5, reused=0, failed=0, elapsed_s=40.0)
    assert t.running(p, 40.0).elapsed_s == 29.0 and t.running(p, 100.0) is p  # that phase began after the pauses


def test_the_rescan_summary_counts_what_the_list_shows(started, qtbot, tmp_path):  # noqa: F811
    w = started
    folder = tmp_path / "some"
    make_photos(folder, 6, seed=3)
    for name in ("broken1.jpg", "broken2.jpg"):
        (folder / name).write_bytes(b"\xff\xd8 not really a jpeg")
    with qtbot.waitSignal(w.index_job.finished, timeout=30000):
        w.add_folder(str(folder))
    (folder / f"{BAD}.jpg").write_bytes(b"\xff\xd8 not a jpeg either")
    with qtbot.waitSignal(w.index_job.finished, timeout=30000) as fin:
        w.panel.rescan_button.click()
    assert len(fin.args[0].failed) == 1, "this run met one new bad file"
    assert "1 skipped" in w.panel.line.text(), "until the library's status comes"
    qtbot.waitUntil(lambda: "3 skipped (1 this time)" in w.panel.line.text(), timeout=10000)
    assert w.panel.skipped_label.text() == "Skipped (3)"
    names = {w.panel.skipped.topLevelItem(i).text(0) for i in range(3)}
    assert shown(str(folder / f"{BAD}.jpg")) in names


def test_report_words():
    r = IndexReport(encoded=5, reused=2, failed=[("a", "x")])
    assert report_words(r, None) == "Indexed: 5 new, 2 known, 1 skipped."
    assert report_words(r, 3) == "Indexed: 5 new, 2 known, 3 skipped (1 this time)."
    assert report_words(r, 1) == "Indexed: 5 new, 2 known, 1 skipped."
    assert report_words(IndexReport(encoded=5, cancelled=True), 0) == "Stopped: 5 new."


# -- Remove --------------------------------------------------------------------------


def test_remove_asks_naming_the_folder_and_its_photos(started, qtbot, tmp_path, monkeypatch):  # noqa: F811
    w = started
    folder = tmp_path / f"photos {BAD}"
    make_photos(folder, 5, seed=4)
    with qtbot.waitSignal(w.host.status_changed, timeout=30000):
        with qtbot.waitSignal(w.index_job.finished, timeout=30000):
            w.add_folder(str(folder))
    counted = []
    real = app.main_window.files_in
    monkeypatch.setattr(app.main_window, "files_in",
                        lambda lib, root: counted.append(threading.current_thread() is threading.main_thread())
                        or real(lib, root))
    asked = []
    w.ask = lambda title, text: asked.append(text) or False
    w.panel.folders.setCurrentRow(0)
    w.panel.remove_button.click()
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=10000)
    assert counted == [False], "counted on a worker"
    assert shown(str(folder)) in asked[0] and "5 photos" in asked[0] and "votes are kept" in asked[0]
    with qtbot.waitSignal(w.host.status_changed, timeout=10000):
        w.host.refresh()
    assert w.host.status.roots == (str(folder),), "No: nothing removed"
    w.ask = lambda title, text: True
    with qtbot.waitSignal(w.host.status_changed, timeout=10000) as st:
        w.panel.remove_button.click()
    assert st.args[0].roots == (), "the folder the library holds, not the list's text"


# -- copy ------------------------------------------------------------------------------


def test_ctrl_c_and_copy_paths(window, qtbot, tmp_path):
    w = window
    text_results(qtbot, w)
    path = w.model.hit(2).path
    w.view.setCurrentIndex(w.model.index(2))
    w.view.setFocus()
    qtbot.keyClick(w.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    mime = QGuiApplication.clipboard().mimeData()
    assert mime.text() == path and mime.urls() == [file_url(path)], "the full path, not the file name"
    bad = os.fsdecode(os.fsencode(str(tmp_path)) + b"/x \xff.jpg")
    w.copy_paths([path, bad])
    mime = QGuiApplication.clipboard().mimeData()
    assert mime.text() == f"{path}\n{shown(bad)}"
    assert [url_bytes(u) for u in mime.urls()] == [os.fsencode(path), os.fsencode(bad)]
    assert w.statusBar().currentMessage() == "Copied 2 paths, one per line"


# -- the header's count ------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    ((300, 45, 300, 676), "<b>45</b> strong matches above the line · 300 shown of 676"),
    ((120, 45, 300, 676), "<b>45</b> strong matches above the line · 75 more"),
    ((300, 300, 300, 1676), "300 shown of 1,676, no clear drop in scores"),
    ((300, 1, 300, 300), "<b>1</b> strong match above the line · 299 more"),
    ((300, 300, 300, None), "300 photos, no clear drop in scores"),
])
def test_header_words(args, words):
    assert header_words(*args) == words


def test_the_header_says_how_many_are_shown_of_all(make_window, qtbot, tmp_path, photo_dir):
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("prefs/results", 10)
    s.sync()
    w = make_window()
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    with qtbot.waitSignal(w.index_job.finished, timeout=60000):
        w.add_folder(str(photo_dir))
    qtbot.waitUntil(lambda: w.host.status.photos == 24, timeout=10000)
    res = text_results(qtbot, w)
    assert len(res.hits) == 10 and "10 shown of 24" in w.header.text()


# -- Text only -------------------------------------------------------------------------


def test_text_only_shows_the_reference_unused(window, qtbot, photo_dir):
    w = window
    with qtbot.waitSignal(w.search.answered, timeout=10000):
        w.well.set_reference(str(sorted((photo_dir / "a").iterdir())[0]))
    assert not w.well.unused.isVisibleTo(w) and not w.well.dim.isEnabled()
    w.query_bar.set_mode(Mode.TEXT)
    assert w.well.unused.isVisibleTo(w) and "Not used in Text only" in w.well.unused.text()
    assert w.well.dim.isEnabled() and w.well.dim.opacity() < 0.5, "the photo is dimmed"
    w.query_bar.set_mode(Mode.SIMILAR)
    assert not w.well.unused.isVisibleTo(w) and not w.well.dim.isEnabled()


# -- learning's words --------------------------------------------------------------------


def test_an_improvement_still_below_chance_says_so():
    w = result_words(outcome(before=0.40, after=0.464, best_epoch=2))
    assert w.after == "46.4%" and "still below chance (50.0%" in w.verdict and "up from 40.0%" in w.verdict
    ok = result_words(outcome(before=0.5, after=0.8))
    assert "below chance" not in ok.verdict and ok.verdict.endswith("up from 50.0%.")


# -- transparent PNGs ------------------------------------------------------------------


def test_a_transparent_png_shows_its_shape(tmp_path):
    im = Image.new("RGBA", (240, 160), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse((60, 40, 180, 120), fill=(255, 255, 255, 255))  # white on transparent
    im.save(tmp_path / "cutout.png")
    out = np.asarray(Image.open(thumbnail(tmp_path / "cutout.png", "ab" * 32, tmp_path / "cache", 96))
                     .convert("RGB")).astype(int)
    assert out.shape == (64, 96, 3)
    assert abs(out[32, 48] - 255).max() < 8, "the shape is white"
    background = np.concatenate([out[:8].reshape(-1, 3), out[-8:].reshape(-1, 3)])
    assert background.max() < 220 and background.std() > 10, "the transparent part is a grey checkerboard"
    opaque = tmp_path / "plain.png"
    Image.new("RGB", (50, 50), (255, 255, 255)).save(opaque)
    plain = np.asarray(Image.open(thumbnail(opaque, "cd" * 32, tmp_path / "cache", 96)).convert("RGB")).astype(int)
    assert plain.min() > 245, "an opaque photo is as it was"


# -- a dropped file whose name is not UTF-8 --------------------------------------------------


def test_a_dropped_url_keeps_a_name_that_is_not_utf8(window, qtbot, photo_dir, tmp_path):
    ref = str(tmp_path / f"{BAD}.jpg")
    shutil.copy(sorted((photo_dir / "a").iterdir())[0], ref)
    url = file_url(ref)
    assert local_path(url) == ref and local_path(QUrl("https://example.com/a.jpg")) is None
    mime = QMimeData()
    mime.setUrls([url])
    assert reference_from_mime(mime) == ref
    text = QMimeData()
    text.setText(bytes(url.toEncoded().data()).decode("ascii"))  # the URL as text
    assert reference_from_mime(text) == ref
    with qtbot.waitSignal(window.search.answered, timeout=10000) as sig:
        assert window.well.take_mime(mime)
    assert sig.args[0].query.ref_path == ref
