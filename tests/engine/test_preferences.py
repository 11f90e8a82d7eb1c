"""Preference pairs from votes: table-driven."""

from __future__ import annotations

import pytest

from engine.preferences import Pair, QueryKey, VoteView, build_pairs, split_held_out


def V(photo, up, at, text="make it red", ref="R", mode="composed", above=()):
    return VoteView(mode, ref, text, photo, up, at, tuple(above))


Q = QueryKey("R", "make it red")

CASES = [
    ("liked x disliked", [V("a", True, 1), V("b", False, 2), V("c", False, 3)],
     {(Q, "a", "b", "voted"), (Q, "a", "c", "voted")}),
    ("liked vs unvoted shown above", [V("c", True, 1, above=("a", "b"))],
     {(Q, "c", "a", "shown_above"), (Q, "c", "b", "shown_above")}),
    ("voted photos above are not 'unvoted'", [V("c", True, 2, above=("a", "b")), V("a", True, 1)],
     {(Q, "c", "b", "shown_above")}),
    ("disliked above a liked one pairs once, as voted", [V("c", True, 2, above=("a",)), V("a", False, 1)],
     {(Q, "c", "a", "voted")}),
    ("latest vote on a photo wins", [V("a", True, 1), V("b", False, 2), V("a", False, 3)], set()),
    ("a change of mind flips the pair", [V("a", False, 1), V("b", True, 2), V("a", True, 3), V("b", False, 4)],
     {(Q, "a", "b", "voted")}),
    ("only dislikes give nothing", [V("a", False, 1, above=("x",)), V("b", False, 2)], set()),
    ("queries are kept apart", [V("a", True, 1), V("b", False, 2, text="make it blue")], set()),
    ("text is compared cleaned", [V("a", True, 1, text="Make it RED!"), V("b", False, 2, text="make it red")],
     {(Q, "a", "b", "voted")}),
    ("other modes are skipped", [V("a", True, 1, mode="similar"), V("b", False, 2, mode="text")], set()),
]


@pytest.mark.parametrize("name,votes,want", CASES, ids=[c[0] for c in CASES])
def test_pairs(name, votes, want):
    got = {(p.query, p.better, p.worse, p.kind) for p in build_pairs(votes).pairs}
    assert got == want


def test_skipped_count_and_queries():
    ps = build_pairs([V("a", True, 1, mode="similar"), V("a", True, 2), V("b", False, 3), V("z", True, 4, ref=None)])
    assert ps.skipped_votes == 2
    assert ps.queries == (Q,)


def _pairs(n_queries, per_query):
    return [Pair(QueryKey(f"r{q}", "t"), f"b{i}", f"w{i}", "voted") for q in range(n_queries) for i in range(per_query)]


def test_held_out_whole_queries():
    pairs = _pairs(5, 4)
    train, held = split_held_out(pairs, 0.25, seed=0)
    assert sorted(train + held) == list(range(20))
    held_q = {pairs[i].query for i in held}
    assert held_q and not held_q & {pairs[i].query for i in train}  # no query on both sides
    assert len(held) >= 5
    assert split_held_out(pairs, 0.25, seed=0) == (train, held)  # seeded


def test_held_out_single_query_splits_pairs_and_never_everything():
    train, held = split_held_out(_pairs(1, 10), 0.3, seed=1)
    assert len(held) == 3 and len(train) == 7
    train, held = split_held_out(_pairs(2, 1), 0.9, seed=1)
    assert len(train) == 1 and len(held) == 1  # at least one query left to train on
    assert split_held_out(_pairs(1, 1), 0.5, seed=0) == ([0], [])
