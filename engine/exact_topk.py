"""Top-k photos for a set of query vectors, from token hits, exactly.

FAISS returns the best *tokens*; photos are what is ranked. :func:`top_photos` asks for
``k'`` tokens per query vector, turns the hits into photo candidates, scores them, and
checks a bound: a photo with no token among the hits scores at most the mean over the
query vectors of the ``k'``-th token score. If the k-th best candidate is not below that
bound the answer is the exact top-k; otherwise ``k'`` grows fourfold and it asks again.

With one query vector on an exact index, a candidate's best token is always among the
hits, so its score is the max over its hits. With several query vectors ("similar"),
or on a compressed index, candidates are re-scored exactly from their stored tokens.
On a compressed index the bound itself is approximate: the answer is exact over the
candidates FAISS finds, and the recall of that is measured (``engine.index_kind``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .faiss_index import TokenIndex
from .ranking import aggregate_max, maxsim, rank
from .vector_store import Keep

# Token hits asked for per wanted photo, as a multiple of the exact case's 4: a compressed
# index's scores are approximate, so it gathers more candidates to re-rank.
OVERFETCH = {"sq8": 2, "ivfpq": 8}

ReadTokens = Callable[[np.ndarray], np.ndarray]  # (C,) photo ids -> (C, Q, E) tokens


def top_photos(
    index: TokenIndex,
    read_tokens: ReadTokens,
    queries: np.ndarray,
    k: int,
    keep: Keep | None = None,
    exclude: frozenset[int] = frozenset(),
    first_k: int = 0,
    max_rounds: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """(M, E) query vectors -> (ids, scores) of the k best photos, best first."""
    q = np.atleast_2d(np.asarray(queries, np.float32))  # (M, E)
    total = index.num_vectors
    if total == 0 or k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    kp = min(total, first_k or max(64, 4 * k * OVERFETCH.get(index.params.kind, 1)))
    ids = scores = np.zeros(0)
    for _ in range(max_rounds if index.params.exact else 2):
        s, i = index.search(q, kp)  # (M, kp), (M, kp)
        ids, scores = _score_candidates(index, read_tokens, q, s, i, keep, exclude)
        ids, scores = rank(ids, scores, k)
        complete = kp >= total
        bound = float(np.mean(s[:, -1]))
        if complete or (len(ids) == k and scores[-1] >= bound):
            break
        kp = min(total, kp * 4)
    return ids, scores


def _score_candidates(index, read_tokens, q, s, i, keep, exclude) -> tuple[np.ndarray, np.ndarray]:
    if len(q) == 1 and index.params.exact:
        ids, scores = aggregate_max(i, s)
    else:
        ids = np.unique(i[i >= 0])
        scores = maxsim(q, read_tokens(ids)) if len(ids) else np.zeros(0, np.float32)
    mask = np.ones(len(ids), bool)
    if exclude:
        mask &= ~np.isin(ids, np.fromiter(exclude, np.int64))
    if keep is not None and len(ids):
        mask &= keep(ids)
    return ids[mask], scores[mask]
