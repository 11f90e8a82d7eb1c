"""The library as a place: orders, filters, pages and tile sizes, without Qt.

With no query the grid lists the whole library (``Library.browse``) in the chosen order;
with one it shows the search's hits, best first, or re-ordered by date or name. The
folder and date filter narrows both (``engine.browse.PhotoFilter``). Either listing
grows a page at a time as the grid scrolls to its end (:class:`Paging`): a browse page
is an offset into the order, a search page asks again for more hits (``k`` grows).
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, Sequence, TypeVar

from engine.browse import PhotoFilter
from engine.fspath import shown


class Sort(str, Enum):
    BEST = "best"  # a search's order: by score
    NEWEST = "newest"
    OLDEST = "oldest"
    NAME = "name"


SORT_LABELS = {Sort.BEST: "Best match", Sort.NEWEST: "Newest first", Sort.OLDEST: "Oldest first",
               Sort.NAME: "Name"}
SORT_WORDS = {Sort.BEST: "best first", Sort.NEWEST: "newest first", Sort.OLDEST: "oldest first",
              Sort.NAME: "by name"}


def browse_sort(sort: Sort) -> str:
    """The engine's order for listing the library ("best" means nothing without a query)."""
    return Sort.NEWEST.value if sort is Sort.BEST else sort.value


class Row(Protocol):
    photo_id: int
    path: str


R = TypeVar("R", bound=Row)


def ordered(rows: Sequence[R], sort: Sort, dates: dict[int, tuple[float, bool]]) -> list[R]:
    """Search hits (given best first) in ``sort`` order; photos without a date go last."""
    rows = list(rows)
    if sort is Sort.BEST:
        return rows
    if sort is Sort.NAME:
        return sorted(rows, key=lambda r: (os.path.basename(r.path).lower(), r.path))
    sign = -1.0 if sort is Sort.NEWEST else 1.0
    return sorted(rows, key=lambda r: (r.photo_id not in dates, sign * dates.get(r.photo_id, (0.0, False))[0],
                                       r.path))


# -- filters ---------------------------------------------------------------------------


def day_start(d: dt.date) -> float:
    """Midnight starting ``d`` in the engine's wall-clock seconds (``engine.browse``)."""
    return float(calendar.timegm((d.year, d.month, d.day, 0, 0, 0)))


def make_filter(folder: str | None, first_day: dt.date | None, last_day: dt.date | None) -> PhotoFilter:
    """The filter for a folder and an inclusive range of days (either end may be open)."""
    if first_day is not None and last_day is not None and last_day < first_day:
        first_day, last_day = last_day, first_day
    return PhotoFilter(folder=folder, date_from=day_start(first_day) if first_day else None,
                       date_to=day_start(last_day + dt.timedelta(days=1)) if last_day else None)


def when(seconds: float) -> str:
    """An engine date (wall-clock seconds) as people read it: ``2021-07-03 10:00``."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def filter_words(f: PhotoFilter) -> str:
    """What a filter keeps, for the header ("" when it keeps everything)."""
    parts = []
    if f.folder is not None:
        parts.append(f"in {shown(os.path.basename(f.folder.rstrip(os.sep)) or f.folder)}")
    if f.date_from is not None and f.date_to is not None:
        last = f.date_to - 86400
        parts.append(f"from {when(f.date_from)[:10]} to {when(last)[:10]}")
    elif f.date_from is not None:
        parts.append(f"from {when(f.date_from)[:10]} on")
    elif f.date_to is not None:
        parts.append(f"until {when(f.date_to - 86400)[:10]}")
    return " ".join(parts)


def browse_header(total: int, sort: Sort, f: PhotoFilter) -> str:
    """The header over the library's listing: how many photos, which, in what order."""
    where = filter_words(f)
    if total == 0:
        return f"No photos {where}" if where else "No photos in this library yet"
    noun = "photo" if total == 1 else "photos"
    what = f"{total} {noun} {where}" if where else f"All {total} {noun}"
    return f"{what}, {SORT_WORDS[sort if sort is not Sort.BEST else Sort.NEWEST]}"


