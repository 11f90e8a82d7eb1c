"""The results model: Qt's model tester, roles, drag-out URLs, and a 100k-row grid."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtTest import QAbstractItemModelTester

from app.results_model import ResultsModel, Role
from app.results_view import ResultsView
from app.state.votes import TileVote
from engine.feedback import QueryInfo
from engine.library import Hit, SearchResult

Q = QueryInfo(mode="composed", text="make it red", ref_path="/r.jpg", ref_sha256="ref", bundle_name="demo",
              bundle_version="1", query_sha256="q", target_side="t")


def result(n: int, cutoff: int | None = None) -> SearchResult:
    hits = tuple(Hit(photo_id=1000 + i, path=f"/photos/p{i:06d}.jpg", score=1.0 - i / (n + 1), rank=i,
                     sha256=f"sha{i}", paths=(f"/photos/p{i:06d}.jpg",))
                 for i in range(n))
    return SearchResult(Q, hits, n if cutoff is None else cutoff, "cpu")


class FakeThumbs:
    """Answers from a dict and records every request, in order."""

    def __init__(self):
        self.have: dict[int, QPixmap] = {}
        self.asked: list[int] = []

    def pixmap(self, photo_id: int):
        if photo_id not in self.have:
            self.asked.append(photo_id)
        return self.have.get(photo_id)

    def broken(self, photo_id: int) -> bool:
        return photo_id == 1001


class FakeVotes:
    def tile(self, sha256: str):
        return TileVote(True, False) if sha256 == "sha2" else None


def test_model_passes_qt_model_tester_through_resets(qtbot):
    m = ResultsModel(FakeThumbs(), FakeVotes())
    tester = QAbstractItemModelTester(m, QAbstractItemModelTester.FailureReportingMode.Fatal)
    for r in (result(7, 3), None, result(0), result(100_000, 40), result(2)):
        m.set_result(r)
        assert m.rowCount() == (len(r.hits) if r else 0)
    assert tester is not None


def test_roles():
    thumbs = FakeThumbs()
    m = ResultsModel(thumbs, FakeVotes())
    m.set_result(result(5, cutoff=2))
    i = m.index(1)
    assert i.data() == "p000001.jpg"
    assert i.data(Role.PHOTO_ID) == 1001 and i.data(Role.PATH) == "/photos/p000001.jpg"
    assert i.data(Role.RANK) == 1 and i.data(Role.SHA256) == "sha1"
    assert [m.index(r).data(Role.STRONG) for r in range(5)] == [True, True, False, False, False]
    tip = m.index(3).data(Qt.ItemDataRole.ToolTipRole)
    assert "/photos/p000003.jpg" in tip and f"{m.hit(3).score:.3f}" in tip and "below the cut-off" in tip
    assert "above the cut-off" in i.data(Qt.ItemDataRole.ToolTipRole)
    assert m.index(2).data(Role.VOTE) == TileVote(True, False) and i.data(Role.VOTE) is None
    assert i.data(Role.BROKEN) is True and m.index(0).data(Role.BROKEN) is False
    assert i.data(Qt.ItemDataRole.DecorationRole) is None and thumbs.asked == [1001]
    thumbs.have[1001] = QPixmap(4, 4)
    assert isinstance(i.data(Qt.ItemDataRole.DecorationRole), QPixmap)
    assert m.data(QModelIndex()) is None and m.index(9).data() is None
    assert m.row_of(1004) == 4 and m.row_of(5) is None


def test_drag_gives_file_urls():
    m = ResultsModel()
    m.set_result(result(4))
    mime = m.mimeData([m.index(2), m.index(0), m.index(2)])
    assert [u.toLocalFile() for u in mime.urls()] == ["/photos/p000000.jpg", "/photos/p000002.jpg"]
    assert m.flags(m.index(0)) & Qt.ItemFlag.ItemIsDragEnabled


def test_updates_touch_only_their_row(qtbot):
    m = ResultsModel(FakeThumbs(), FakeVotes())
    m.set_result(result(10))
    with qtbot.waitSignal(m.dataChanged, timeout=1000) as sig:
        m.thumbnail_ready(1007)
    assert sig.args[0].row() == 7 and sig.args[1].row() == 7 and Qt.ItemDataRole.DecorationRole in sig.args[2]
    with qtbot.waitSignal(m.dataChanged, timeout=1000) as sig:
        m.vote_changed("sha3")
    assert sig.args[0].row() == 3 and Role.VOTE in sig.args[2]
    with qtbot.assertNotEmitted(m.dataChanged):
        m.thumbnail_ready(5)  # not in this result
        m.vote_changed("elsewhere")


def test_a_100k_grid_asks_only_for_what_it_shows_newest_first(qtbot):
    thumbs = FakeThumbs()
    m = ResultsModel(thumbs)
    view = ResultsView(120)
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.setModel(m)
    view.show()
    m.set_result(result(100_000, cutoff=5))
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: len(thumbs.asked) > 0, timeout=5000)
    per_screen = view.columns() * (600 // view.gridSize().height() + 2)
    assert 0 < len(set(thumbs.asked)) <= per_screen, "only visible tiles ask for thumbnails"
    rows = -(-100_000 // view.columns())
    bottom = rows * view.gridSize().height() - view.viewport().height()
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() >= bottom - view.gridSize().height(), timeout=10000)  # batched layout
    thumbs.asked.clear()
    view.scrollToBottom()
    qtbot.waitUntil(lambda: len(thumbs.asked) > 0, timeout=5000)
    assert min(thumbs.asked) >= 1000 + 100_000 - per_screen, "after scrolling, the tiles at the end ask"
    assert len(set(thumbs.asked)) <= per_screen
    assert view.divider_lines() and len(view.divider_lines()) <= 3


@pytest.mark.parametrize("n, cutoff, lines", [(10, 10, 0), (10, 0, 0), (12, 4, 1), (12, 3, 2), (12, 7, 3)])
def test_divider_follows_the_cutoff(qtbot, n, cutoff, lines):
    m = ResultsModel()
    view = ResultsView(100)
    qtbot.addWidget(view)
    view.setModel(m)
    g = view.gridSize()
    view.resize(g.width() * 4 + view.frameWidth() * 2 + view.verticalScrollBar().sizeHint().width() + 4, 700)
    view.show()
    qtbot.waitExposed(view)
    m.set_result(result(n, cutoff))
    assert view.columns() == 4
    drawn = view.divider_lines()
    assert len(drawn) == lines
    if cutoff == 4:  # a full first row: one line across, between row 0 and row 1
        (a, b), = drawn
        top1 = view.visualRect(m.index(4)).top()
        assert a.y() == b.y() == top1 and a.x() == view.visualRect(m.index(0)).left()
        assert b.x() == view.visualRect(m.index(3)).right() + 1
    if cutoff in (3, 7):  # the step sits between the last strong and the first weak tile
        vertical = [s for s in drawn if s[0].x() == s[1].x()][0]
        weak = view.visualRect(m.index(cutoff))
        assert vertical[0].x() == weak.left() and {vertical[0].y(), vertical[1].y()} == {weak.top(), weak.bottom() + 1}


def test_weaker_tiles_are_painted_dimmer(qtbot):
    m = ResultsModel()
    view = ResultsView(64)
    qtbot.addWidget(view)
    view.setModel(m)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    m.set_result(result(6, cutoff=3))
    img = view.viewport().grab().toImage()
    strong = view.visualRect(m.index(0)).center()
    weak = view.visualRect(m.index(3)).center()
    # no thumbnails: placeholders, drawn the same way except for the opacity
    a, b = QColor(img.pixel(strong)), QColor(img.pixel(weak))
    assert a != b and b.lightness() > a.lightness(), "the weaker placeholder is fainter"


def test_painting_keeps_none_alive(qtbot):
    """PySide6 6.12 loses a reference to None for each invalid QVariant that QModelIndex.data
    hands back; a delegate asking that way would abort the app after enough paints."""
    import sys

    m = ResultsModel(FakeThumbs(), FakeVotes())
    view = ResultsView(64)
    qtbot.addWidget(view)
    view.setModel(m)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    m.set_result(result(200, cutoff=3))  # no thumbnails, no votes: the roles answer None
    view.viewport().repaint()
    before = sys.getrefcount(None)
    for _ in range(100):
        view.viewport().repaint()
    tiles = view.columns() * (400 // view.gridSize().height() + 1)
    assert tiles > 10
    assert before - sys.getrefcount(None) < tiles, "no reference to None lost per painted tile"
