"""Pure ranking functions over arrays: aggregation, multi-vector scores, the cut-off, recall.

Scores:

- composed and text search: ``score(photo) = max_k <q, t_k>`` over the photo's Q target
  tokens (QuRe's relevance).
- "similar" (image only): ``score(photo) = mean_i max_k <r_i, t_k>``, where ``r_i`` are
  the reference photo's own target tokens: each reference token finds its best match
  in the photo, and the matches are averaged (ColBERT-style MaxSim). A photo compared
  with itself scores 1.

Both are :func:`maxsim` with M = 1 or M = Q query vectors. Ties are broken by photo id,
ascending, so every ranking is deterministic.
"""

from __future__ import annotations

import numpy as np


def maxsim(queries: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """(M, E) queries and (C, Q, E) photo tokens -> (C,) mean over M of max over Q."""
    if len(tokens) == 0:
        return np.zeros(0, np.float32)
    sims = np.einsum("me,cqe->cmq", queries.astype(np.float32), tokens.astype(np.float32))  # (C, M, Q)
    return sims.max(axis=2).mean(axis=1).astype(np.float32)  # (C,)


def aggregate_max(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Token hits (ids, scores) -> one (id, max score) per distinct id >= 0, ranked."""
    ids = np.asarray(ids, np.int64).ravel()
    scores = np.asarray(scores, np.float32).ravel()
    keep = ids >= 0
    ids, scores = ids[keep], scores[keep]
    if len(ids) == 0:
        return ids, scores
    order = np.lexsort((-scores, ids))  # by id, best score first within an id
    ids, scores = ids[order], scores[order]
    first = np.ones(len(ids), bool)
    first[1:] = ids[1:] != ids[:-1]
    return rank(ids[first], scores[first])


def rank(ids: np.ndarray, scores: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sort by score descending, then id ascending; keep the first ``k``."""
    ids = np.asarray(ids, np.int64)
    scores = np.asarray(scores, np.float32)
    order = np.lexsort((ids, -scores))
    if k is not None:
        order = order[:k]
    return ids[order], scores[order]


def relevance_cutoff(scores: np.ndarray, factor: float = 3.0, min_gap: float = 0.01) -> int:
    """How many results lie above the first steep drop in a ranked list of scores.

    With ``d_i = s_i - s_{i+1}`` the gaps of the descending scores, the first steep drop
    is the first ``i`` with ``d_i >= factor * median(d)`` and ``d_i >= min_gap``; the
    cut-off is then ``i + 1`` (results ``[0, i]`` are above it). With no such gap (or
    fewer than three results) every result is above the cut-off. ``min_gap`` keeps ties
    and float noise from counting as drops; scores are cosines, so 0.01 is small.
    """
    s = np.asarray(scores, np.float64).ravel()
    if len(s) < 3:
        return len(s)
    if np.any(np.diff(s) > 1e-6):
        raise ValueError("scores must be sorted best first")
    gaps = s[:-1] - s[1:]  # (n - 1,), >= 0
    threshold = max(factor * float(np.median(gaps)), min_gap)
    steep = np.nonzero(gaps >= threshold)[0]
    return int(steep[0]) + 1 if len(steep) else len(s)


def recall_at_k(exact_ids: np.ndarray, approx_ids: np.ndarray, k: int) -> float:
    """Share of the exact top-k found in the approximate top-k (set overlap / k)."""
    want = set(np.asarray(exact_ids)[:k].tolist())
    if not want:
        return 1.0
    return len(want & set(np.asarray(approx_ids)[:k].tolist())) / len(want)


def ranking_error(ids, scores, all_ids, all_scores, k: int, atol: float = 1e-5) -> str | None:
    """Check a top-k answer against the true scores of every candidate, tie-aware.

    ``(all_ids, all_scores)`` is the brute-force oracle over the whole collection. The
    answer is right when it has ``min(k, n)`` distinct ids, each reported score equals
    that id's true score, and the reported scores equal the true top-k scores position
    by position (all within ``atol``). Ids tied in score may come in any order. Returns
    ``None`` when right, else what is wrong.
    """
    ids = np.asarray(ids, np.int64)
    scores = np.asarray(scores, np.float64)
    truth = dict(zip(np.asarray(all_ids, np.int64).tolist(), np.asarray(all_scores, np.float64).tolist()))
    want_n = min(k, len(truth))
    if len(ids) != want_n:
        return f"{len(ids)} results, expected {want_n}"
    if len(set(ids.tolist())) != len(ids):
        return "an id is returned twice"
    for i, s in zip(ids.tolist(), scores.tolist()):
        if i not in truth:
            return f"id {i} is not in the collection"
        if abs(truth[i] - s) > atol:
            return f"id {i} reported with score {s:.6f}, true score {truth[i]:.6f}"
    best = np.sort(np.asarray(list(truth.values())))[::-1][:want_n]
    bad = np.nonzero(np.abs(best - scores) > atol)[0]
    if len(bad):
        j = int(bad[0])
        return f"rank {j} has score {scores[j]:.6f}, the true rank-{j} score is {best[j]:.6f}"
    return None
