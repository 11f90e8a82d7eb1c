"""Browsing without a query: the order (date taken, else file time; name), pages that add
up to the whole library, the folder and date filters (also narrowing a search), details."""

from __future__ import annotations

import calendar
import os
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from engine.browse import EXIF_MAKE, EXIF_MODEL, PhotoFilter, camera, utc_offset
from engine.errors import QueryError
from engine.library import Library
from tests.engine.conftest import photo

EXIF_DATETIME = 0x0132
DAY = 86400.0


def day(y: int, m: int, d: int) -> float:
    return float(calendar.timegm((y, m, d, 0, 0, 0)))


def save(path, seed: int, taken: str | None = None, mtime: float | None = None, make: str | None = None,
         model: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if taken:
        exif[EXIF_DATETIME] = taken
    if make:
        exif[EXIF_MAKE] = make
    if model:
        exif[EXIF_MODEL] = model
    photo(np.random.default_rng(seed)).save(path, "JPEG", exif=exif.tobytes())
    if mtime is not None:
        os.utime(path, (mtime, mtime))


@pytest.fixture
def dated(tmp_path, fake_bundle):
    """Photos whose dates are known: EXIF for some, the file's time for the others; a copy;
    a sibling folder whose name starts like another's."""
    root = tmp_path / "photos"
    # file times are Unix times: as wall-clock-as-UTC they move by the local offset
    tz = utc_offset()
    spec = {  # name -> (EXIF date, file mtime)
        "trip/b_beach.jpg": ("2021:07:03 10:00:00", day(2024, 1, 1)),
        "trip/A_boat.jpg": (None, day(2021, 7, 4) - tz),
        "trip/sub/c_cliff.jpg": ("2021:07:02 09:00:00", day(2024, 1, 1)),
        "tripod/d_desk.jpg": (None, day(2023, 3, 1) - tz),
        "home/e_egg.jpg": ("2019:12:31 23:00:00", day(2024, 1, 1)),
        "home/F_fig.jpg": (None, day(2022, 6, 1) - tz),
    }
    for i, (name, (taken, mtime)) in enumerate(spec.items()):
        save(root / name, i, taken, mtime)
    shutil.copy2(root / "home/e_egg.jpg", root / "trip/sub/e_egg_copy.jpg")  # the same photo twice
    lib = Library.open(tmp_path / "lib", bundle=fake_bundle)
    lib.index([root])
    yield lib, root
    lib.close()


def names(page) -> list[str]:
    return [os.path.basename(p.path) for p in page.photos]


def test_newest_first_by_date_taken_then_file_time_then_folder(dated):
    lib, root = dated
    page = lib.browse()
    assert page.total == 6 and page.offset == 0, "six photos: the copy is the same photo"
    assert names(page) == ["d_desk.jpg", "F_fig.jpg", "A_boat.jpg", "b_beach.jpg", "c_cliff.jpg", "e_egg.jpg"]
    by_name = {os.path.basename(p.path): p for p in page.photos}
    assert by_name["b_beach.jpg"].taken and by_name["b_beach.jpg"].date == day(2021, 7, 3) + 10 * 3600
    assert not by_name["A_boat.jpg"].taken and by_name["A_boat.jpg"].date == day(2021, 7, 4)
    egg = by_name["e_egg.jpg"]
    assert len(egg.paths) == 2 and egg.path == str(root / "home/e_egg.jpg"), "the shortest of its paths"
    assert names(lib.browse("oldest")) == names(page)[::-1]
    assert names(lib.browse("name")) == ["A_boat.jpg", "b_beach.jpg", "c_cliff.jpg", "d_desk.jpg", "e_egg.jpg",
                                          "F_fig.jpg"], "by file name, ignoring case"


def test_pages_add_up_to_the_whole_order(dated):
    lib, _ = dated
    whole = [p.photo_id for p in lib.browse("name").photos]
    pages = [lib.browse("name", offset=o, limit=4) for o in (0, 4, 8)]
    assert [p.total for p in pages[:2]] == [6, 6] and pages[2].photos == ()
    assert [p.photo_id for pg in pages for p in pg.photos] == whole
    with pytest.raises(QueryError, match="sort must be one of"):
        lib.browse("biggest")
    with pytest.raises(QueryError):
        lib.browse(limit=0)


def test_the_folder_filter_takes_subfolders_and_not_a_sibling_with_the_same_start(dated):
    lib, root = dated
    page = lib.browse(where=PhotoFilter(folder=str(root / "trip")))
    assert sorted(names(page)) == ["A_boat.jpg", "b_beach.jpg", "c_cliff.jpg", "e_egg_copy.jpg"]
    assert page.total == 4, "tripod/ is not inside trip/"
    egg = next(p for p in page.photos if p.path.endswith("e_egg_copy.jpg"))
    assert egg.path == str(root / "trip/sub/e_egg_copy.jpg"), "the copy inside the folder is the one shown"
    assert names(lib.browse(where=PhotoFilter(folder=str(root / "tripod")))) == ["d_desk.jpg"]
    assert lib.browse(where=PhotoFilter(folder=str(root / "nowhere"))).total == 0


def test_the_date_filter_is_half_open_and_combines_with_the_folder(dated):
    lib, root = dated
    july = PhotoFilter(date_from=day(2021, 7, 3), date_to=day(2021, 7, 5))
    assert names(lib.browse(where=july)) == ["A_boat.jpg", "b_beach.jpg"]
    assert names(lib.browse(where=PhotoFilter(date_to=day(2021, 7, 4)))) == ["b_beach.jpg", "c_cliff.jpg", "e_egg.jpg"]
    both = PhotoFilter(folder=str(root / "home"), date_from=day(2020, 1, 1))
    assert names(lib.browse(where=both)) == ["F_fig.jpg"]
    assert lib.browse(where=PhotoFilter(date_from=day(2030, 1, 1))).total == 0


def test_a_filter_narrows_a_search_to_the_best_photos_inside_it(dated):
    lib, root = dated
    ref = str(root / "trip/b_beach.jpg")
    everything = lib.search(text="red", image=ref, k=50)
    inside = PhotoFilter(folder=str(root / "home"))
    narrowed = lib.search(text="red", image=ref, k=50, where=inside)
    allowed = {p.photo_id for p in lib.browse(where=inside).photos}
    assert [h.photo_id for h in narrowed.hits] == [h.photo_id for h in everything.hits if h.photo_id in allowed]
    assert len(narrowed.hits) == 2 and narrowed.hits[0].rank == 0
    one = lib.search(text="red", image=ref, k=1, where=inside)
    assert [h.photo_id for h in one.hits] == [narrowed.hits[0].photo_id]
    similar = lib.similar(ref, k=50, where=PhotoFilter(date_to=day(2021, 7, 3)))
    dates = lib.photo_dates([h.photo_id for h in similar.hits])
    assert similar.hits and all(dates[h.photo_id][0] < day(2021, 7, 3) for h in similar.hits)


def test_folders_and_details(dated, tmp_path):
    lib, root = dated
    assert lib.folders() == sorted([(str(root / "home"), 2), (str(root / "trip"), 2), (str(root / "trip/sub"), 2),
                                    (str(root / "tripod"), 1)])
    egg = next(p for p in lib.browse().photos if p.path.endswith("e_egg.jpg"))
    d = lib.details(egg.photo_id)
    assert d.path == egg.path and len(d.paths) == 2 and d.taken and d.date == egg.date
    assert (d.width, d.height) == (64, 48) and d.bytes == os.path.getsize(egg.path) and d.camera is None
    with pytest.raises(QueryError, match="no photo"):
        lib.details(99999)


def test_camera_from_exif(tmp_path):
    save(tmp_path / "a.jpg", 0, make="Canon", model="Canon EOS R5")
    save(tmp_path / "b.jpg", 1, make="NIKON CORPORATION", model="Z 6")
    save(tmp_path / "c.jpg", 2)
    (tmp_path / "d.cr2").write_bytes(b"II*\x00" + b"\x00" * 20)  # a TIFF header with nothing in it
    assert camera(tmp_path / "a.jpg") == "Canon EOS R5", "the make is not said twice"
    assert camera(tmp_path / "b.jpg") == "NIKON CORPORATION Z 6"
    assert camera(tmp_path / "c.jpg") is None and camera(tmp_path / "d.cr2") is None
    assert camera(tmp_path / "missing.jpg") is None


@pytest.mark.skipif(sys.platform.startswith(("win", "darwin")), reason="names that are not UTF-8: Linux")
def test_a_folder_whose_name_is_not_utf8_filters_by_its_bytes(tmp_path, fake_bundle):
    root = tmp_path / "photos"
    odd = root / os.fsdecode(b"\xe9t\xe9")
    save(odd / os.fsdecode(b"bad\xff.jpg"), 0)
    save(root / "plain" / "p.jpg", 1)
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([root])
        got = lib.browse(where=PhotoFilter(folder=str(odd)))
        assert [p.path for p in got.photos] == [str(odd / os.fsdecode(b"bad\xff.jpg"))]
        assert lib.browse(where=PhotoFilter(folder=str(root))).total == 2
        assert sorted(f for f, _ in lib.folders()) == sorted([str(odd), str(root / "plain")])
