"""The photo catalog: roots, files and contents, on top of :mod:`engine.db`.

A *file* is a path with its size and mtime; a *content* is a distinct sequence of bytes
(SHA-256), and it owns the vectors. Several files may share one content (copies), and a
renamed or moved file finds its content again by hash, so it keeps its vectors. Photo
ids handed to callers are content ids.

File states: ``pending`` (listed, not yet hashed or encoded), ``ok`` (linked to an
encoded content), ``failed`` (``error`` says why). A content that could not be decoded
is kept as ``failed`` with its reason, so a copy of a broken file is not decoded again.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .db import Database
from .fspath import from_db, to_db
from .scanner import Diff, ScanIssue

_CHUNK = 900  # stay under SQLite's bound-parameter limit
_LINK = "UPDATE files SET content_id = ?, state = 'ok', error = NULL WHERE id = ?"


@dataclass(frozen=True)
class Root:
    id: int
    path: str
    # on another device than its parent the last time a scan found photos in it; None: not known
    mount_point: bool | None = None


@dataclass(frozen=True)
class PendingFile:
    id: int
    path: str
    size: int


@dataclass(frozen=True)
class Photo:
    id: int  # content id: the photo's identity in results, votes and tokens
    sha256: str
    paths: tuple[str, ...]  # files holding these bytes, shortest path first
    width: int | None
    height: int | None
    taken_at: float | None

    @property
    def path(self) -> str:
        return self.paths[0]


@dataclass(frozen=True)
class Encoded:
    file_id: int
    sha256: str
    bytes: int
    width: int
    height: int
    taken_at: float | None


@dataclass(frozen=True)
class Failed:
    file_id: int
    reason: str
    sha256: str | None = None  # set when the bytes themselves are at fault (recorded per content)
    bytes: int = 0


def _chunks(seq: Sequence, n: int = _CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class Catalog:
    def __init__(self, db: Database):
        self.db = db

    # -- roots ---------------------------------------------------------------------------

    def roots(self) -> list[Root]:
        rows = self.db.query("SELECT id, path, mount_point FROM roots ORDER BY path")
        return [Root(r["id"], from_db(r["path"]), None if r[2] is None else bool(r[2])) for r in rows]

    def add_root(self, path: str) -> Root:
        """Add a folder. Inside an existing root: that root. Around existing roots: they merge in."""
        path = os.path.abspath(path)
        with self.db.write() as c:
            rows = [(r["id"], from_db(r["path"])) for r in c.execute("SELECT id, path FROM roots")]
            for root_id, root_path in rows:
                if _inside(path, root_path):
                    return Root(root_id, root_path)
            cur = c.execute("INSERT INTO roots(path, added_at) VALUES (?, ?)", (to_db(path), time.time()))
            new_id = int(cur.lastrowid)
            for root_id, root_path in rows:
                if _inside(root_path, path):
                    c.execute("UPDATE files SET root_id = ? WHERE root_id = ?", (new_id, root_id))
                    c.execute("UPDATE scan_issues SET root_id = ? WHERE root_id = ?", (new_id, root_id))
                    c.execute("DELETE FROM roots WHERE id = ?", (root_id,))
            return Root(new_id, path)

    def remove_root(self, path: str) -> bool:
        """Forget a folder and its files (their vectors stay in the store until compacted)."""
        with self.db.write() as c:
            cur = c.execute("DELETE FROM roots WHERE path = ?", (to_db(os.path.abspath(path)),))
            return cur.rowcount > 0

    # -- scanning ------------------------------------------------------------------------

    def listing(self, root_id: int) -> dict[str, tuple[int, int]]:
        rows = self.db.query("SELECT path, size, mtime_ns FROM files WHERE root_id = ?", (root_id,))
        return {from_db(r["path"]): (r["size"], r["mtime_ns"]) for r in rows}

    def apply_scan(self, root_id: int, d: Diff, sizes: dict[str, tuple[int, int]], issues: list[ScanIssue],
                   mount_point: bool | None = None) -> None:
        """Record one root's scan: removed files go, added and changed ones become pending.
        ``mount_point``: whether the root is one now (given when the scan found photos)."""
        now = time.time()
        with self.db.write() as c:
            if mount_point is not None:
                c.execute("UPDATE roots SET mount_point = ? WHERE id = ?", (int(mount_point), root_id))
            for chunk in _chunks(d.removed):
                c.executemany("DELETE FROM files WHERE path = ?", [(to_db(p),) for p in chunk])
            c.executemany(
                "INSERT INTO files(path, root_id, size, mtime_ns, state, added_at) VALUES (?, ?, ?, ?, 'pending', ?) "
                "ON CONFLICT(path) DO UPDATE SET root_id = excluded.root_id, size = excluded.size, "
                "mtime_ns = excluded.mtime_ns, state = 'pending', content_id = NULL, error = NULL",
                [(to_db(p), root_id, *sizes[p], now) for p in d.added],
            )
            c.executemany(
                "UPDATE files SET size = ?, mtime_ns = ?, state = 'pending', content_id = NULL, error = NULL "
                "WHERE path = ?",
                [(*sizes[p], to_db(p)) for p in d.changed],
            )
            # A file that failed for a reason of its own (vanished, no permission), not
            # because of its bytes, is tried again at every scan.
            c.execute("UPDATE files SET state = 'pending', error = NULL "
                      "WHERE root_id = ? AND state = 'failed' AND content_id IS NULL", (root_id,))
            c.execute("DELETE FROM scan_issues WHERE root_id = ?", (root_id,))
            c.executemany(
                "INSERT OR REPLACE INTO scan_issues(path, root_id, reason, at) VALUES (?, ?, ?, ?)",
                [(to_db(i.path), root_id, i.reason, now) for i in issues],
            )

    def pending(self) -> list[PendingFile]:
        rows = self.db.query("SELECT id, path, size FROM files WHERE state = 'pending' ORDER BY path")
        return [PendingFile(r["id"], from_db(r["path"]), r["size"]) for r in rows]

    # -- contents ------------------------------------------------------------------------

    def content(self, sha256: str) -> sqlite3.Row | None:
        return self.db.conn().execute("SELECT id, state, error FROM contents WHERE sha256 = ?", (sha256,)).fetchone()

    def record(self, encoded: Sequence[Encoded], tokens: np.ndarray | None, store, linked, failed) -> list[int]:
        """One indexing commit. Returns the new content ids of ``encoded`` (in order).

        ``tokens`` (N, Q, E) belong to ``encoded``; they are written to the store and
        flushed *inside* the transaction, so a committed content always has its tokens.
        ``linked``: (file_id, content_id) of files whose bytes were already known.
        """
        now = time.time()
        with self.db.write() as c:
            new_ids = []
            for e in encoded:
                cur = c.execute(
                    "INSERT INTO contents(sha256, bytes, width, height, state, encoded_at, taken_at) "
                    "VALUES (?, ?, ?, ?, 'encoded', ?, ?)",
                    (e.sha256, e.bytes, e.width, e.height, now, e.taken_at),
                )
                new_ids.append(int(cur.lastrowid))
                c.execute(_LINK, (new_ids[-1], e.file_id))
            if encoded:
                store.write(np.asarray(new_ids, np.int64), tokens)
                store.flush()
            for file_id, content_id in linked:
                c.execute(_LINK, (content_id, file_id))
            for f in failed:
                self._record_failure(c, f, now)
            return new_ids

    @staticmethod
    def _record_failure(c: sqlite3.Connection, f: Failed, now: float) -> None:
        content_id = None
        if f.sha256 is not None:
            c.execute(
                "INSERT INTO contents(sha256, bytes, state, error, encoded_at) VALUES (?, ?, 'failed', ?, ?) "
                "ON CONFLICT(sha256) DO NOTHING",
                (f.sha256, f.bytes, f.reason, now),
            )
            content_id = c.execute("SELECT id FROM contents WHERE sha256 = ?", (f.sha256,)).fetchone()[0]
        c.execute(
            "UPDATE files SET state = 'failed', error = ?, content_id = ? WHERE id = ?",
            (f.reason, content_id, f.file_id),
        )

    def live_ids(self) -> np.ndarray:
        """Content ids that have tokens and at least one file: what the index must hold."""
        rows = self.db.query(
            "SELECT DISTINCT f.content_id FROM files f JOIN contents c ON c.id = f.content_id "
            "WHERE f.state = 'ok' AND c.state = 'encoded' ORDER BY f.content_id"
        )
        return np.asarray([r[0] for r in rows], np.int64)

    def paths(self, ids: Sequence[int]) -> dict[int, list[str]]:
        """Content id -> its current files (ok), shortest path first; ids without files are absent."""
        out: dict[int, list[str]] = {}
        ids = [int(i) for i in ids]
        with self.db.read() as c:
            for chunk in _chunks(ids):
                q = ",".join("?" * len(chunk))
                for r in c.execute(
                    f"SELECT content_id, path FROM files WHERE content_id IN ({q}) AND +state = 'ok'", tuple(chunk)
                ):
                    out.setdefault(r[0], []).append(from_db(r[1]))
        for v in out.values():
            v.sort(key=lambda p: (len(p), p))
        return out

    def photos(self, ids: Sequence[int]) -> dict[int, Photo]:
        paths = self.paths(ids)
        out = {}
        with self.db.read() as c:
            for chunk in _chunks(list(paths)):
                q = ",".join("?" * len(chunk))
                for r in c.execute(
                    f"SELECT id, sha256, width, height, taken_at FROM contents WHERE id IN ({q})", tuple(chunk)
                ):
                    out[r["id"]] = Photo(
                        r["id"], r["sha256"], tuple(paths[r["id"]]), r["width"], r["height"], r["taken_at"]
                    )
        return out

    def photo_by_path(self, path: str) -> Photo | None:
        row = self.db.conn().execute(
            "SELECT content_id FROM files WHERE path = ? AND state = 'ok'", (to_db(os.path.abspath(path)),)
        ).fetchone()
        return self.photos([row[0]]).get(row[0]) if row else None

    def photo_by_sha(self, sha256: str) -> Photo | None:
        row = self.db.conn().execute(
            "SELECT id FROM contents WHERE sha256 = ? AND state = 'encoded'", (sha256,)
        ).fetchone()
        return self.photos([row[0]]).get(row[0]) if row else None

    # -- status --------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        rows = self.db.query("SELECT state, COUNT(*) FROM files GROUP BY state")
        out = {"ok": 0, "pending": 0, "failed": 0}
        out.update({r[0]: r[1] for r in rows})
        out["photos"] = int(self.db.query(
            "SELECT COUNT(DISTINCT content_id) FROM files WHERE state = 'ok'")[0][0])
        out["issues"] = int(self.db.query("SELECT COUNT(*) FROM scan_issues")[0][0])
        return out

    def skipped(self) -> list[tuple[str, str]]:
        """(path, reason) of every file that failed and every folder-level scan issue."""
        rows = self.db.query(
            "SELECT path, error FROM files WHERE state = 'failed' UNION ALL SELECT path, reason FROM scan_issues "
            "ORDER BY 1"
        )
        return [(from_db(r[0]), r[1]) for r in rows]

    def forget_contents(self, ids: Sequence[int]) -> None:
        """These contents lost their tokens (a vector database without them): their files
        become pending, so the next index run encodes them again."""
        ids = [int(i) for i in ids]
        with self.db.write() as c:
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                c.execute(f"UPDATE files SET state = 'pending', content_id = NULL, error = NULL "
                          f"WHERE content_id IN ({marks})", chunk)
                c.execute(f"DELETE FROM contents WHERE id IN ({marks})", chunk)

    def forget_vectors(self) -> None:
        """Every content goes and every file becomes pending (re-encoding with a new model)."""
        with self.db.write() as c:
            c.execute("UPDATE files SET state = 'pending', content_id = NULL, error = NULL")
            c.execute("DELETE FROM contents")

    def encoded_ids(self) -> np.ndarray:
        """Every content with stored tokens, live or not (a removed folder's photos keep theirs), ascending."""
        rows = self.db.query("SELECT id FROM contents WHERE state = 'encoded' ORDER BY id")
        return np.asarray([r[0] for r in rows], np.int64)

    def content_shas(self, ids: Sequence[int]) -> dict[int, str]:
        """Content id -> SHA-256, for those of ``ids`` that are encoded contents."""
        out: dict[int, str] = {}
        ids = [int(i) for i in ids]
        with self.db.read() as c:
            for chunk in _chunks(ids):
                q = ",".join("?" * len(chunk))
                out.update(c.execute(f"SELECT id, sha256 FROM contents WHERE id IN ({q}) AND state = 'encoded'",
                                     tuple(chunk)).fetchall())
        return out
