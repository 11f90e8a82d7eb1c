"""Orders, filters, pages, folder choices, tile and zoom stops, and the viewer's words (no Qt)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest

from app.state.browse import (
    TILE_STEPS,
    FolderChoice,
    Paging,
    Sort,
    browse_header,
    browse_sort,
    day_start,
    filter_words,
    folder_choices,
    make_filter,
    ordered,
    thumb_px,
    zoom_tile,
)
from app.state.viewer import ZOOMS, detail_lines, fit_scale, size_words, step, zoom
from engine.browse import PhotoDetails, PhotoFilter


@dataclass(frozen=True)
class R:
    photo_id: int
    path: str


def test_ordered_search_hits():
    rows = [R(1, "/p/b.jpg"), R(2, "/p/A.jpg"), R(3, "/q/c.jpg"), R(4, "/q/a.jpg")]
    dates = {1: (30.0, True), 2: (10.0, False), 4: (30.0, True)}  # 3 has no date
    assert ordered(rows, Sort.BEST, dates) == rows
    assert [r.photo_id for r in ordered(rows, Sort.NEWEST, dates)] == [1, 4, 2, 3], "ties by path; no date last"
    assert [r.photo_id for r in ordered(rows, Sort.OLDEST, dates)] == [2, 1, 4, 3]
    assert [r.photo_id for r in ordered(rows, Sort.NAME, dates)] == [2, 4, 1, 3], "by file name, ignoring case"
    assert browse_sort(Sort.BEST) == "newest" and browse_sort(Sort.NAME) == "name"


def test_filters_and_their_words():
    f = make_filter("/photos/trip", dt.date(2021, 7, 3), dt.date(2021, 7, 4))
    assert f == PhotoFilter("/photos/trip", day_start(dt.date(2021, 7, 3)), day_start(dt.date(2021, 7, 5)))
    assert filter_words(f) == "in trip from 2021-07-03 to 2021-07-04", "the last day is inclusive"
    assert make_filter(None, dt.date(2021, 7, 4), dt.date(2021, 7, 3)) == make_filter(None, dt.date(2021, 7, 3),
                                                                                        dt.date(2021, 7, 4))
    assert filter_words(make_filter(None, dt.date(2020, 1, 1), None)) == "from 2020-01-01 on"
    assert filter_words(make_filter(None, None, dt.date(2020, 1, 1))) == "until 2020-01-01"
    assert filter_words(PhotoFilter()) == "" and not PhotoFilter().narrows and f.narrows
    assert browse_header(676, Sort.BEST, PhotoFilter()) == "All 676 photos, newest first"
    assert browse_header(1, Sort.NAME, f) == "1 photo in trip from 2021-07-03 to 2021-07-04, by name"
    assert browse_header(0, Sort.NAME, f).startswith("No photos in trip")
    assert browse_header(0, Sort.NEWEST, PhotoFilter()) == "No photos in this library yet"


def test_folder_choices_count_each_folder_and_below():
    roots = ["/photos", "/more"]
    folders = [("/photos", 2), ("/photos/2021/trip", 5), ("/photos/2022", 1), ("/more/x", 3), ("/elsewhere", 9)]
    got = folder_choices(roots, folders)
    assert got[0] == FolderChoice("All folders", None, 11), "folders outside every root do not count"
    assert [(c.path, c.count) for c in got[1:]] == [
        ("/more", 3), ("/more/x", 3), ("/photos", 8), ("/photos/2021", 5), ("/photos/2021/trip", 5),
        ("/photos/2022", 1)]
    assert got[5].label == "        trip" and got[4].label == "    2021" and got[3].label == "/photos"


def test_paging_browse_and_search():
    p = Paging(10)
    assert p.ask() == (0, 10) and p.ask() is None, "one request at a time"
    p.got(10, total=200)
    assert p.ask() == (10, 20), "each page twice the one before"
    p.got(20)
    assert p.ask() == (30, 40)
    p.got(40)
    assert p.ask() == (70, 80)
    p.got(80)
    assert p.ask() == (150, 80), "up to eight times the first"
    p.got(50)
    assert p.ended and p.ask() is None and p.loaded == 200
    exact = Paging(10)
    exact.ask()
    exact.got(10, total=10)
    assert exact.ended, "a full page that reaches the total is the end"
    s = Paging(300)
    s.ask()
    s.got(300)
    assert s.can_fetch() and s.ask() == (300, 600)
    s.failed()
    assert s.ended and not s.asking
    with pytest.raises(ValueError):
        Paging(0)


def test_tile_stops_and_thumbnail_sizes():
    assert zoom_tile(160, 1) == 192 and zoom_tile(160, -1) == 128 and zoom_tile(170, -1) == 160
    assert zoom_tile(512, 3) == 512 and zoom_tile(64, -2) == 64 and zoom_tile(100, 0) == 100
    assert zoom_tile(64, 100) == 512 and zoom_tile(512, -100) == 64
    for px in range(TILE_STEPS[0], TILE_STEPS[-1] + 1):
        assert thumb_px(px) >= px, "a thumbnail never smaller than its tile"
    assert thumb_px(160) == 160 and thumb_px(161) == 256 and thumb_px(600) == 512
    assert {thumb_px(px) for px in range(64, 513)} == {96, 160, 256, 384, 512}, "a few sizes on disk, not one per px"


def test_viewer_zoom_fit_and_steps():
    assert zoom(1.0, 1) == 1.5 and zoom(1.0, -1) == 0.67 and zoom(0.42, 1) == 0.5 and zoom(0.42, -1) == 0.33
    assert zoom(ZOOMS[-1], 1) == ZOOMS[-1] and zoom(ZOOMS[0], -1) == ZOOMS[0]
    for a, b in itertools.pairwise(ZOOMS):
        assert zoom(a, 1) == b and zoom(b, -1) == a
    assert fit_scale((4000, 3000), (800, 600)) == 0.2 and fit_scale((400, 300), (800, 600)) == 2.0
    assert fit_scale((1000, 100), (500, 600)) == 0.5 and fit_scale((0, 0), (10, 10)) == 1.0
    assert fit_scale((40, 30), (800, 600)) == 4.0, "a small photo is enlarged, but only so much"
    assert step(0, -1, 5) is None and step(4, 1, 5) is None and step(2, 1, 5) == 3


def test_viewer_words():
    d = PhotoDetails(photo_id=1, path="/p/a.jpg", paths=("/p/a.jpg", "/q/a copy.jpg"), date=day_start(
        dt.date(2021, 7, 3)) + 36000, taken=True, width=4000, height=3000, bytes=5 * (1 << 20) + (1 << 18),
        camera="Canon EOS R5")
    lines = dict(detail_lines(d, 0.41234, 2, True))
    assert lines["Date"] == "2021-07-03 10:00 (taken)" and lines["Camera"] == "Canon EOS R5"
    assert lines["Size"].startswith("4000 × 3000 px · ") and lines["Size"].endswith(" MB")
    assert lines["Score"] == "0.412 · rank 3 · above the line" and lines["Copies"] == "/q/a copy.jpg"
    browsing = dict(detail_lines(PhotoDetails(photo_id=1, path="/p/a.jpg", paths=("/p/a.jpg",), date=None,
                                              taken=False, width=None, height=None, bytes=2000, camera=None)))
    assert browsing["Date"] == "unknown" and browsing["Camera"] == "not recorded" and "Copies" not in browsing
    assert browsing["Score"].startswith("—") and browsing["Size"] == "size unknown · 2 KB"
    assert size_words(10, 20, 3 << 20) == "10 × 20 px · 3.0 MB"
