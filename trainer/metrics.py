"""Retrieval metrics as pure functions of score arrays.

Ranking is the stable descending order of the scores: ties go to the image that comes
first in the corpus. A query's *rank* of its target is its 0-based position in that
order, after removing excluded images (CIRR removes the reference). Recall@K is the
percentage of queries whose target rank is below K.

- FashionIQ: R@10 and R@50 per category; ``fiq_summary`` adds the means over
  categories and the headline ``(mean R@10 + mean R@50) / 2``.
- CIRR: R@1/5/10/50 with the reference removed; R_subset@1/2/3 over the query's
  ``img_set`` members (reference removed); ``(R@5 + R_subset@1) / 2``.
- CIRCO (and the demo world): mAP@K over *every* correct image of a query, as CIRCO
  defines it: ``AP@K = sum_{k<=K} P@k * rel(k) / min(K, |G|)``, G the query's ground
  truths, P@k the precision of the top k, rel(k) whether the k-th result is in G.
- HP-FashionIQ: the preference rate P(set1 preferred | s_rel(set1) > s_rel(set2)),
  counting only items with s1 > s2, as QuRe's ``evaluate_preference_ratio`` does.
"""

from __future__ import annotations

from typing import Collection, Sequence

import numpy as np

MAP_KS = (5, 10, 25, 50)  # CIRCO's cut-offs


def _exclusion(scores: np.ndarray, exclude: np.ndarray | None) -> np.ndarray:
    """(M, N) bool, True where column j is excluded for row i (exclude: (M,) positions, -1 = none)."""
    mask = np.zeros(scores.shape, dtype=bool)
    if exclude is not None:
        rows = np.flatnonzero(np.asarray(exclude) >= 0)
        mask[rows, np.asarray(exclude)[rows]] = True
    return mask


