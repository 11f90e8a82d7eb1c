"""The vote book: which tiles show a vote, clicks as toggles, pending state, undo order."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from app.state.votes import TileVote, VoteBook, VotePlan, same_query
from engine.feedback import QueryInfo, Vote

Q = QueryInfo(mode="composed", text="make it red", ref_path="/r.jpg", ref_sha256="refsha", bundle_name="demo",
              bundle_version="1", query_sha256="qsha", target_side="tside")
OTHER = dataclasses.replace(Q, text="make it blue")
_ids = itertools.count(1)


def vote(photo: str, up: bool, q: QueryInfo = Q, at: float | None = None, undone: float | None = None) -> Vote:
    i = next(_ids)
    return Vote(i, at if at is not None else float(i), q, photo, f"/{photo}.jpg", up, None, None, (), undone)


@pytest.mark.parametrize("change, same", [
    ({}, True),
    ({"text": "  make it red "}, True),  # surrounding blanks do not make another question
    ({"query_sha256": "personalized"}, True),  # another query graph answering the same question
    ({"bundle_version": "2"}, True),
    ({"text": "make it blue"}, False),
    ({"ref_sha256": "other"}, False),
    ({"mode": "similar"}, False),
    ({"target_side": "other"}, False),
])
def test_same_query(change, same):
    assert same_query(Q, dataclasses.replace(Q, **change)) is same


def test_show_takes_the_latest_live_vote_of_the_same_query():
    b = VoteBook()
    b.show(Q, [vote("p1", True, at=1), vote("p1", False, at=2), vote("p2", True, undone=5.0),
               vote("p3", True, q=OTHER), vote("p4", False)])
    assert b.tile("p1") == TileVote(False, False)
    assert b.tile("p2") is None, "an undone vote is not shown"
    assert b.tile("p3") is None, "a vote given for another query is not shown"
    assert b.tile("p4") == TileVote(False, False)
    assert len(b) == 2


def test_click_is_a_toggle():
    b = VoteBook()
    b.show(Q, [])
    assert b.plan("p", True) == VotePlan(None, True)
    b.sending("p", VotePlan(None, True))
    assert b.tile("p") == TileVote(True, True), "pending until the engine confirms"
    assert b.plan("p", False) is None, "no second change while one is in flight"
    up = vote("p", True)
    b.confirmed(up)
    assert b.tile("p") == TileVote(True, False)
    assert b.plan("p", True) == VotePlan(up.id, None), "the same thumb again takes it back"
    assert b.plan("p", False) == VotePlan(up.id, False), "the other thumb replaces it"
    b.sending("p", VotePlan(up.id, False))
    down = vote("p", False)
    b.confirmed(down, undone=up)
    assert b.tile("p") == TileVote(False, False)
    assert b.last() == down
    b.sending("p", VotePlan(down.id, None))
    assert b.tile("p") is None, "a take-back in flight hides the vote"
    b.undone(down)
    assert b.tile("p") is None and b.last() is None


def test_failure_restores_what_the_engine_holds():
    b = VoteBook()
    old = vote("p", True)
    b.show(Q, [old])
    b.sending("p", VotePlan(old.id, False))
    assert b.tile("p") == TileVote(False, True)
    b.failed("p")
    assert b.tile("p") == TileVote(True, False)


def test_undo_goes_back_through_this_sessions_votes_across_queries():
    b = VoteBook()
    b.show(Q, [vote("old", True)])
    assert b.last() is None, "votes from an earlier session are not undone by Ctrl+Z"
    a = vote("a", True)
    b.confirmed(a)
    b.show(OTHER, [])
    c = vote("c", False, q=OTHER)
    b.confirmed(c)
    assert b.last() == c
    b.undone(c)
    assert b.last() == a, "then the vote given for the previous query"
    b.undone(a)
    assert b.last() is None


def test_a_confirmation_for_a_query_no_longer_shown_does_not_touch_the_tiles():
    b = VoteBook()
    b.show(Q, [])
    b.sending("p", VotePlan(None, True))
    b.show(OTHER, [])  # the user moved on before the engine answered
    b.confirmed(vote("p", True, q=Q))
    assert b.tile("p") is None and b.last() is not None
