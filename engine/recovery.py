"""A damaged or lost catalog: saying what is wrong, and salvaging what SQLite can still read.

:func:`check_catalog_file` runs before a library is opened. A missing or empty (0-byte)
``catalog.sqlite`` in a folder that still holds a library's vectors is not a new library:
opening it as one would throw the vectors away, so it is refused with what happened and
what to do. (A damaged catalog is found by ``PRAGMA quick_check`` when it is opened:
:mod:`engine.db`.)

:func:`recover_catalog` makes a new catalog from the readable rows of the damaged one,
votes first, then the library's settings, folders, photos (contents) and files. Row ids
are kept: a content id is the photo's slot in the token store, so every photo whose row
survives keeps its vectors, and a file whose content row was lost is indexed again (its
bytes find their content again by hash if that survived). The damaged file is kept beside
the new one as ``catalog.sqlite.damaged-<time>``.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .db import Database
from .errors import CatalogDamagedError, LibraryError, StorageError
from .faults import CATALOG, storage_errors
from .filelock import ProcessLock

RECOVERING = CATALOG + ".recovering"  # the new catalog while it is being filled
# What an indexed library folder holds besides its catalog (engine.faiss_store, qdrant_store, saved_references).
LIBRARY_FILES = ("tokens.f16", "index.faiss", "qdrant", "refs")
FIRST = ("votes", "meta", "roots", "contents", "files", "scan_issues")  # then any other table, by name
_SIDE_FILES = ("", "-wal", "-shm")  # the catalog and SQLite's files beside it


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _library_files(folder: Path) -> list[str]:
    return [n for n in LIBRARY_FILES if (folder / n).is_dir() or _size(folder / n) > 0]


def check_catalog_file(folder: Path, create: bool) -> None:
    """Refuse a folder whose catalog is missing, empty or a folder although the library's
    other files are there; without ``create``, refuse a folder that holds no library."""
    catalog = folder / CATALOG
    if catalog.is_dir():
        raise StorageError(f"{catalog} is a folder where cirsearch keeps its catalog file: move or rename that "
                           "folder", str(catalog))
    if _size(catalog) > 0:  # (SQLite writes the first page of a new catalog, in WAL mode, at once)
        return
    held = _library_files(folder)
    if not held:
        if not create:
            raise LibraryError(f"there is no library in {folder} yet: index some photos first (cirsearch index DIR)")
        return
    if not catalog.exists() and (folder / RECOVERING).is_file():
        raise CatalogDamagedError(f"a catalog recovery in {folder} was interrupted: run "
                                  f"`cirsearch recover-catalog --library {folder}` again to finish it")
    what = "is empty (0 bytes)" if catalog.exists() else "is missing"
    raise CatalogDamagedError(
        f"the catalog {catalog} {what}, although the folder holds a library ({', '.join(held)}): it was deleted, "
        "moved or cut short. Put it back from a backup if you have one; otherwise start the catalog over with "
        f"`cirsearch recover-catalog --library {folder}` (the photos are encoded again at the next "
        "`cirsearch index DIR`; the votes were only in the catalog)")


@dataclass(frozen=True)
class TableSalvage:
    table: str
    copied: int  # rows in the new catalog
    rejected: int  # rows read but not consistent with the rest (e.g. a file whose folder was lost)
    unreadable: bool  # part of the table (or all of it) could not be read
    relinked: int = 0  # files whose content row was lost: indexed again


@dataclass(frozen=True)
class Salvage:
    kept_as: Path | None  # where the damaged catalog is now; None if there was none
    tables: tuple[TableSalvage, ...]
    index_dropped: bool  # index.faiss was deleted (rebuilt from the token store when next opened)
    sound: bool = False  # the catalog was not damaged: nothing was done
    finished: bool = False  # an interrupted recovery's new catalog was put in place


def recover_catalog(folder: str | Path) -> Salvage:
    """Replace the library's catalog with what can be read from it (see the module doc).
    Holds the indexing lock; other programs using the library should be closed first."""
    folder = Path(folder).expanduser().absolute()
    catalog, tmp = folder / CATALOG, folder / RECOVERING
    if not folder.is_dir():
        raise LibraryError(f"there is no library folder {folder}")
    with storage_errors(folder), ProcessLock(folder / "index.lock"):
        if not catalog.exists() and tmp.is_file():  # stopped between its last renames: finish it
            return dataclasses.replace(_install(folder, tmp, (), index_dropped=False), finished=True)
        if _size(catalog) > 0 and _sound(catalog):
            return Salvage(None, (), index_dropped=False, sound=True)
        for suffix in _SIDE_FILES:
            Path(str(tmp) + suffix).unlink(missing_ok=True)  # a recovery that stopped while reading
        new = Database(tmp)
        try:
            tables = _salvage(catalog, new) if catalog.is_file() else ()
        finally:
            new.close()
        lost = not tables or any(t.unreadable or t.rejected for t in tables if t.table == "contents")
        if lost:  # lost content ids may be given to new photos: the index must not keep their old vectors
            (folder / "index.faiss").unlink(missing_ok=True)
        return _install(folder, tmp, tables, index_dropped=lost)


def _sound(catalog: Path) -> bool:
    try:
        c = sqlite3.connect(catalog.absolute().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        return c.execute("PRAGMA integrity_check(1)").fetchone()[0] == "ok"
    except sqlite3.DatabaseError:
        return False
    finally:
        c.close()


def _install(folder: Path, tmp: Path, tables: tuple[TableSalvage, ...], index_dropped: bool) -> Salvage:
    """Move the damaged catalog (and its -wal and -shm, which must never sit beside another
    database) aside, then put the new one in its place."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = folder / f"{CATALOG}.damaged-{stamp}"
    n = 1
    while any(Path(str(kept) + s).exists() for s in _SIDE_FILES):
        n += 1
        kept = folder / f"{CATALOG}.damaged-{stamp}-{n}"
    moved = False
    for suffix in _SIDE_FILES:
        src = folder / (CATALOG + suffix)
        if src.exists():
            os.replace(src, str(kept) + suffix)
            moved = True
    os.replace(tmp, folder / CATALOG)
    _fsync_dir(folder)
    return Salvage(kept if moved else None, tables, index_dropped)


