"""The viewer: Space or a double click shows the photo large with its path, date, size,
camera and score; fitted, zoomed by keys and Ctrl+wheel; arrows move through the grid
(on to its next page); votes from there; Esc goes back to the grid."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from app.state.viewer import ZOOMS, fit_scale, zoom
from engine.browse import EXIF_MAKE, EXIF_MODEL
from tests.app.test_browse import ctrl_wheel


@pytest.fixture
def big_photo(photo_dir):
    """A 1600 x 1200 photo with the camera in its EXIF, in the library's folder."""
    path = photo_dir / "cam" / "big.jpg"
    path.parent.mkdir()
    exif = Image.Exif()
    exif[EXIF_MAKE], exif[EXIF_MODEL] = "Canon", "Canon EOS R5"
    pixels = np.random.default_rng(5).integers(0, 255, (12, 16, 3), np.uint8).repeat(100, 0).repeat(100, 1)
    Image.fromarray(pixels).save(path, "JPEG", exif=exif.tobytes())
    return str(path)


@pytest.fixture
def viewer_window(make_window, qtbot, big_photo, photo_dir, tmp_path):
    (tmp_path / "settings.ini").write_text("[prefs]\nwatch_folders=false\n")  # a file removed stays listed
    w = make_window(size=(1200, 800))
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    with qtbot.waitSignal(w.search.browsed, timeout=60000):
        w.add_folder(str(photo_dir))
    return w


def search(qtbot, w, ref: str) -> None:
    with qtbot.waitSignal(w.search.answered, timeout=10000):
        w.query_bar.edit.setText("make it blue")
        w.well.set_reference(ref)
    qtbot.waitUntil(lambda: w.model.result is not None and w.model.result.query.text == "make it blue",
                    timeout=10000)


def row_of(w, path: str) -> int:
    return next(r for r in range(w.model.rowCount()) if w.model.hit(r).path == path)


def shown(qtbot, w, row: int) -> None:
    """Wait until the viewer shows ``row`` with its picture and details."""
    qtbot.waitUntil(lambda: w.viewer.row == row and w.viewer.original is not None and w.viewer.details is not None,
                    timeout=10000)


def facts(w) -> dict[str, str]:
    f = w.viewer.facts
    return {f.itemAt(i, f.ItemRole.LabelRole).widget().text().rstrip(":"):
            f.itemAt(i, f.ItemRole.FieldRole).widget().text() for i in range(f.rowCount())}


def test_space_shows_the_photo_large_with_its_facts_and_esc_goes_back(viewer_window, qtbot, big_photo, photo_dir):
    w = viewer_window
    search(qtbot, w, str(sorted((photo_dir / "a").iterdir())[0]))
    row = row_of(w, big_photo)
    w.view.setCurrentIndex(w.model.index(row))
    w.view.setFocus()
    qtbot.keyClick(w.view, Qt.Key.Key_Space)
    assert w.pages.currentWidget() is w.viewer
    shown(qtbot, w, row)
    assert w.viewer.title.text() == big_photo and w.viewer.original == (1600, 1200)
    hit = w.model.hit(row)
    got = facts(w)
    assert got["Camera"] == "Canon EOS R5" and got["Size"].startswith("1600 × 1200 px")
    assert got["Score"].startswith(f"{hit.score:.3f} · rank {hit.rank + 1}") and "(the file’s date)" in got["Date"]
    view = w.viewer.photo
    pix = view.item.pixmap()
    area = view.viewport().size()
    assert view.fitted and view.scale_now == pytest.approx(fit_scale((pix.width(), pix.height()),
                                                                     (area.width(), area.height())))
    assert view.scale_now < 1, "a large photo is fitted to the window"
    assert w.viewer.position.text() == f"{row + 1} of {w.model.rowCount()}"
    qtbot.keyClick(w.viewer, Qt.Key.Key_Escape)
    assert w.pages.currentWidget() is w.view and w.view.currentIndex().row() == row


