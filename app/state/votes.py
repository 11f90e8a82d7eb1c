"""Which tiles of the shown result carry a vote, and the session's undo stack.

The engine's feedback store holds every vote; this book holds the view of it that the
grid draws: for the query on screen, the latest live vote on each photo (by content
hash), plus votes sent but not yet confirmed by the engine ("pending").

Clicking a thumb is a toggle: the same thumb again takes the vote back; the other thumb
replaces it (the old vote is undone, a new one added). :meth:`VoteBook.plan` says which
engine calls a click needs; the caller makes them on a worker and reports back with
:meth:`VoteBook.confirmed` / :meth:`VoteBook.undone` / :meth:`VoteBook.failed`.

Undo (Ctrl+Z) takes back the most recent vote of this session that is still live,
whichever query it was given for. Not thread-safe: the GUI thread owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from engine.feedback import QueryInfo, Vote


def same_query(a: QueryInfo, b: QueryInfo) -> bool:
    """The same question: mode, words, reference bytes and the model's target side.

    The query graph may differ (a personalized model answering the same question):
    an opinion on a photo for a question outlives the model that showed it.
    """
    return (a.mode == b.mode and (a.text or "").strip() == (b.text or "").strip()
            and a.ref_sha256 == b.ref_sha256 and a.target_side == b.target_side)


@dataclass(frozen=True)
class VotePlan:
    undo: int | None  # id of a live vote to undo first
    add: bool | None  # then add a vote: True up, False down; None adds nothing


@dataclass(frozen=True)
class TileVote:
    up: bool
    pending: bool  # sent, not yet confirmed by the engine


class VoteBook:
    def __init__(self) -> None:
        self.query: QueryInfo | None = None
        self._live: dict[str, Vote] = {}  # photo sha256 -> latest live vote for self.query
        self._pending: dict[str, bool] = {}  # photo sha256 -> the vote being sent
        self._stack: list[Vote] = []  # this session's votes, oldest first

    def show(self, query: QueryInfo, stored: Iterable[Vote]) -> None:
        """A new result is on screen: take the stored live votes given for the same query."""
        self.query = query
        self._live, self._pending = {}, {}
        for v in sorted(stored, key=lambda v: (v.at, v.id)):
            if v.undone_at is None and same_query(v.query, query):
                self._live[v.photo_sha256] = v

    def tile(self, sha256: str) -> TileVote | None:
        if sha256 in self._pending:
            up = self._pending[sha256]
            return None if up is None else TileVote(up, True)
        v = self._live.get(sha256)
        return TileVote(v.up, False) if v is not None else None

    def plan(self, sha256: str, up: bool) -> VotePlan | None:
        """What a click on a thumb means; None while a change to that tile is in flight."""
        if sha256 in self._pending:
            return None
        cur = self._live.get(sha256)
        if cur is None:
            return VotePlan(None, up)
        if cur.up == up:
            return VotePlan(cur.id, None)  # the same thumb again: take it back
        return VotePlan(cur.id, up)

    def sending(self, sha256: str, plan: VotePlan) -> None:
        """``plan`` is on its way to the engine; the tile shows where it is going."""
        self._pending[sha256] = plan.add

    def confirmed(self, vote: Vote, undone: Vote | None = None) -> None:
        """The engine committed ``vote`` (after undoing ``undone``, if given)."""
        if undone is not None:
            self._drop(undone)
        self._stack.append(vote)
        if self.query is not None and same_query(vote.query, self.query):
            self._pending.pop(vote.photo_sha256, None)
            self._live[vote.photo_sha256] = vote

    def undone(self, vote: Vote) -> None:
        """The engine marked ``vote`` undone (a take-back or an undo)."""
        self._drop(vote)
        self._pending.pop(vote.photo_sha256, None)

    def failed(self, sha256: str) -> None:
        """Sending failed: the tile shows what the engine holds."""
        self._pending.pop(sha256, None)

    def _drop(self, vote: Vote) -> None:
        self._stack = [v for v in self._stack if v.id != vote.id]
        cur = self._live.get(vote.photo_sha256)
        if cur is not None and cur.id == vote.id:
            del self._live[vote.photo_sha256]

    def last(self) -> Vote | None:
        """The vote Ctrl+Z would take back."""
        return self._stack[-1] if self._stack else None

    def __len__(self) -> int:
        return len(self._live)
