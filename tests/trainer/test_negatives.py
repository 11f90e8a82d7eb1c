"""Negative samplers: QuRe's steep-drop sets, the fallback, TRNS, the schedule, drawing."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.negatives import (
    NegativeTable,
    draw_from_table,
    draw_uniform_excluding,
    is_mining_epoch,
    mining_period,
    qure_hard_set,
    rank_descending,
    steepest_drop_pair,
    trns_mid_zone,
)


def naive_qure(scores, target, threshold=1, window=None):
    """A literal transcription of QuRe's rerank_score loop (cir-methods.md 1.4), without
    its bug: returns None where QuRe's loop never breaks."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # stable
    start = order.index(target) + 1
    a = [scores[i] for i in order[start:]]
    if window is not None:
        a = a[:window]
    d = [a[j + 1] - a[j] for j in range(len(a) - 1)]
    ranking = sorted(range(len(d)), key=lambda j: d[j])
    i = 0
    while i + 1 < len(ranking):
        k1, k2 = min(ranking[i], ranking[i + 1]), max(ranking[i], ranking[i + 1])
        if k2 - k1 > threshold:
            return [order[p] for p in range(start + k1 + 1, start + k2 + 1) if order[p] != target]
        i += 1
    return None


# (scores in corpus order, target, window, expected hard set positions, fallback?)
QURE_CASES = [
    # after = .9 .8 .5 .45 .1 .05; drops ranked 3,1,0,...: pair (1,3) -> sorted positions 3..4
    ([1.0, 0.9, 0.8, 0.5, 0.45, 0.1, 0.05], 0, None, [3, 4], False),
    # the two steepest drops (positions 1 and 0) are adjacent: QuRe moves to (0, 4), not (1, 4)
    ([2.0, 1.0, 0.6, 0.1, 0.05, 0.0, -0.3], 0, None, [2, 3, 4, 5], False),
    # the target in the middle: only what follows it counts
    ([0.95, 1.0, 0.9, 0.8, 0.5, 0.45, 0.1, 0.05], 2, None, [4, 5], False),
    # three items after the target: the only two drops are adjacent -> fallback (first k after)
    ([1.0, 0.9, 0.5, 0.1], 0, None, [1, 2, 3], True),
    # the target ranks last: fallback is the whole corpus minus the target
    ([1.0, 0.9, 0.5, 0.1], 3, None, [0, 1, 2], True),
    # convex decay: drops ranked 0,1,2,3 walk adjacent positions only -> fallback
    ([2.0, 1.0, 0.5, 0.25, 0.125, 0.0625], 0, None, [1, 2, 3, 4, 5], True),
    # a window of 4 keeps after = .9 .8 .5 .45 -> drops 0:-.1 1:-.3 2:-.05, ranked 1,0,2 -> (0,1)
    # adjacent, (0,2) accepted -> positions start+1 .. start+2 = 2, 3
    ([1.0, 0.9, 0.8, 0.5, 0.45, 0.1, 0.05], 0, 4, [2, 3], False),
    # a window too short for two non-adjacent drops -> fallback
    ([1.0, 0.9, 0.8, 0.5, 0.45, 0.1, 0.05], 0, 3, [1, 2, 3, 4, 5, 6], True),
]


@pytest.mark.parametrize("scores, target, window, expected, fallback", QURE_CASES)
def test_qure_hard_set_table(scores, target, window, expected, fallback):
    ns = qure_hard_set(np.asarray(scores), target, window=window, fallback_k=10)
    assert sorted(ns.positions.tolist()) == expected
    assert ns.fallback is fallback
    assert target not in ns.positions


def test_fallback_k_caps_the_items_after_the_target():
    ns = qure_hard_set(np.asarray([2.0, 1.0, 0.5, 0.25, 0.125, 0.0625]), 0, fallback_k=2)
    assert ns.fallback and ns.positions.tolist() == [1, 2]


