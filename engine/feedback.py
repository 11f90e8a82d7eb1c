"""The feedback store: every thumbs-up/down with the query that produced it.

A vote records the query (mode, reference path and content hash, text, and the bundle
that answered: name, version, query-graph hash, target side), the photo (content hash
and path), up or down, when, the rank and score it was shown at, and the content hashes
of the photos shown above it (personalization pairs a liked photo with the unvoted ones
ranked above it). :meth:`FeedbackStore.add` returns only after the vote is committed;
the same vote given again (same query, photo and direction, not undone) is not stored
twice, so a vote retried after an error whose commit did happen counts once.
An undo marks the vote undone; nothing is deleted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .db import Database
from .errors import QueryError
from .fspath import from_db, to_db


@dataclass(frozen=True, kw_only=True)
class QueryInfo:
    """What was asked and who answered; travels with each search result and each vote."""

    mode: str  # "composed", "text" or "similar"
    text: str | None
    ref_path: str | None
    ref_sha256: str | None
    bundle_name: str
    bundle_version: str
    query_sha256: str
    target_side: str


@dataclass(frozen=True)
class Vote:
    id: int
    at: float
    query: QueryInfo
    photo_sha256: str
    photo_path: str | None
    up: bool
    rank: int | None  # 0-based rank it was shown at; None if it was not in the shown list
    score: float | None
    shown_above: tuple[str, ...]  # content hashes ranked above it, best first
    undone_at: float | None = None


class FeedbackStore:
    def __init__(self, db: Database):
        self.db = db

    def add(self, query: QueryInfo, photo_sha256: str, photo_path: str | None, up: bool,
            rank: int | None = None, score: float | None = None, shown_above: tuple[str, ...] = ()) -> Vote:
        now = time.time()
        with self.db.write() as c:
            same = c.execute(
                "SELECT * FROM votes WHERE photo_sha256 = ? AND vote = ? AND undone_at IS NULL AND mode = ? "
                "AND text IS ? AND ref_sha256 IS ? AND query_sha256 = ? ORDER BY id LIMIT 1",
                (photo_sha256, 1 if up else -1, query.mode, query.text, query.ref_sha256, query.query_sha256),
            ).fetchone()
            if same is not None:
                return _vote(same)
            cur = c.execute(
                "INSERT INTO votes(at, mode, ref_path, ref_sha256, text, bundle_name, bundle_version, query_sha256, "
                "target_side, photo_sha256, photo_path, vote, rank, score, shown_above) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, query.mode, _db(query.ref_path), query.ref_sha256, query.text, query.bundle_name,
                 query.bundle_version, query.query_sha256, query.target_side, photo_sha256, _db(photo_path),
                 1 if up else -1, rank, score, json.dumps(list(shown_above))),
            )
            vid = int(cur.lastrowid)
        return Vote(vid, now, query, photo_sha256, photo_path, up, rank, score, tuple(shown_above))

    def undo(self, vote_id: int) -> Vote:
        with self.db.write() as c:
            cur = c.execute("UPDATE votes SET undone_at = ? WHERE id = ? AND undone_at IS NULL", (time.time(), vote_id))
            if cur.rowcount == 0:
                exists = c.execute("SELECT 1 FROM votes WHERE id = ?", (vote_id,)).fetchone()
                raise QueryError(f"vote {vote_id} " + ("was already undone" if exists else "does not exist"))
        return self.get(vote_id)

    def get(self, vote_id: int) -> Vote:
        row = self.db.conn().execute("SELECT * FROM votes WHERE id = ?", (vote_id,)).fetchone()
        if row is None:
            raise QueryError(f"vote {vote_id} does not exist")
        return _vote(row)

    def votes(self, include_undone: bool = False) -> list[Vote]:
        sql = "SELECT * FROM votes" + ("" if include_undone else " WHERE undone_at IS NULL") + " ORDER BY id"
        return [_vote(r) for r in self.db.query(sql)]

    def count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) FROM votes WHERE undone_at IS NULL")[0][0])


def _vote(r) -> Vote:
    q = QueryInfo(mode=r["mode"], text=r["text"], ref_path=_path(r["ref_path"]), ref_sha256=r["ref_sha256"],
                  bundle_name=r["bundle_name"], bundle_version=r["bundle_version"], query_sha256=r["query_sha256"],
                  target_side=r["target_side"])
    return Vote(r["id"], r["at"], q, r["photo_sha256"], _path(r["photo_path"]), r["vote"] > 0, r["rank"], r["score"],
                tuple(json.loads(r["shown_above"])), r["undone_at"])


def _db(path: str | None) -> str | bytes | None:
    return None if path is None else to_db(path)


def _path(value: str | bytes | None) -> str | None:
    return None if value is None else from_db(value)