@dataclass(frozen=True)
class FolderChoice:
    label: str  # indented under its root
    path: str | None  # None: every folder
    count: int  # photo files in it and below


def folder_choices(roots: Sequence[str], folders: Sequence[tuple[str, int]]) -> list[FolderChoice]:
    """"All folders", then each root and each folder below it holding photos (or holding
    folders that do), in path order, with the photos in it and below."""
    below: dict[str, int] = {}
    total = 0
    for root in sorted(roots):
        prefix = root.rstrip(os.sep) + os.sep
        for folder, n in folders:
            if folder != root and not folder.startswith(prefix):
                continue
            total += n
            f = folder
            while True:
                below[f] = below.get(f, 0) + n
                if f == root or len(f) <= len(root):
                    break
                f = os.path.dirname(f)
    out = [FolderChoice("All folders", None, total)]
    for root in sorted(roots):
        prefix = root.rstrip(os.sep) + os.sep
        out.append(FolderChoice(shown(root), root, below.get(root, 0)))
        for f in sorted(p for p in below if p.startswith(prefix)):
            rel = f[len(prefix):]
            out.append(FolderChoice("    " * rel.count(os.sep) + "    " + shown(os.path.basename(f)), f, below[f]))
    return out


# -- pages -----------------------------------------------------------------------------


class Paging:
    """One listing's pages: what to ask for next, whether its end was reached.

    ``ask`` gives the next request (browse: the offset and the page size; a search asks
    for ``offset + limit`` hits in all) or None while one is out or after the end;
    ``got`` takes the answer's size. Each page is twice the one before, up to
    ``GROWTH`` times the first: a long scroll costs few engine calls, and few relayouts
    of the grid (Qt lays a list view out again from its first row on every insertion).
    Not thread-safe: the GUI thread owns it.
    """

    GROWTH = 8

    def __init__(self, page: int):
        if page < 1:
            raise ValueError("a page holds at least one photo")
        self.page = page
        self.size = page  # of the next page
        self.loaded = 0
        self.total: int | None = None  # known for the library's listing
        self.ended = False
        self.asking = False

    def can_fetch(self) -> bool:
        return not self.ended and not self.asking

    def ask(self) -> tuple[int, int] | None:
        if not self.can_fetch():
            return None
        self.asking = True
        return self.loaded, self.size

    def got(self, rows: int, total: int | None = None) -> None:
        """A page of ``rows`` came (fewer than asked: the end); ``total`` when the engine says."""
        self.asking = False
        self.loaded += rows
        if total is not None:
            self.total = total
        if rows < self.size or (self.total is not None and self.loaded >= self.total):
            self.ended = True
        self.size = min(2 * self.size, self.GROWTH * self.page)

    def failed(self) -> None:
        """The request failed: stop here (a new listing starts again)."""
        self.asking = False
        self.ended = True


# -- tile sizes -----------------------------------------------------------------------

TILE_STEPS = (64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512)  # Ctrl+wheel, Ctrl+plus/minus
THUMB_SIZES = (96, 160, 256, 384, 512)  # thumbnails made on disk: a few sizes, scaled to the tile


def zoom_tile(px: int, steps: int) -> int:
    """``steps`` stops larger (or smaller, when negative) than ``px``, within the range."""
    if steps > 0:
        bigger = [s for s in TILE_STEPS if s > px]
        return bigger[min(steps, len(bigger)) - 1] if bigger else TILE_STEPS[-1]
    if steps < 0:
        smaller = [s for s in TILE_STEPS if s < px]
        return smaller[max(steps, -len(smaller))] if smaller else TILE_STEPS[0]
    return px


def thumb_px(tile_px: int) -> int:
    """The thumbnail size to ask the engine for: the smallest made size that fills the tile."""
    return next((s for s in THUMB_SIZES if s >= tile_px), THUMB_SIZES[-1])
