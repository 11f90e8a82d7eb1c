"""Failures of the disk and of SQLite, as the engine's typed errors.

The library's files (catalog, token store, index, lock, thumbnails, saved references) are
written with plain OS calls and SQLite, whose errors (``OSError``, ``sqlite3.Error``) name
an errno or a result code but neither the library nor what to do. :func:`storage_errors`
turns them into :class:`StorageError`, :class:`DiskFullError` and
:class:`CatalogDamagedError` with a message that names the file and the remedy; any
other exception passes through unchanged.
"""

from __future__ import annotations

import errno
import functools
import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from .errors import CatalogDamagedError, CirsearchError, DiskFullError, StorageError

CATALOG = "catalog.sqlite"
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
LOW_SPACE = 1 << 20  # bytes free under which an SQLite I/O error is taken for a full disk
_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})

F = TypeVar("F", bound=Callable)


def _code(e: sqlite3.Error) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # the primary result code


def is_disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError):
        return e.errno in DISK_FULL
    return isinstance(e, sqlite3.Error) and (_code(e) == sqlite3.SQLITE_FULL or "disk is full" in str(e))


def is_damaged(e: BaseException) -> bool:
    """A SQLite error that means the file is not a sound database (corrupt pages, a bad header)."""
    return isinstance(e, sqlite3.DatabaseError) and (
        _code(e) in _DAMAGED or "malformed" in str(e) or "not a database" in str(e))


def disk_full(where: str | Path) -> DiskFullError:
    return DiskFullError(f"the disk holding {where} is full: free some space and run the command again "
                         "(everything saved before is kept)", str(where))


def damaged(catalog: Path, detail: object) -> CatalogDamagedError:
    return CatalogDamagedError(
        f"the catalog {catalog} is damaged ({detail}): run `cirsearch recover-catalog --library {catalog.parent}` "
        "to copy what can still be read (votes first) into a new catalog; the damaged file is kept beside it")


def _no_space(e: sqlite3.Error, folder: Path) -> bool:
    """An SQLite I/O error that a full disk explains: the -shm file could not be given its
    pages, or any I/O error with (almost) no space left."""
    if _code(e) != sqlite3.SQLITE_IOERR:
        return False
    if getattr(e, "sqlite_errorname", "") == "SQLITE_IOERR_SHMSIZE":
        return True
    try:
        return shutil.disk_usage(folder).free < LOW_SPACE
    except OSError:
        return False


def sqlite_error(e: sqlite3.Error, catalog: Path) -> CirsearchError | None:
    """The engine's error for a failure of the catalog file; None for a misuse of SQL (a bug)."""
    if is_disk_full(e) or _no_space(e, catalog.parent):
        return disk_full(catalog)
    if is_damaged(e):
        return damaged(catalog, e)
    if _code(e) == sqlite3.SQLITE_READONLY:
        return StorageError(f"the catalog {catalog} is read-only here: make the library folder writable "
                            "(status, search and similar work without writing)", str(catalog))
    if isinstance(e, sqlite3.OperationalError):
        return StorageError(f"the catalog {catalog} cannot be used: {e}", str(catalog))
    return None


def storage_error(e: BaseException, folder: Path) -> CirsearchError | None:
    """The engine's error for ``e`` raised while using the library in ``folder``; None
    when ``e`` is not about storage (a bug, or an error the engine already typed)."""
    if isinstance(e, sqlite3.Error):
        return sqlite_error(e, folder / CATALOG)
    if not isinstance(e, OSError) or isinstance(e, (BlockingIOError, InterruptedError, ConnectionError, TimeoutError)):
        return None
    where = str(e.filename) if e.filename else str(folder)
    if is_disk_full(e):
        return disk_full(where)
    if isinstance(e, IsADirectoryError):
        return StorageError(f"{where} is a folder where cirsearch keeps a file: move or rename that folder "
                            "and run the command again", where)
    if e.errno == errno.EROFS:
        return StorageError(f"{where} is on a read-only disk: mount it writable, or copy the library to a "
                            "writable disk", where)
    return StorageError(f"{where}: {e.strerror or e}", where)


@contextmanager
def storage_errors(folder: Path) -> Iterator[None]:
    """Raise the engine's error for a storage failure in the block (see :func:`storage_error`)."""
    try:
        yield
    except (OSError, sqlite3.Error) as e:
        err = storage_error(e, folder)
        if err is None:
            raise
        raise err from e


def guarded(method: F) -> F:
    """A method of an object with a ``folder`` whose storage failures become the engine's errors."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with storage_errors(self.folder):
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]
