"""Many photos at once: Shift/Ctrl-click and Ctrl+A select; the selection drags out as
file URLs (a name that is not UTF-8 keeps its bytes), Ctrl+C copies every path, and a
vote goes to each selected photo once, for the query on screen."""

from __future__ import annotations

import os
import shutil
import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDrag, QGuiApplication

from app.results_model import Role
from app.state.votes import TileVote
from engine.fspath import shown
from tests.app.test_odd_paths_app import named

BAD_FILE = os.fsdecode(b"bad\xff\xfename.jpg")


@pytest.fixture
def odd_dir(photo_dir):
    """``photo_dir`` with one file whose name is not UTF-8 (Linux keeps such names)."""
    if sys.platform.startswith(("win", "darwin")):
        pytest.skip("names that are not UTF-8: Linux")
    first = sorted((photo_dir / "b").iterdir())[0]
    shutil.move(first, photo_dir / "b" / BAD_FILE)
    return photo_dir


@pytest.fixture
def search_window(make_window, qtbot, odd_dir):
    w = make_window()
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    with qtbot.waitSignal(w.index_job.finished, timeout=60000):
        w.add_folder(str(odd_dir))
    with qtbot.waitSignal(w.search.answered, timeout=10000):
        w.query_bar.edit.setText("make it green")
        w.well.set_reference(str(sorted((odd_dir / "a").iterdir())[0]))
    qtbot.waitUntil(lambda: w.model.result is not None and w.model.result.query.text == "make it green", timeout=10000)
    return w


def click(qtbot, w, row: int, mod=Qt.KeyboardModifier.NoModifier) -> None:
    at = w.view.visualRect(w.model.index(row)).center()
    at.setY(at.y() + 30)  # below the vote buttons
    qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, mod, at)


def test_shift_ctrl_click_and_ctrl_a_select_many(search_window, qtbot):
    w = search_window
    click(qtbot, w, 0)
    click(qtbot, w, 3, Qt.KeyboardModifier.ShiftModifier)
    assert w.view.selected_rows() == [0, 1, 2, 3]
    click(qtbot, w, 6, Qt.KeyboardModifier.ControlModifier)
    assert w.view.selected_rows() == [0, 1, 2, 3, 6]
    click(qtbot, w, 2, Qt.KeyboardModifier.ControlModifier)
    assert w.view.selected_rows() == [0, 1, 3, 6]
    w.view.setFocus()
    qtbot.keyClick(w.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert w.view.selected_rows() == list(range(w.model.rowCount()))
    click(qtbot, w, 5)
    assert w.view.selected_rows() == [5], "a plain click selects one again"


def test_the_selection_drags_out_and_copies_as_every_path(search_window, qtbot, monkeypatch, odd_dir):
    w = search_window
    bad = str(odd_dir / "b" / BAD_FILE)
    odd = next(r for r in range(w.model.rowCount()) if w.model.hit(r).path == bad)
    picked = sorted([odd] + [r for r in (0, 2, 4) if r != odd][:2])
    click(qtbot, w, picked[0])
    for r in picked[1:]:
        click(qtbot, w, r, Qt.KeyboardModifier.ControlModifier)
    paths = [w.model.hit(r).path for r in picked]
    dragged = []
    monkeypatch.setattr(QDrag, "exec", lambda self, *a: dragged.append((self.mimeData(), self.pixmap())))
    w.view.startDrag(Qt.DropAction.CopyAction)
    [(mime, pixmap)] = dragged
    assert [named(u) for u in mime.urls()] == [os.fsencode(p) for p in paths], "every selected file, exact bytes"
    assert not pixmap.isNull()
    assert w.view.dragEnabled() and w.model.flags(w.model.index(odd)) & Qt.ItemFlag.ItemIsDragEnabled
    w.view.setFocus()
    qtbot.keyClick(w.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    copied = QGuiApplication.clipboard().mimeData()
    assert copied.text().split("\n") == [shown(p) for p in paths], "the whole paths, one per line"
    assert [named(u) for u in copied.urls()] == [os.fsencode(p) for p in paths]
    menu = w.view.context_menu(picked[1])
    assert "Copy 3 paths" in [a.text() for a in menu.actions()]


def test_a_vote_goes_to_each_selected_photo_once(search_window, qtbot):
    w = search_window
    lib = w.host.lib
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        w.votes.vote(1, True)  # one of them holds the vote already
    click(qtbot, w, 0)
    click(qtbot, w, 2, Qt.KeyboardModifier.ShiftModifier)
    w.view.setFocus()
    qtbot.keyClick(w.view, Qt.Key.Key_U)
    qtbot.waitUntil(lambda: all(w.model.index(r).data(Role.VOTE) == TileVote(True, False) for r in range(3)),
                    timeout=5000)
    votes = lib.votes()
    assert sorted(v.photo_sha256 for v in votes) == sorted(w.model.hit(r).sha256 for r in range(3))
    assert {v.query.text for v in votes} == {"make it green"} and all(v.up for v in votes)
    qtbot.keyClick(w.view, Qt.Key.Key_U)  # all hold it: nothing is taken back
    assert len(lib.votes()) == 3 and w.model.index(1).data(Role.VOTE) == TileVote(True, False)
    menu = w.view.context_menu(1)
    down = next(a for a in menu.actions() if a.text() == "Thumbs down (D) on all 3")
    down.trigger()
    qtbot.waitUntil(lambda: all(w.model.index(r).data(Role.VOTE) == TileVote(False, False) for r in range(3)),
                    timeout=5000)
    assert sorted((v.photo_sha256, v.up) for v in lib.votes()) == sorted((w.model.hit(r).sha256, False)
                                                                         for r in range(3))