def test_fallback_does_not_depend_on_other_queries():
    # QuRe's code reused the previous query's window; ours is a function of this row only
    good = np.asarray([1.0, 0.9, 0.8, 0.5, 0.45, 0.1, 0.05])
    bad = np.asarray([1.0, 0.9, 0.5, 0.1])
    alone = qure_hard_set(bad, 0)
    qure_hard_set(good, 0)
    after = qure_hard_set(bad, 0)
    assert alone.positions.tolist() == after.positions.tolist() == [1, 2, 3]


def test_qure_matches_naive_transcription_on_random_scores():
    rng = np.random.default_rng(0)
    checked = 0
    for trial in range(300):
        n = int(rng.integers(2, 40))
        scores = rng.normal(size=n)
        target = int(rng.integers(n))
        window = None if trial % 3 else int(rng.integers(1, 12))
        want = naive_qure(scores.tolist(), target, window=window)
        got = qure_hard_set(scores, target, window=window)
        if want is None:
            assert got.fallback
        else:
            checked += 1
            assert not got.fallback
            assert sorted(got.positions.tolist()) == sorted(want)
            # everything in the hard set ranks below the target
            assert (scores[got.positions] <= scores[target]).all()
    assert checked > 150


def test_qure_is_permutation_equivariant():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=50)
    perm = rng.permutation(50)  # new position i holds old item perm[i]
    inv = np.argsort(perm)
    a = qure_hard_set(scores, 7)
    b = qure_hard_set(scores[perm], int(inv[7]))
    assert sorted(perm[b.positions].tolist()) == sorted(a.positions.tolist())


def test_rank_descending_is_stable_on_ties():
    scores = np.asarray([0.5, 0.9, 0.5, 0.9, 0.1, 0.5])
    assert rank_descending(scores).tolist() == [1, 3, 0, 2, 5, 4]


def test_ties_after_the_target_break_by_corpus_order():
    # equal drops: the stable ranking of drops puts the earlier position first
    after = np.asarray([1.0, 0.5, 0.5, 0.0, 0.0, -0.5])  # d = -.5 0 -.5 0 -.5
    assert steepest_drop_pair(after) == (0, 2)
    assert steepest_drop_pair(after, consecutive_threshold=2) == (1, 4)  # pairs (0,2), (2,4) too close


@pytest.mark.parametrize("bad", [np.asarray([1.0]), np.zeros((2, 2))])
def test_qure_rejects_a_corpus_without_negatives(bad):
    with pytest.raises(ValueError):
        qure_hard_set(bad, 0)


def test_qure_rejects_a_target_outside_the_corpus():
    with pytest.raises(ValueError, match="not in the corpus"):
        qure_hard_set(np.asarray([1.0, 0.5, 0.2]), 5)


# --------------------------------------------------------------------------- TRNS

SORTED = np.linspace(1.0, 0.0, 40)  # corpus order == rank order


@pytest.mark.parametrize(
    "target, lo, hi, expected, fallback",
    [
        (0, 5, 30, list(range(5, 31)), False),  # the 5th..30th images after the target
        (10, 1, 3, [11, 12, 13], False),
        (30, 5, 30, list(range(35, 40)), False),  # the zone is cut by the corpus end
        (37, 5, 30, [38, 39], True),  # fewer than lo images after: fallback (first k after)
        (39, 5, 30, list(range(39)), True),  # nothing after: corpus minus target
    ],
)
def test_trns_rank_zone(target, lo, hi, expected, fallback):
    ns = trns_mid_zone(SORTED, target, lo=lo, hi=hi)
    assert ns.positions.tolist() == expected
    assert ns.fallback is fallback


def test_trns_delta_zone_against_naive():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=60)
    target = 13
    ns = trns_mid_zone(scores, target, lo=0.2, hi=0.9, mode="delta")
    naive = [j for j in range(60) if j != target and 0.2 <= scores[target] - scores[j] <= 0.9]
    assert sorted(ns.positions.tolist()) == naive and not ns.fallback
    # in rank order: the closest to the target first
    assert (np.diff(scores[ns.positions]) <= 0).all()


def test_trns_rank_zone_equals_delta_ranks():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=80)
    target = int(np.argsort(-scores)[10])
    delta = scores[target] - scores
    positive = np.argsort(np.where(delta > 0, delta, np.inf))[: (delta > 0).sum()]
    ns = trns_mid_zone(scores, target, lo=3, hi=9)
    assert ns.positions.tolist() == positive[2:9].tolist()


