"""The library's SQLite database: connections, the schema and its stepwise migrations.

One file, WAL mode, foreign keys on. Each thread gets its own connection (SQLite
connections must not be shared between threads); writes go through :meth:`Database.write`,
which holds a process-wide lock for the database and opens ``BEGIN IMMEDIATE``, so two
threads never race to upgrade a read transaction. Other processes are handled by SQLite's
own locking with a busy timeout.

The schema has a version (``PRAGMA user_version``). ``MIGRATIONS[n]`` takes a database
at version ``n`` to ``n + 1``; a new database runs them all, so the current schema is
by construction what every old library migrates to. A database newer than this code
is refused, never touched.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import SchemaError
from .faults import damaged, sqlite_error

APPLICATION_ID = 0x43495253  # "CIRS" in the SQLite header, so other tools can tell the file

_V1 = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE roots(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, added_at REAL NOT NULL);
CREATE TABLE contents(
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    bytes INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    state TEXT NOT NULL CHECK (state IN ('encoded', 'failed')),
    error TEXT,
    encoded_at REAL NOT NULL
);
CREATE TABLE files(
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_id INTEGER REFERENCES contents(id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'ok', 'failed')),
    error TEXT
);
CREATE INDEX files_content ON files(content_id);
CREATE INDEX files_state ON files(state);
"""

# v2: the feedback store.
_V2 = """
CREATE TABLE votes(
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    mode TEXT NOT NULL,
    ref_path TEXT,
    ref_sha256 TEXT,
    text TEXT,
    bundle_name TEXT NOT NULL,
    bundle_version TEXT NOT NULL,
    query_sha256 TEXT NOT NULL,
    target_side TEXT NOT NULL,
    photo_sha256 TEXT NOT NULL,
    photo_path TEXT,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    rank INTEGER,
    score REAL,
    shown_above TEXT NOT NULL DEFAULT '[]',
    undone_at REAL
);
CREATE INDEX votes_photo ON votes(photo_sha256);
"""

# v3: scan problems that are not files (unreadable folders, symlink loops) are kept and
# shown; files record when they were first seen and contents when they were taken (EXIF).
# Both are stored only: nothing sorts or filters on them yet.
_V3 = """
CREATE TABLE scan_issues(
    path TEXT PRIMARY KEY,
    root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
ALTER TABLE files ADD COLUMN added_at REAL;
ALTER TABLE contents ADD COLUMN taken_at REAL;
UPDATE files SET added_at = 0 WHERE added_at IS NULL;
"""

# v4: whether each root was a mount point (on another device than its parent folder) the
# last time a scan found photos in it; NULL until then. A root that was one and is not any
# more holds no drive now (unplugged): its photos are kept (engine.indexer).
_V4 = """
ALTER TABLE roots ADD COLUMN mount_point INTEGER;
"""

MIGRATIONS: list[str] = [_V1, _V2, _V3, _V4]
SCHEMA_VERSION = len(MIGRATIONS)


