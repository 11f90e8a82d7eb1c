"""Votes: the hover buttons and keys store at once through the engine, show on the tile,
undo with Ctrl+Z or the button, and are there again after a restart."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.results_model import Role
from app.results_view import vote_buttons
from app.state.votes import TileVote
from engine.library import Library


def show_query(qtbot, w, ref: str, text: str = "make it blue"):
    with qtbot.waitSignal(w.search.answered, timeout=10000):
        w.query_bar.edit.setText(text)
        w.well.set_reference(ref)
    qtbot.waitUntil(lambda: w.model.rowCount() > 0 and w.model.result.query.text == text, timeout=10000)


def click_thumb(qtbot, w, row: int, up: bool) -> None:
    rect = w.view.visualRect(w.model.index(row))
    up_r, down_r = vote_buttons(rect, w.view.tile_px)
    qtbot.mouseMove(w.view.viewport(), rect.center())
    qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=(up_r if up else down_r).center())


def stored(lib: Library) -> list[tuple[str, bool]]:
    return [(v.photo_sha256, v.up) for v in lib.votes()]


def test_vote_undo_and_keys(window, qtbot, photo_dir):
    w = window
    show_query(qtbot, w, str(sorted((photo_dir / "a").iterdir())[0]))
    sha1, sha2 = w.model.data(w.model.index(1), Role.SHA256), w.model.data(w.model.index(2), Role.SHA256)
    w.view.setCurrentIndex(w.model.index(0))
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        click_thumb(qtbot, w, 1, up=True)
        assert w.model.data(w.model.index(1), Role.VOTE) == TileVote(True, True), "pending until the engine returns"
    assert w.model.data(w.model.index(1), Role.VOTE) == TileVote(True, False)
    assert stored(w.host.lib) == [(sha1, True)], "stored at once"
    assert w.view.currentIndex().row() == 0, "a click on a thumb does not select the tile"
    w.view.setCurrentIndex(w.model.index(2))
    w.view.setFocus()
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        qtbot.keyClick(w.view, Qt.Key.Key_D)
    assert w.model.data(w.model.index(2), Role.VOTE) == TileVote(False, False)
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        qtbot.keyClick(w.view, Qt.Key.Key_Plus)  # the other thumb replaces the vote
    assert w.model.data(w.model.index(2), Role.VOTE) == TileVote(True, False)
    assert sorted(stored(w.host.lib)) == sorted([(sha1, True), (sha2, True)])
    assert w.undo_button.isEnabled()
    with qtbot.waitSignal(w.votes.message, timeout=5000) as msg:
        w.undo_action.trigger()  # Ctrl+Z
    assert msg.args[0] == "Vote undone."
    assert w.model.data(w.model.index(2), Role.VOTE) is None and stored(w.host.lib) == [(sha1, True)]
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        w.undo_button.click()
    assert w.model.data(w.model.index(1), Role.VOTE) is None and stored(w.host.lib) == []
    assert not w.undo_button.isEnabled()
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        click_thumb(qtbot, w, 3, up=False)
    with qtbot.waitSignal(w.votes.message, timeout=5000) as msg:
        click_thumb(qtbot, w, 3, up=False)  # the same thumb again takes it back
    assert msg.args[0] == "Vote taken back." and stored(w.host.lib) == []


def test_votes_persist_across_a_restart(make_window, window, qtbot, photo_dir, tmp_path):
    w = window
    ref = str(sorted((photo_dir / "a").iterdir())[0])
    show_query(qtbot, w, ref)
    sha = w.model.data(w.model.index(4), Role.SHA256)
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        w.votes.vote(4, False)
    w.close()
    w2 = make_window()  # a new window on the same library folder
    with qtbot.waitSignal(w2.host.opened, timeout=20000):
        w2.start()
    assert [r.rstrip("/") for r in w2.host.status.roots] == [str(photo_dir)]
    show_query(qtbot, w2, ref)
    row = w2.model.row_of(next(h.photo_id for h in w2.model.result.hits if h.sha256 == sha))
    assert w2.model.data(w2.model.index(row), Role.VOTE) == TileVote(False, False)
    assert not w2.undo_button.isEnabled(), "Ctrl+Z undoes this session's votes only"
    show_query(qtbot, w2, ref, text="something else")
    assert all(w2.model.data(w2.model.index(r), Role.VOTE) is None for r in range(w2.model.rowCount())), \
        "a vote belongs to the query it was given for"
