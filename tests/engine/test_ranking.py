"""Pure ranking functions: table-driven, each against a naive oracle where one exists."""

from __future__ import annotations

import numpy as np
import pytest

from engine.ranking import aggregate_max, maxsim, rank, ranking_error, recall_at_k, relevance_cutoff


@pytest.mark.parametrize(
    "scores, expected",
    [
        ([], 0),
        ([0.9], 1),
        ([0.9, 0.1], 2),  # fewer than three scores: no cut
        ([0.9, 0.5, 0.49, 0.48, 0.47], 1),  # one clear winner
        ([0.9, 0.89, 0.88, 0.5, 0.49, 0.48, 0.47], 3),  # three above a cliff
        ([0.5, 0.49, 0.48, 0.47, 0.46, 0.45], 6),  # evenly spaced: no steep drop
        ([0.5, 0.5, 0.5, 0.5], 4),  # all tied: ties are not drops
        ([0.5, 0.5, 0.5, 0.2, 0.2], 3),  # a drop after ties (median gap 0 -> min_gap decides)
        ([0.30, 0.295, 0.29, 0.285, 0.28, 0.2795], 6),  # tiny gaps only, below min_gap
        ([0.9, 0.6, 0.59, 0.3, 0.29, 0.28], 1),  # the *first* of two drops
        ([0.8, 0.79, 0.6, 0.59, 0.58, 0.2], 2),  # first drop wins over a larger later one
    ],
)
def test_relevance_cutoff_table(scores, expected):
    assert relevance_cutoff(np.asarray(scores)) == expected


def test_relevance_cutoff_parameters_change_the_answer():
    s = np.asarray([0.9, 0.8, 0.75, 0.7, 0.65, 0.6])
    assert relevance_cutoff(s) == 6  # first gap 0.1 is twice the median 0.05: not steep at factor 3
    assert relevance_cutoff(s, factor=1.5) == 1
    assert relevance_cutoff(np.asarray([0.5, 0.495, 0.3, 0.29]), min_gap=0.5) == 4


def test_relevance_cutoff_rejects_unsorted():
    with pytest.raises(ValueError):
        relevance_cutoff(np.asarray([0.1, 0.5, 0.2]))


def _naive_aggregate(ids, scores):
    best: dict[int, float] = {}
    for i, s in zip(ids, scores):
        if i >= 0:
            best[i] = max(best.get(i, -np.inf), s)
    return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))


@pytest.mark.parametrize("seed", range(5))
def test_aggregate_max_matches_naive(seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(-1, 20, size=(3, 40))
    scores = np.round(rng.random((3, 40)), 2).astype(np.float32)  # rounding makes ties
    got_ids, got_scores = aggregate_max(ids, scores)
    want = _naive_aggregate(ids.ravel().tolist(), scores.ravel().tolist())
    assert got_ids.tolist() == [i for i, _ in want]
    np.testing.assert_allclose(got_scores, [s for _, s in want])


def test_rank_breaks_ties_by_id():
    ids, scores = rank(np.array([5, 3, 9, 1]), np.array([0.5, 0.7, 0.5, 0.7]))
    assert ids.tolist() == [1, 3, 5, 9]
    ids, _ = rank(np.array([5, 3, 9, 1]), np.array([0.5, 0.7, 0.5, 0.7]), k=3)
    assert ids.tolist() == [1, 3, 5]


def test_maxsim_matches_loops():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((3, 8)).astype(np.float32)
    t = rng.standard_normal((5, 4, 8)).astype(np.float32)
    want = [np.mean([max(float(qi @ tk) for tk in t[c]) for qi in q]) for c in range(5)]
    np.testing.assert_allclose(maxsim(q, t), want, rtol=1e-5)
    assert maxsim(q, t[:0]).shape == (0,)


@pytest.mark.parametrize(
    "exact, approx, k, expected",
    [([1, 2, 3, 4], [1, 2, 3, 4], 4, 1.0), ([1, 2, 3, 4], [4, 3, 9, 8], 4, 0.5), ([1, 2], [3, 4], 2, 0.0),
     ([1, 2, 3], [1, 9, 2], 2, 0.5), ([], [], 5, 1.0)],
)
def test_recall_at_k(exact, approx, k, expected):
    assert recall_at_k(np.asarray(exact), np.asarray(approx), k) == expected


def test_ranking_error_is_tie_aware_and_catches_mistakes():
    all_ids = np.arange(6)
    all_scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1, 0.7])
    assert ranking_error([0, 5, 1], [0.9, 0.7, 0.5], all_ids, all_scores, 3) is None
    assert ranking_error([0, 5, 3], [0.9, 0.7, 0.5], all_ids, all_scores, 3) is None  # any of the tied ids
    assert "score" in ranking_error([0, 5, 4], [0.9, 0.7, 0.5], all_ids, all_scores, 3)  # wrong reported score
    assert "rank 2" in ranking_error([0, 5, 4], [0.9, 0.7, 0.1], all_ids, all_scores, 3)  # missed a better one
    assert "twice" in ranking_error([0, 0, 5], [0.9, 0.9, 0.7], all_ids, all_scores, 3)
    assert "results" in ranking_error([0, 5], [0.9, 0.7], all_ids, all_scores, 3)