def test_zoom_by_keys_wheel_and_buttons_and_fit_again(viewer_window, qtbot, big_photo):
    w = viewer_window
    w.browsing.open_viewer(row_of(w, big_photo))
    shown(qtbot, w, row_of(w, big_photo))
    view = w.viewer.photo
    fit = view.scale_now
    qtbot.keyClick(w.viewer, Qt.Key.Key_Plus)
    assert not view.fitted and view.scale_now == zoom(fit, 1) and view.transform().m11() == view.scale_now
    ctrl_wheel(view.viewport(), up=True)
    assert view.scale_now == zoom(zoom(fit, 1), 1)
    qtbot.keyClick(w.viewer, Qt.Key.Key_Minus)
    assert view.scale_now == zoom(fit, 1) and w.viewer.zoom_label.text().endswith("%")
    for _ in range(len(ZOOMS)):
        qtbot.keyClick(w.viewer, Qt.Key.Key_Plus)
    assert view.scale_now == ZOOMS[-1] and w.viewer.zoom_label.text() == f"{ZOOMS[-1] * 100:.0f} %"
    qtbot.keyClick(w.viewer, Qt.Key.Key_0)
    assert view.fitted and view.scale_now == fit and w.viewer.zoom_label.text() == "fitted"
    w.browsing.larger_action.trigger()  # Ctrl+plus in the viewer zooms the photo, not the tiles
    assert view.scale_now == zoom(fit, 1) and w.view.tile_px == 160


def test_arrows_move_through_the_grid_and_on_to_its_next_page(make_window, qtbot, tmp_path, photo_dir):
    (tmp_path / "settings.ini").write_text("[prefs]\nresults=10\n")
    w = make_window(size=(700, 500))  # a small grid: the first page fills it
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    with qtbot.waitSignal(w.search.browsed, timeout=60000):
        w.add_folder(str(photo_dir))
    qtbot.waitUntil(lambda: not w.search.paging.asking, timeout=5000)
    last = w.model.rowCount() - 1
    assert w.model.canFetchMore(w.model.index(0).parent()), "more pages than shown"
    w.browsing.open_viewer(last)
    shown(qtbot, w, last)
    qtbot.keyClick(w.viewer, Qt.Key.Key_Left)
    shown(qtbot, w, last - 1)
    qtbot.keyClick(w.viewer, Qt.Key.Key_Right)
    qtbot.keyClick(w.viewer, Qt.Key.Key_Right)  # past what is loaded: the next page comes, then the step
    shown(qtbot, w, last + 1)
    assert w.viewer.title.text() == w.model.hit(last + 1).path
    w.browsing.open_viewer(0)
    shown(qtbot, w, 0)
    qtbot.keyClick(w.viewer, Qt.Key.Key_Left)
    assert w.viewer.row == 0, "nothing before the first photo"
    qtbot.keyClick(w.viewer, Qt.Key.Key_Space)
    assert w.pages.currentWidget() is w.view


def test_votes_in_the_viewer_and_none_without_a_question(viewer_window, qtbot, photo_dir):
    w = viewer_window
    w.browsing.open_viewer(1)
    shown(qtbot, w, 1)
    assert not w.viewer.up_button.isEnabled() and "search first" in w.viewer.up_button.toolTip()
    assert facts(w)["Score"].startswith("—")
    qtbot.keyClick(w.viewer, Qt.Key.Key_U)
    assert w.host.lib.votes() == []
    qtbot.keyClick(w.viewer, Qt.Key.Key_Escape)
    search(qtbot, w, str(sorted((photo_dir / "b").iterdir())[0]))
    w.browsing.open_viewer(2)
    shown(qtbot, w, 2)
    assert w.viewer.up_button.isEnabled()
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        qtbot.mouseClick(w.viewer.up_button, Qt.MouseButton.LeftButton)
    [vote] = w.host.lib.votes()
    assert vote.up and vote.photo_sha256 == w.model.hit(2).sha256 and vote.query.text == "make it blue"
    assert vote.rank == 2 and w.viewer.up_button.styleSheet() != "" and w.viewer.down_button.styleSheet() == ""
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        qtbot.keyClick(w.viewer, Qt.Key.Key_D)  # the other thumb replaces it
    assert [v.up for v in w.host.lib.votes()] == [False]
    assert w.viewer.down_button.styleSheet() != "" and w.viewer.up_button.styleSheet() == ""


def test_a_double_click_opens_it_and_a_photo_that_is_gone_says_so(viewer_window, qtbot):
    w = viewer_window
    qtbot.waitUntil(lambda: w.model.rowCount() > 3, timeout=5000)
    rect = w.view.visualRect(w.model.index(3))
    qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a double click's press
    qtbot.mouseDClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    # QTest keeps the button held after a double click: later tests' mouse moves would drag
    qtbot.mouseRelease(w.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.pages.currentWidget() is w.viewer
    shown(qtbot, w, 3)
    w.viewer.close_viewer()
    gone = w.model.hit(7).path  # not the photo after the one shown: that one was read ahead
    os.remove(gone)
    w.browsing.open_viewer(7)
    qtbot.waitUntil(lambda: "cannot be shown" in w.viewer.status.text(), timeout=10000)
    assert "disappeared" in w.viewer.status.text()
    assert w.viewer.title.text() == gone