def target_ranks(scores: np.ndarray, targets: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """scores (M, N), targets (M,) positions -> (M,) 0-based stable ranks of the targets."""
    scores = np.asarray(scores)
    targets = np.asarray(targets, dtype=np.int64)
    m, n = scores.shape
    st = scores[np.arange(m), targets][:, None]  # (M, 1)
    before = (scores > st) | ((scores == st) & (np.arange(n)[None, :] < targets[:, None]))  # (M, N)
    before &= ~_exclusion(scores, exclude)
    return before.sum(axis=1)


def recall_at(ranks: np.ndarray, k: int) -> float:
    """Percentage of ranks below k."""
    ranks = np.asarray(ranks)
    if len(ranks) == 0:
        return float("nan")
    return float((ranks < k).mean() * 100.0)


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """scores (M, N) -> (M, min(k, N')) positions, best first, stable, excluded columns dropped."""
    scores = np.asarray(scores, dtype=np.float64)
    masked = np.where(_exclusion(scores, exclude), -np.inf, scores)
    order = np.argsort(-masked, axis=1, kind="stable")  # (M, N)
    n_keep = scores.shape[1] - (0 if exclude is None else int((np.asarray(exclude) >= 0).any()))
    return order[:, : min(k, n_keep)]


def subset_ranks(
    scores: np.ndarray, targets: np.ndarray, members: Sequence[np.ndarray], exclude: np.ndarray | None = None
) -> np.ndarray:
    """Rank of each target among its row's ``members`` (corpus positions), excluding
    ``exclude[i]``; the same stable order as ``target_ranks`` restricted to the members."""
    out = np.empty(len(targets), dtype=np.int64)
    for i, (t, mem) in enumerate(zip(targets, members)):
        mem = np.asarray(mem, dtype=np.int64)
        if exclude is not None and exclude[i] >= 0:
            mem = mem[mem != exclude[i]]
        mem = mem[mem != t]
        s, st = scores[i, mem], scores[i, t]
        out[i] = int(((s > st) | ((s == st) & (mem < t))).sum())
    return out


def fiq_summary(per_category: dict[str, dict[str, float]]) -> dict[str, float]:
    """{cat: {"R@10", "R@50"}} -> flat dict with per-category values, means, and the headline."""
    out: dict[str, float] = {}
    for cat, r in per_category.items():
        out[f"{cat}/R@10"] = r["R@10"]
        out[f"{cat}/R@50"] = r["R@50"]
    r10 = float(np.mean([r["R@10"] for r in per_category.values()]))
    r50 = float(np.mean([r["R@50"] for r in per_category.values()]))
    out["R@10"], out["R@50"], out["average"] = r10, r50, (r10 + r50) / 2
    return out


def cirr_summary(ranks: np.ndarray, sub_ranks: np.ndarray) -> dict[str, float]:
    out = {f"R@{k}": recall_at(ranks, k) for k in (1, 5, 10, 50)}
    out.update({f"R_subset@{k}": recall_at(sub_ranks, k) for k in (1, 2, 3)})
    out["average"] = (out["R@5"] + out["R_subset@1"]) / 2
    return out


def preference_rate(s1: np.ndarray, s2: np.ndarray, preferred: np.ndarray) -> tuple[float, int]:
    """Percentage of items with s1 > s2 whose preferred set is 1, and how many items counted."""
    s1, s2, preferred = np.asarray(s1), np.asarray(s2), np.asarray(preferred)
    counted = s1 > s2
    n = int(counted.sum())
    if n == 0:
        return float("nan"), 0
    return float((preferred[counted] == 1).mean() * 100.0), n


def _hits(ranked: np.ndarray, ground_truth: Sequence[Collection[int]]) -> np.ndarray:
    """(M, L) bool: whether each ranked id (``-1`` = an empty place) is among its row's ground truths."""
    width = max((len(g) for g in ground_truth), default=0)
    gt = np.full((len(ground_truth), max(width, 1)), -1, dtype=np.int64)  # (M, G), -1 padded
    for i, g in enumerate(ground_truth):
        gt[i, : len(g)] = sorted(g)
    return (ranked[:, :, None] == gt[:, None, :]).any(axis=2) & (ranked >= 0)


def average_precision_at(ranked: np.ndarray, ground_truth: Sequence[Collection[int]], k: int) -> np.ndarray:
    """CIRCO's AP@K per query: ``sum_{j<=K} P@j * rel(j) / min(K, |G|)``.

    ranked (M, L) ids best first (``-1`` pads a short ranking; places past L count as
    misses), ground_truth: M sets of ids (not empty) -> (M,) in [0, 1]."""
    ranked = np.asarray(ranked, dtype=np.int64)
    sets = [set(int(x) for x in g) for g in ground_truth]
    if len(sets) != len(ranked):
        raise ValueError(f"{len(ranked)} rankings for {len(sets)} ground-truth sets")
    if any(not g for g in sets) or any(min(g) < 0 for g in sets):
        raise ValueError("every query needs at least one ground truth, with non-negative ids")
    hits = _hits(ranked, sets)[:, :k]  # (M, min(K, L))
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)  # (M, min(K, L)): P@j
    sizes = np.asarray([len(g) for g in sets], dtype=np.float64)
    return (precision * hits).sum(axis=1) / np.minimum(k, sizes)


def map_at(ranked: np.ndarray, ground_truth: Sequence[Collection[int]], ks: Sequence[int] = MAP_KS) -> dict[str, float]:
    """{"map@K": percentage} for each K: the mean over queries of ``average_precision_at``."""
    if len(ranked) == 0:
        return {f"map@{k}": float("nan") for k in ks}
    return {f"map@{k}": float(average_precision_at(ranked, ground_truth, k).mean() * 100.0) for k in ks}


def circo_summary(ranks: np.ndarray, ranked: np.ndarray, ground_truth: Sequence[Collection[int]]) -> dict[str, float]:
    """CIRCO: mAP@5/10/25/50 over every ground truth, R@5/10/25/50 of the target alone."""
    out = map_at(ranked, ground_truth, MAP_KS)
    out.update({f"R@{k}": recall_at(ranks, k) for k in MAP_KS})
    return out