def _fsync_dir(folder: Path) -> None:
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- reading what can be read -------------------------------------------------------------


def _salvage(catalog: Path, new: Database) -> tuple[TableSalvage, ...]:
    try:
        src = sqlite3.connect(catalog.absolute().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error:
        return ()
    try:
        try:
            old = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError:
            return ()  # the schema page itself is gone
        ours = {r[0] for r in new.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        order = [t for t in FIRST if t in ours] + sorted(ours - set(FIRST) - {"sqlite_sequence"})
        return tuple(_copy_table(src, new, t) for t in order if t in old)
    finally:
        src.close()


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


def _copy_table(src: sqlite3.Connection, new: Database, table: str) -> TableSalvage:
    try:
        cols = [c for c in _columns(new.conn(), table) if c in set(_columns(src, table))]
    except sqlite3.DatabaseError:
        return TableSalvage(table, 0, 0, True)
    rows, unreadable = read_rows(src, table, cols)
    names = ", ".join(f'"{c}"' for c in cols)
    insert = f'INSERT INTO "{table}"({names}) VALUES ({", ".join("?" * len(cols))})'
    copied = rejected = relinked = 0
    with new.write() as c:
        for r in rows:
            if _insert(c, insert, r):
                copied += 1
            elif table == "files" and (again := _unlinked(cols, r)) is not None and _insert(c, insert, again):
                copied, relinked = copied + 1, relinked + 1
            else:
                rejected += 1
    return TableSalvage(table, copied, rejected, unreadable, relinked)


def _insert(c: sqlite3.Connection, sql: str, row: tuple) -> bool:
    try:
        c.execute(sql, row)
        return True
    except sqlite3.IntegrityError:  # a foreign key, uniqueness or check the damaged file no longer meets
        return False


def _unlinked(cols: list[str], row: tuple) -> tuple | None:
    """A file row whose content was lost, as a file to index again; None if it had no content."""
    d = dict(zip(cols, row))
    if d.get("content_id") is None:
        return None
    d.update(content_id=None, state="pending", error=None)
    return tuple(d[c] for c in cols)


def read_rows(src: sqlite3.Connection, table: str, cols: list[str]) -> tuple[list[tuple], bool]:
    """Every readable row of ``table`` (``cols``), by rowid; and whether some could not be read.
    Past a damaged page the scan seeks to the first rowid it can read again."""
    names = ", ".join(f'"{c}"' for c in cols)
    scan = f'SELECT rowid, {names} FROM "{table}" WHERE rowid > ? ORDER BY rowid'
    rows: list[tuple] = []
    after, unreadable = 0, False
    while True:
        try:
            for r in src.execute(scan, (after,)):
                rows.append(tuple(r[1:]))
                after = r[0]
            return rows, unreadable
        except sqlite3.DatabaseError:
            unreadable = True
        resume = _next_readable(lambda a: _can_seek(src, table, a), after)
        if resume is None:
            return rows, True
        after = resume


def _can_seek(src: sqlite3.Connection, table: str, after: int) -> bool:
    try:
        src.execute(f'SELECT rowid FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT 1', (after,)).fetchall()
        return True
    except sqlite3.DatabaseError:
        return False


def _next_readable(ok: Callable[[int], bool], bad: int, limit: int = 1 << 62) -> int | None:
    """The smallest ``a > bad`` with ``ok(a)`` (assuming ok stays true past it), found by
    doubling the step and then bisecting; None if none up to ``limit``."""
    step = 1
    while bad + step < limit and not ok(bad + step):
        bad, step = bad + step, step * 2
    if bad + step >= limit:
        return None
    good = bad + step
    while good - bad > 1:
        mid = (bad + good) // 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good
