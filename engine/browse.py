"""The library without a query: every photo in an order, a page at a time, narrowed by
folder and date; the same filter narrows a search (``Library.search(..., where=...)``).

A photo is a content (its bytes; copies are one photo). Its *date* is when it was taken
(EXIF, ``contents.taken_at``, which is wall-clock time read as if it were UTC), else its
file's modification time moved by this machine's UTC offset into the same wall-clock
terms, so that both kinds sort and filter together and show as the calendar says.
A date range is given in those terms too (``calendar.timegm`` of a day's midnight).

Orders (:data:`SORTS`): ``newest`` (by date, newest first, then by path: folder, then
name), ``oldest``, ``name`` (the file name, case-insensitive, then the path). Paging is
by offset over one SQL query per page; ``total`` comes with each page (a window count).
Paths that are not UTF-8 are BLOBs in the catalog (``engine.fspath``): the folder filter
compares them as bytes, as it compares TEXT paths as text.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image

from .catalog import Catalog
from .db import Database
from .errors import QueryError
from .fspath import from_db, is_utf8

SORTS = ("newest", "oldest", "name")
EXIF_MAKE, EXIF_MODEL = 0x010F, 0x0110
_CHUNK = 900

_NAME = "substr(p, length(rtrim(p, replace(p, :sep, ''))) + 1) COLLATE NOCASE"
_ORDER = {"newest": "d DESC, p", "oldest": "d ASC, p", "name": f"{_NAME}, p"}


@dataclass(frozen=True)
class PhotoFilter:
    """Which photos to show: under ``folder`` (at any depth), dated in [date_from, date_to)."""

    folder: str | None = None
    date_from: float | None = None  # wall-clock seconds, see the module's doc
    date_to: float | None = None

    @property
    def narrows(self) -> bool:
        return self.folder is not None or self.date_from is not None or self.date_to is not None


@dataclass(frozen=True)
class Listed:
    """One photo of a page: what the grid needs (the same names as ``engine.results.Hit``)."""

    photo_id: int
    path: str  # the file shown: inside the filter's folder when there is one, else the shortest
    paths: tuple[str, ...]  # every file with these bytes, shortest first
    sha256: str
    date: float  # wall-clock seconds
    taken: bool  # the date is when it was taken (EXIF), not the file's time


@dataclass(frozen=True)
class BrowsePage:
    photos: tuple[Listed, ...]
    offset: int  # of photos[0] in the whole order
    total: int  # photos that match the filter


@dataclass(frozen=True)
class PhotoDetails:
    photo_id: int
    path: str
    paths: tuple[str, ...]
    date: float | None
    taken: bool
    width: int | None
    height: int | None
    bytes: int
    camera: str | None  # EXIF make and model; None when the file does not say


def utc_offset() -> float:
    """Seconds to add to a Unix time to get this machine's wall-clock time read as UTC."""
    return float(time.localtime().tm_gmtoff)


def _where(f: PhotoFilter) -> tuple[str, str, dict]:
    """(file condition, photo condition, parameters) for a filter."""
    params: dict = {}
    files = ""
    if f.folder is not None:
        folder = os.path.abspath(f.folder).rstrip(os.sep) + os.sep
        blob = folder.encode("utf-8", "surrogatepass")
        params.update(lo=folder, hi=folder[:-1] + chr(ord(os.sep) + 1), blob=blob, n=len(blob))
        # A TEXT path falls in [lo, hi); a BLOB path starts with the folder's bytes (a BLOB is never
        # between two TEXTs and never equals one, so each test sees only its own kind).
        files = " AND ((f.path >= :lo AND f.path < :hi) OR substr(f.path, 1, :n) = :blob)"
        if not is_utf8(folder):
            files = " AND substr(f.path, 1, :n) = :blob"
    having = []
    if f.date_from is not None:
        having.append("d >= :date_from")
        params["date_from"] = float(f.date_from)
    if f.date_to is not None:
        having.append("d < :date_to")
        params["date_to"] = float(f.date_to)
    return files, (" HAVING " + " AND ".join(having)) if having else "", params


def _grouped(f: PhotoFilter, columns: str) -> tuple[str, dict]:
    files, having, params = _where(f)
    params["tz"] = utc_offset()
    sql = (f"SELECT {columns} FROM files f JOIN contents c ON c.id = f.content_id "
           f"WHERE f.state = 'ok' AND c.state = 'encoded'{files} GROUP BY c.id{having}")
    return sql, params


_DATE = "COALESCE(c.taken_at, MIN(f.mtime_ns) / 1e9 + :tz)"