@pytest.mark.parametrize("kw", [dict(lo=0, hi=3), dict(lo=5, hi=2), dict(lo=1.5, hi=3), dict(mode="margin")])
def test_trns_rejects_bad_bounds(kw):
    with pytest.raises(ValueError):
        trns_mid_zone(SORTED, 0, **kw)


# --------------------------------------------------------------------------- schedule


@pytest.mark.parametrize(
    "epochs, n_def, warmup, expected",
    [
        (30, 6, True, [5, 10, 15, 20, 25]),  # QuRe FashionIQ
        (50, 6, True, [8, 16, 24, 32, 40, 48]),  # QuRe CIRR
        (12, 6, True, [2, 4, 6, 8, 10]),
        (4, 6, True, [1, 2, 3]),  # epochs < n_def: period 1 instead of a division by zero
        (6, 6, False, [0, 1, 2, 3, 4, 5]),
        (13, 6, False, [0, 2, 4, 6, 8, 10, 12]),
    ],
)
def test_mining_schedule(epochs, n_def, warmup, expected):
    assert [e for e in range(epochs) if is_mining_epoch(e, epochs, n_def, warmup)] == expected


def test_mining_period_guards():
    assert mining_period(5, 6) == 1 and mining_period(30, 6) == 5
    with pytest.raises(ValueError):
        mining_period(0, 6)


# --------------------------------------------------------------------------- drawing and the table


def test_uniform_excluding_never_draws_the_target_and_covers_the_rest():
    corpus = (np.asarray([10, 11, 12, 13]), np.asarray([20, 21, 22]))
    group = np.asarray([0, 0, 1] * 2000)
    target_pos = np.asarray([0, 3, 1] * 2000)
    rng = np.random.default_rng(0)
    out = draw_uniform_excluding(corpus, group, target_pos, rng)
    for g, tp, allowed in ((0, 0, {11, 12, 13}), (0, 3, {10, 11, 12}), (1, 1, {20, 22})):
        rows = (group == g) & (target_pos == tp)
        vals, counts = np.unique(out[rows], return_counts=True)
        assert set(vals.tolist()) == allowed
        assert counts.min() > 0.8 * rows.sum() / len(allowed)  # roughly uniform
    again = draw_uniform_excluding(corpus, group, target_pos, np.random.default_rng(0))
    assert (again == out).all()


def test_uniform_excluding_needs_two_images():
    with pytest.raises(ValueError):
        draw_uniform_excluding((np.asarray([5]),), np.asarray([0]), np.asarray([0]), np.random.default_rng(0))


def _table():
    sets = [np.asarray([3, 4]), np.asarray([7]), np.asarray([1, 2, 5, 6])]
    return NegativeTable.from_sets(sets, [0, 4, 2], [False, True, False], [f"im{i}" for i in range(8)], {"k": 1})


def test_draw_from_table_stays_in_each_set_and_reaches_all_of_it():
    t = _table()
    rng = np.random.default_rng(0)
    seen = [set(), set(), set()]
    for _ in range(200):
        for i, v in enumerate(draw_from_table(t, rng)):
            assert v in t.set_of(i)
            seen[i].add(int(v))
    assert seen == [{3, 4}, {7}, {1, 2, 5, 6}]


def test_table_round_trip_and_name_check(tmp_path):
    t = _table()
    path = t.save(tmp_path / "neg.npz")
    back = NegativeTable.load(path, expect_names=[f"im{i}" for i in range(8)])
    assert back.set_of(2).tolist() == [1, 2, 5, 6] and back.fallback.tolist() == [False, True, False]
    assert back.meta == {"k": 1} and back.stats()["mean_size"] == pytest.approx(7 / 3)
    with pytest.raises(ValueError, match="different image set"):
        NegativeTable.load(path, expect_names=["other"])


def test_table_refuses_an_empty_set():
    with pytest.raises(ValueError, match="non-empty"):
        NegativeTable.from_sets([np.asarray([1]), np.asarray([], dtype=np.int64)], [0, 0], [0, 0], ["a", "b"])
