"""The window as a whole: a rendered picture with demo results, the model label and
import, photo actions, window state in QSettings, and the command line."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication

from app.main import binding_problem, build_parser, options_from
from app.results_model import Role
from app.state.query import Mode


@pytest.fixture
def demo_window(make_window, qtbot, tmp_path):
    """The demo's first run on 60 photos with the test-double model: results and thumbnails shown."""
    w = make_window(library=tmp_path / "demo-library", demo=True, demo_photos=60)
    with qtbot.waitSignal(w.search.answered, timeout=60000):
        w.start()
    visible = min(w.model.rowCount(), w.view.columns() * 2)
    qtbot.waitUntil(lambda: all(w.thumbs.pixmap(w.model.data(w.model.index(r), Role.PHOTO_ID)) is not None
                                for r in range(visible)), timeout=20000)
    return w


def image_array(qimage) -> np.ndarray:
    qimage = qimage.convertToFormat(qimage.Format.Format_RGB888)
    w, h, stride = qimage.width(), qimage.height(), qimage.bytesPerLine()
    return np.frombuffer(qimage.constBits(), np.uint8, stride * h).reshape(h, stride)[:, : 3 * w].reshape(h, w, 3)


def test_main_window_with_demo_results_renders_to_a_png(demo_window, qtbot, tmp_path):
    w = demo_window
    out = tmp_path / "window.png"
    assert w.grab().save(str(out))
    from PIL import Image

    pic = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert pic.shape[0] > 500 and pic.shape[1] > 900
    assert pic.std() > 20, "not a blank window"
    grid = w.view.viewport()
    top_left = grid.mapTo(w, QPoint(0, 0))
    tile = w.view.visualRect(w.model.index(0)).adjusted(8, 12, -8, -30)
    crop = pic[
        top_left.y() + tile.top() : top_left.y() + tile.bottom(),
        top_left.x() + tile.left() : top_left.x() + tile.right(),
    ]
    colours = len({tuple(c) for c in crop.reshape(-1, 3)[::7]})
    assert colours > 50, "the first tile shows a photo, not a placeholder"
    orange = np.all(np.abs(pic - np.array([233, 120, 20])) < 30, axis=2).sum()
    strong = w.model.cutoff < w.model.rowCount()
    assert (orange > 100) == strong, "the cut-off divider is drawn exactly when there is a cut-off"
    assert "Demo model — trained on generated images" in w.model_label.text()
    assert w.device_label.text() in ("Running on CPU", "Running on GPU (CUDA)")
    assert w.well.reference and w.query_bar.edit.text(), "the example query is filled in"


def test_the_demos_second_run_reuses_its_photos(demo_window, make_window, qtbot, tmp_path):
    first = demo_window.model.result.query
    demo_window.close()
    w = make_window(library=tmp_path / "demo-library", demo=True, demo_photos=60)
    drawn, reports, answers = [], [], []
    w.demo.progress.connect(lambda *a: drawn.append(a))
    w.index_job.finished.connect(reports.append)
    w.search.answered.connect(lambda result, *_: answers.append(result))
    # the example query may be answered before or after the catch-up index run ends: wait for both
    with qtbot.waitSignals([w.search.answered, w.index_job.finished], timeout=30000):
        w.start()
    assert drawn == [] and reports[0].encoded == 0, "nothing drawn or encoded again"
    assert (answers[0].query.text, answers[0].query.ref_sha256) == (first.text, first.ref_sha256)


def test_photo_actions(demo_window, qtbot):
    w = demo_window
    path = w.model.hit(1).path
    w.view.open_requested.emit(1)
    w.view.reveal_requested.emit(1)
    assert w.open_url.urls == [path, path.rsplit("/", 1)[0]]
    w.view.copy_requested.emit([1])
    mime = QGuiApplication.clipboard().mimeData()
    assert mime.text() == path and mime.urls()[0].toLocalFile() == path
    menu = w.view.context_menu(1)
    labels = [a.text() for a in menu.actions() if a.text()]
    assert {"View (Space)", "Open with system viewer", "Reveal in folder", "Copy path", "Use as reference",
            "Find similar"} <= set(labels)
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        next(a for a in menu.actions() if a.text() == "Find similar").trigger()
    assert sig.args[0].query.mode == "similar" and sig.args[0].query.ref_path == path
    assert w.query_bar.mode is Mode.SIMILAR
    at = w.view.visualRect(w.model.index(0)).center() + QPoint(0, 30)
    qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=at)  # a real double click starts with a press
    qtbot.mouseDClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert w.pages.currentWidget() is w.viewer and w.viewer.row == 0, "a double click shows the photo large"