def _connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    # Each connection is used by one thread only; check_same_thread=False lets close() run from any thread.
    target, uri = str(path), False
    if read_only:
        # A folder we cannot write to, where SQLite cannot make its -shm file: unless a crash left
        # writes in the -wal (which need the -shm), nothing else writes the file, so read it as immutable.
        wal = path.with_name(path.name + "-wal")
        unfinished = wal.exists() and wal.stat().st_size > 0
        target, uri = path.absolute().as_uri() + ("?mode=ro" if unfinished else "?mode=ro&immutable=1"), True
    conn = sqlite3.connect(target, timeout=30.0, isolation_level=None, check_same_thread=False, uri=uri)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA synchronous = FULL")  # a committed vote or batch survives a power cut
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _check_kind(conn: sqlite3.Connection) -> int:
    """The catalog's schema version, after checking the file is a catalog this code understands."""
    old = schema_version(conn)
    app = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if app not in (0, APPLICATION_ID):
        raise SchemaError("this SQLite file is not a cirsearch catalog")
    if app == 0 and (old != 0 or conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]):
        raise SchemaError("this SQLite file is not a cirsearch catalog")
    if old > SCHEMA_VERSION:
        raise SchemaError(
            f"the catalog has schema version {old}, newer than this cirsearch understands ({SCHEMA_VERSION}); "
            "update cirsearch"
        )
    return old


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a damaged file (``PRAGMA quick_check``: every page and record, not the indexes' contents;
    about 0.1 s per 100k photos)."""
    try:
        first = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as e:
        first = str(e)
    if first != "ok":
        raise damaged(path, " ".join(first.replace("*** in database main ***", "").split()))


def migrate(conn: sqlite3.Connection, to: int = SCHEMA_VERSION) -> int:
    """Run the migrations from the database's version up to ``to``; returns the old version."""
    old = _check_kind(conn)
    for v in range(old, to):
        # executescript commits any open transaction first, so wrap each step ourselves.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _statements(MIGRATIONS[v]):
                conn.execute(stmt)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {v + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return old


def _statements(script: str) -> list[str]:
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {buf!r}")
    return out


class Database:
    """Per-thread connections to one catalog file, and a write lock.

    ``read_only``: the file is opened read-only (a library folder that cannot be written);
    it must already have the current schema, and every write fails.
    """

    _write_locks: dict[str, threading.RLock] = {}
    _registry_lock = threading.Lock()

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._local = threading.local()
        self._all: dict[threading.Thread, sqlite3.Connection] = {}
        self._all_lock = threading.Lock()
        key = str(self.path.resolve())
        with Database._registry_lock:
            self._wlock = Database._write_locks.setdefault(key, threading.RLock())
        try:
            conn = self.conn()
            _quick_check(conn, self.path)
            if read_only:
                self.migrated_from = _check_kind(conn)
                if self.migrated_from < SCHEMA_VERSION:
                    raise SchemaError(f"the catalog {self.path} must be upgraded by this cirsearch, which cannot "
                                      "write it now (a read-only folder or a full disk): run cirsearch index "
                                      "once it can")
            else:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise SchemaError(f"cannot put the catalog {self.path} in WAL mode (got {mode})")
                with self._wlock:
                    self.migrated_from = migrate(conn)
        except BaseException as e:
            self.close()
            if isinstance(e, sqlite3.Error):
                raise (sqlite_error(e, self.path)
                       or SchemaError(f"the catalog {self.path} cannot be opened: {e}")) from e
            raise

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (created on first use). Connections of threads that
        have ended (worker pools come and go) are closed when a new one is made."""
        c = getattr(self._local, "conn", None)
        if c is None:
            c = _connect(self.path, self.read_only)
            self._local.conn = c
            with self._all_lock:
                for t in [t for t in self._all if not t.is_alive()]:
                    _close(self._all.pop(t))
                self._all[threading.current_thread()] = c
        return c

    @property
    def open_connections(self) -> int:
        with self._all_lock:
            return len(self._all)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back on an exception."""
        with self._wlock:
            c = self.conn()
            if c.in_transaction:  # nested use in the same thread joins the outer transaction
                yield c
                return
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:  # a failed COMMIT (disk full) leaves the transaction open
                    c.execute("ROLLBACK")
                raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        c = self.conn()
        if c.in_transaction:
            yield c
            return
        c.execute("BEGIN")
        try:
            yield c
        finally:
            c.execute("COMMIT")

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        return self.conn().execute(sql, params).fetchall()

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str, conn: sqlite3.Connection | None = None) -> None:
        def run(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

        if conn is not None:
            run(conn)
        else:
            with self.write() as c:
                run(c)

    def close(self) -> None:
        with self._all_lock:
            for c in self._all.values():
                _close(c)
            self._all.clear()
        self._local = threading.local()


def _close(c: sqlite3.Connection) -> None:
    try:
        c.close()
    except sqlite3.Error:
        pass