def browse(db: Database, catalog: Catalog, sort: str = "newest", where: PhotoFilter | None = None,
           offset: int = 0, limit: int = 300) -> BrowsePage:
    """The photos at [offset, offset + limit) of the library in ``sort`` order, narrowed by ``where``."""
    where = where or PhotoFilter()
    if sort not in _ORDER:
        raise QueryError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if offset < 0 or limit < 1:
        raise QueryError("a page starts at 0 or later and holds at least one photo")
    sql, params = _grouped(where, f"c.id AS id, c.sha256 AS sha, c.taken_at IS NOT NULL AS taken, "
                                  f"MIN(f.path) AS p, {_DATE} AS d, COUNT(*) OVER () AS total")
    params.update(sep=os.sep, limit=int(limit), offset=int(offset))
    with db.read() as c:
        rows = c.execute(f"{sql} ORDER BY {_ORDER[sort]} LIMIT :limit OFFSET :offset", params).fetchall()
    if not rows:
        return BrowsePage((), offset, offset if offset else 0)
    paths = catalog.paths([r["id"] for r in rows])
    out = []
    for r in rows:
        mine = tuple(paths.get(r["id"], ())) or (from_db(r["p"]),)
        out.append(Listed(photo_id=r["id"], path=_shown_path(mine, where.folder), paths=mine, sha256=r["sha"],
                          date=float(r["d"]), taken=bool(r["taken"])))
    return BrowsePage(tuple(out), offset, int(rows[0]["total"]))


def _shown_path(paths: Sequence[str], folder: str | None) -> str:
    if folder is not None:
        inside = os.path.abspath(folder).rstrip(os.sep) + os.sep
        for p in paths:
            if p.startswith(inside):
                return p
    return paths[0]


def matching(db: Database, where: PhotoFilter) -> set[int]:
    """The ids of the photos ``where`` lets through."""
    sql, params = _grouped(where, f"c.id, {_DATE} AS d")
    return {r[0] for r in db.query(sql, params)}


def dates(db: Database, ids: Sequence[int]) -> dict[int, tuple[float, bool]]:
    """Photo id -> (date, taken from EXIF) for those of ``ids`` with a file."""
    out: dict[int, tuple[float, bool]] = {}
    ids = [int(i) for i in ids]
    with db.read() as c:
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = c.execute(
                f"SELECT c.id, COALESCE(c.taken_at, MIN(f.mtime_ns) / 1e9 + ?), c.taken_at IS NOT NULL "
                f"FROM contents c JOIN files f ON f.content_id = c.id WHERE c.id IN ({marks}) AND f.state = 'ok' "
                f"GROUP BY c.id", (utc_offset(), *chunk))
            out.update({r[0]: (float(r[1]), bool(r[2])) for r in rows})
    return out


def folders(db: Database) -> list[tuple[str, int]]:
    """(folder, photo files directly in it) for every folder holding an indexed photo, by path."""
    counts = Counter(os.path.dirname(from_db(r[0])) for r in db.query("SELECT path FROM files WHERE state = 'ok'"))
    return sorted(counts.items())


def details(db: Database, catalog: Catalog, photo_id: int) -> PhotoDetails:
    """What the viewer shows about a photo; the camera is read from the file's EXIF."""
    p = catalog.photos([photo_id]).get(photo_id)
    if p is None:
        raise QueryError(f"no photo with id {photo_id} in this library")
    row = db.query("SELECT bytes FROM contents WHERE id = ?", (photo_id,))
    date, taken = dates(db, [photo_id]).get(photo_id, (None, False))
    return PhotoDetails(photo_id=photo_id, path=p.path, paths=p.paths, date=date, taken=taken, width=p.width,
                        height=p.height, bytes=int(row[0][0]) if row else 0, camera=camera(p.path))


def camera(path: str | Path) -> str | None:
    """The camera's make and model from the file's EXIF (a RAW file's TIFF header too), or None."""
    exif = None
    try:
        with Image.open(path) as im:
            exif = im.getexif()
    except Exception:  # not an image Pillow opens (most RAW files): try the TIFF header below
        try:
            with open(path, "rb") as f:
                head = f.read(1 << 20)
            exif = Image.Exif()
            exif.load(head)
        except Exception:  # no readable tags: the camera is not known
            return None
    make = str(exif.get(EXIF_MAKE) or "").strip("\x00 ")
    model = str(exif.get(EXIF_MODEL) or "").strip("\x00 ")
    if model and make and not model.lower().startswith(make.split()[0].lower()):
        model = f"{make} {model}"
    return model or make or None