def test_model_import_checks_and_offers_reindexing(window, qtbot, tmp_path, app_bundle, app_bundle_other):
    w = window
    warned, asked = [], []
    w.warn = lambda title, text: warned.append(text)
    w.ask = lambda title, text: asked.append(text) or True
    broken = tmp_path / "broken-bundle"
    shutil.copytree(app_bundle, broken)
    (broken / "query.onnx").write_bytes(b"tampered")
    w.models.load(broken)
    qtbot.waitUntil(lambda: len(warned) == 1, timeout=10000)
    assert "query.onnx" in warned[0], "the error names the file at fault"
    w.models.load(tmp_path / "nowhere")
    qtbot.waitUntil(lambda: len(warned) == 2, timeout=10000)
    assert "does not exist" in warned[1]
    with qtbot.waitSignal(w.index_job.finished, timeout=60000) as fin:
        w.models.load(app_bundle_other)
    assert asked and "encoded again" in asked[0]
    assert fin.args[0].encoded == 24, "every photo is encoded again with the new model"
    assert "other" in w.model_label.text() and "Demo model" not in w.model_label.text()


def test_window_state_is_kept(make_window, qtbot, tmp_path):
    w = make_window()
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    w.query_bar.set_mode(Mode.SIMILAR)
    w.resize(790, 640)  # inside the offscreen screen (800 x 800), not below the window's least size
    w.splitter.setSizes([240, 500])
    width = w.size().width()
    sizes = w.splitter.sizes()
    w.close()
    w2 = make_window(size=None)  # as the settings say
    assert w2.query_bar.mode is Mode.SIMILAR
    assert w2.size().width() == width == 790 and w2.splitter.sizes() == sizes
    assert (tmp_path / "settings.ini").is_file()


def test_command_line():
    o = options_from(build_parser().parse_args(["--demo", "--demo-photos", "60", "--no-index"]))
    assert o.demo and o.demo_photos == 60 and o.index_on_open is False and o.library.name == "demo-library"
    o = options_from(build_parser().parse_args(["--library", "~/pics-lib", "--bundle", "/b"]))
    assert not o.demo and o.library.is_absolute() and o.library.name == "pics-lib" and str(o.bundle) == "/b"
    assert options_from(build_parser().parse_args([])).index_on_open is None


@pytest.mark.parametrize(
    "pyside, python, refused",
    [
        ("6.12.0", (3, 11), True),
        ("6.12.0", (3, 12), False),
        ("6.11.3", (3, 11), False),
        ("6.12.1", (3, 10), False),
    ],
)
def test_a_broken_binding_is_refused_with_a_reason(pyside, python, refused):
    why = binding_problem(pyside, python)
    assert (why is not None) == refused
    if refused:
        assert "!=6.12.0" in why


def test_a_library_without_a_model_opens_once_one_is_imported(make_window, qtbot, tmp_path, app_bundle, monkeypatch):
    monkeypatch.delenv("CIRSEARCH_DEMO_BUNDLE", raising=False)
    monkeypatch.setattr("app.state.places.demo_bundle_dir", lambda: None)  # no demo model installed
    w = make_window(bundle=None)
    with qtbot.waitSignal(w.host.open_failed, timeout=20000):
        w.start()
    assert "no model yet" in w.view.message
    with qtbot.waitSignal(w.host.opened, timeout=20000) as sig:
        w.models.load(app_bundle)
    assert sig.args[0].demo_model and w.host.lib is not None


def test_quitting_after_copy_path_exits_cleanly(tmp_path):
    """Qt's offscreen clipboard segfaults at exit if it still holds mime data; the app
    empties it on quit (a crash at exit would fail CI and lose nothing, but it is a crash)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from PySide6.QtCore import QMimeData, QTimer, QUrl\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from app.main import release_clipboard\n"
        "app = QApplication(sys.argv)\n"
        "app.aboutToQuit.connect(release_clipboard)\n"
        "m = QMimeData(); m.setText('/x'); m.setUrls([QUrl.fromLocalFile('/x')])\n"
        "app.clipboard().setMimeData(m)\n"
        "QTimer.singleShot(0, app.quit)\n"
        "sys.exit(app.exec())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
