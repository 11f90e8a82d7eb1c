"""Retrieval metrics against naive loops over fully sorted rankings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.metrics import (
    cirr_summary,
    fiq_summary,
    preference_rate,
    recall_at,
    subset_ranks,
    target_ranks,
    top_k,
)


def naive_ranking(row, exclude=None):
    order = sorted(range(len(row)), key=lambda j: -row[j])  # stable: ties by corpus order
    return [j for j in order if j != exclude]


def _scores(seed, m=20, n=30, ties=True):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(m, n))
    if ties:
        s = np.round(s, 1)  # plenty of ties
    return s


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_target_ranks_match_naive(seed):
    s = _scores(seed)
    rng = np.random.default_rng(seed + 10)
    targets = rng.integers(0, s.shape[1], size=s.shape[0])
    exclude = np.where(rng.random(s.shape[0]) < 0.5, rng.integers(0, s.shape[1], size=s.shape[0]), -1)
    exclude = np.where(exclude == targets, -1, exclude)
    for ex in (None, exclude):
        got = target_ranks(s, targets, ex)
        want = [
            naive_ranking(s[i], None if ex is None or ex[i] < 0 else ex[i]).index(targets[i]) for i in range(len(s))
        ]
        assert got.tolist() == want


def test_recall_at():
    ranks = np.asarray([0, 4, 9, 10, 49, 50])
    assert recall_at(ranks, 1) == pytest.approx(100 / 6)
    assert recall_at(ranks, 10) == pytest.approx(50.0)
    assert recall_at(ranks, 50) == pytest.approx(500 / 6)
    assert math.isnan(recall_at(np.asarray([]), 10))


def test_top_k_matches_naive_and_drops_the_excluded():
    s = _scores(3)
    exclude = np.arange(len(s)) % s.shape[1]
    got = top_k(s, 7, exclude)
    for i in range(len(s)):
        assert got[i].tolist() == naive_ranking(s[i], exclude[i])[:7]
    assert top_k(s, 100).shape == (len(s), s.shape[1])
    assert top_k(s, 100, exclude).shape == (len(s), s.shape[1] - 1)


def test_subset_ranks_match_naive():
    s = _scores(4)
    rng = np.random.default_rng(4)
    members, targets, refs = [], [], []
    for _ in range(len(s)):
        m = rng.choice(s.shape[1], size=6, replace=False)
        members.append(m)
        targets.append(m[1])
        refs.append(m[0])
    targets, refs = np.asarray(targets), np.asarray(refs)
    got = subset_ranks(s, targets, members, refs)
    for i in range(len(s)):
        ranking = [j for j in naive_ranking(s[i], refs[i]) if j in set(members[i].tolist())]
        assert got[i] == ranking.index(targets[i])


def test_fiq_summary():
    out = fiq_summary(
        {
            "dress": {"R@10": 40.0, "R@50": 70.0},
            "shirt": {"R@10": 50.0, "R@50": 72.0},
            "toptee": {"R@10": 60.0, "R@50": 80.0},
        }
    )
    assert out["R@10"] == pytest.approx(50.0) and out["R@50"] == pytest.approx(74.0)
    assert out["average"] == pytest.approx(62.0) and out["shirt/R@50"] == 72.0


def test_cirr_summary():
    ranks = np.asarray([0, 3, 7, 20, 60])
    sub = np.asarray([0, 0, 1, 2, 4])
    out = cirr_summary(ranks, sub)
    assert out["R@1"] == 20.0 and out["R@5"] == 40.0 and out["R@10"] == 60.0 and out["R@50"] == 80.0
    assert out["R_subset@1"] == 40.0 and out["R_subset@2"] == 60.0 and out["R_subset@3"] == 80.0
    assert out["average"] == pytest.approx(40.0)


def naive_preference(s1, s2, pref):
    num = den = 0
    for a, b, p in zip(s1, s2, pref):
        if a > b:
            den += 1
            num += p == 1
    return 100 * num / den, den


def test_preference_rate_matches_naive_and_ignores_ties_and_reversed_items():
    rng = np.random.default_rng(5)
    s1 = np.round(rng.random(200), 1)
    s2 = np.round(rng.random(200), 1)
    pref = rng.integers(1, 3, size=200)
    rate, n = preference_rate(s1, s2, pref)
    want_rate, want_n = naive_preference(s1, s2, pref)
    assert n == want_n and rate == pytest.approx(want_rate)
    assert n < 200 and (s1 == s2).any()  # ties and s2 > s1 items exist and were skipped
    assert math.isnan(preference_rate(np.zeros(3), np.ones(3), np.ones(3))[0])
