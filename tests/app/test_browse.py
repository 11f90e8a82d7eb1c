"""The library as a place: with no query the grid lists every photo, newest first, and
scrolls on to the end a page at a time; order and folder/date filters (narrowing a search
too); a search's results scroll past the first page; the thumbnail size, remembered."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from app.results_model import Role
from app.state.browse import Sort, day_start, thumb_px
from engine.browse import utc_offset

PAGE = 10  # prefs/results: the smallest page, so that 24 photos take three


@pytest.fixture
def dated_dir(photo_dir):
    """``photo_dir`` with known file times: one day apart, a/ older than b/."""
    files = sorted(photo_dir.rglob("*.jpg"))
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    for i, f in enumerate(files):
        os.utime(f, (start + i * 86400, start + i * 86400))
    return photo_dir


@pytest.fixture
def paged(make_window, qtbot, tmp_path, dated_dir):
    """A window over ``dated_dir`` (indexed) that lists PAGE photos at a time."""
    (tmp_path / "settings.ini").write_text(f"[prefs]\nresults={PAGE}\n")
    w = make_window()
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    with qtbot.waitSignal(w.search.browsed, timeout=60000):
        w.add_folder(str(dated_dir))
    return w


def rows(w) -> list[str]:
    return [w.model.hit(r).path for r in range(w.model.rowCount())]


def scroll_to_the_end(qtbot, w, n: int) -> None:
    def at_end() -> bool:
        w.view.scrollToBottom()
        return w.model.rowCount() == n and not w.search.paging.asking
    qtbot.waitUntil(at_end, timeout=20000)


def test_with_no_query_the_library_is_listed_newest_first_to_its_end(paged, qtbot, dated_dir):
    w = paged
    newest_first = [str(p) for p in sorted(dated_dir.rglob("*.jpg"), reverse=True)]  # file times follow the names
    assert w.model.result is None and w.model.listing is not None
    assert len(w.model.listing.photos) == PAGE and w.model.listing.total == 24, "a page at a time"
    assert w.header.text().startswith("All 24 photos, newest first")
    scroll_to_the_end(qtbot, w, 24)
    assert rows(w) == newest_first
    assert not w.model.canFetchMore(w.model.index(0).parent()), "the end of the library: nothing more to ask"
    lib_page = w.host.lib.browse("newest", limit=100)
    assert [p.path for p in lib_page.photos] == newest_first
    first = w.model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert dated_dir.name in first and "2020-01-24" in first and "file date" in first
    assert w.model.index(0).data(Role.DATE) == (lib_page.photos[0].date, False)
    assert not w.model.index(0).data(Role.VOTABLE), "nothing to vote on without a question"


def test_listed_again_after_indexing_the_grid_keeps_its_place(paged, qtbot, dated_dir):
    w = paged
    scroll_to_the_end(qtbot, w, 24)
    bar = w.view.verticalScrollBar()
    w.view.setCurrentIndex(w.model.index(20))
    place, idles = bar.value(), []
    assert place > 0
    w.search.idle.connect(idles.append)
    with qtbot.waitSignal(w.search.browsed, timeout=10000):
        w.search.submit()  # what the window does when an indexing run ends
    assert w.search.refreshed and idles == [], "the same listing: not emptied first"
    assert w.model.rowCount() == 24 and bar.value() == place and w.view.currentIndex().row() == 20
    with qtbot.waitSignal(w.search.browsed, timeout=10000):
        w.browse_bar.sort.setCurrentIndex(w.browse_bar.sort.findData(Sort.NAME))
    assert not w.search.refreshed and bar.value() == 0, "another order starts at the top"


def test_order_and_filters_on_the_library(paged, qtbot, dated_dir):
    w = paged
    bar = w.browse_bar
    best = bar.sort.model().item(bar.sort.findData(Sort.BEST))
    assert not best.isEnabled(), "no best match without a question"
    with qtbot.waitSignal(w.search.browsed, timeout=10000):
        bar.sort.setCurrentIndex(bar.sort.findData(Sort.OLDEST))
    scroll_to_the_end(qtbot, w, 24)
    assert rows(w) == [str(p) for p in sorted(dated_dir.rglob("*.jpg"))]
    qtbot.waitUntil(lambda: bar.folder.count() == 4, timeout=5000)  # all, the root, a, b
    labels = [bar.folder.itemText(i) for i in range(bar.folder.count())]
    assert labels[0] == "All folders (24)" and labels[2].strip() == "a (12)" and labels[3].strip() == "b (12)"
    with qtbot.waitSignal(w.search.browsed, timeout=10000):
        bar.folder.setCurrentIndex(3)
    scroll_to_the_end(qtbot, w, 12)
    assert rows(w) == [str(p) for p in sorted((dated_dir / "b").iterdir())]
    assert w.header.text().startswith("12 photos in b, oldest first")
    b_days = [dt.date(2020, 1, 13) + dt.timedelta(days=i) for i in range(12)]  # b's photos: days 13 to 24
    bar.date_from.setDate(b_days[2])
    bar.date_to.setDate(b_days[4])
    with qtbot.waitSignal(w.search.browsed, timeout=10000):
        bar.dated.setChecked(True)
    # a file's date is its wall-clock time here: in another time zone the days shift
    lo, hi = day_start(b_days[2]), day_start(b_days[4]) + 86400
    in_b = {p.photo_id: p.path for p in w.host.lib.browse(limit=100).photos if p.path.startswith(str(dated_dir / "b"))}
    dates = w.host.lib.photo_dates(list(in_b))
    expected = sorted(in_b[i] for i, (d, _) in dates.items() if lo <= d < hi)
    assert rows(w) == expected and "from 2020-01-15 to 2020-01-17" in w.header.text()
    if utc_offset() == 0:
        assert expected == [str(p) for p in sorted((dated_dir / "b").iterdir())[2:5]]


def test_a_filter_narrows_a_search_and_its_results_scroll_past_the_first_page(paged, qtbot, dated_dir):
    w = paged
    ref = str(sorted((dated_dir / "a").iterdir())[0])
    heads = []
    w.search.answered.connect(lambda *a: heads.append((w.header.text(), w.model.rowCount())))  # after the window's
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        w.well.set_reference(ref)
    assert len(sig.args[0].hits) == PAGE and heads[0][1] == PAGE and w.model.by_score
    # the library's size (read on a worker) may come after the first answer: then the header is redone
    qtbot.waitUntil(lambda: "shown of 24" in w.header.text(), timeout=10000)
    scroll_to_the_end(qtbot, w, 23)
    everything = w.host.lib.search(image=ref, text="", k=100)
    assert [h.photo_id for h in w.model.result.hits] == [h.photo_id for h in everything.hits]
    assert rows(w) == [h.path for h in everything.hits], "in the order of the scores, page after page"
    assert w.model.cutoff == sig.args[0].cutoff, "the line stays where the first page put it"
    with qtbot.waitSignal(w.votes.message, timeout=5000):
        w.votes.vote(20, True)  # a photo of the third page: the vote knows its rank
    vote = w.host.lib.votes()[-1]
    assert vote.rank == 20 and vote.photo_sha256 == everything.hits[20].sha256
    bar = w.browse_bar
    assert bar.sort.currentData() == Sort.BEST and bar.searching
    bar.sort.setCurrentIndex(bar.sort.findData(Sort.NEWEST))
    dates = w.host.lib.photo_dates([h.photo_id for h in everything.hits])
    assert rows(w) == [h.path for h in sorted(everything.hits, key=lambda h: -dates[h.photo_id][0])]
    assert not w.model.by_score, "no divider: the line means something only in the order of the scores"
    with qtbot.waitSignal(w.search.answered, timeout=10000) as sig:
        bar.folder.setCurrentIndex(bar.folder.findData(str(dated_dir / "b")))
    inside = [h for h in everything.hits if h.path.startswith(str(dated_dir / "b") + os.sep)]
    assert [h.photo_id for h in sig.args[0].hits] == [h.photo_id for h in inside[:PAGE]]
    assert "in b" in w.header.text()
    scroll_to_the_end(qtbot, w, 12)
    assert sorted(rows(w)) == sorted(h.path for h in inside), "every photo of b, none of a"


def ctrl_wheel(widget, up: bool) -> None:
    pos = QPointF(widget.rect().center())
    e = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(), QPoint(0, 120 if up else -120), Qt.MouseButton.NoButton,
                    Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, e)


def test_thumbnail_size_by_wheel_keys_and_slider_is_remembered(window, make_window, qtbot, tmp_path):
    w = window
    qtbot.waitUntil(lambda: w.model.rowCount() == 24, timeout=10000)  # the library, listed
    assert w.view.tile_px == 160 and w.browse_bar.size.value() == 160
    ctrl_wheel(w.view.viewport(), up=True)
    assert w.view.tile_px == 192 and w.browse_bar.size.value() == 192
    assert w.thumbs.tile_px == thumb_px(192) == 256, "a bigger thumbnail is asked for, not one per pixel size"
    assert w.view.gridSize().height() > 192
    w.view.setFocus()
    qtbot.keyClick(w.view, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(w.view, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert w.view.tile_px == 128
    w.browsing.larger_action.trigger()
    assert w.view.tile_px == 160
    w.browse_bar.size.setValue(300)
    assert w.view.tile_px == 300 and w.thumbs.tile_px == 384
    qtbot.waitUntil(lambda: w.thumbs.pixmap(w.model.hit(0).photo_id) is not None, timeout=10000)
    made = {p.parent.parent.name for p in (w.host.lib.folder / "thumbs").rglob("*.jpg")}
    assert "384" in made, "thumbnails made at the new size"
    w.close()
    again = make_window()
    assert again.view.tile_px == 300 and again.browse_bar.size.value() == 300 and again.thumbs.tile_px == 384
