"""Choosing the index kind: exact while it fits, else the smallest compressed kind whose
measured recall (after exact re-ranking) reaches the target.

"auto" keeps ``fp16`` (exact on the stored tokens) while its memory fits
``exact_budget_bytes``. Past that it measures recall@50
of ``ivfpq`` and then ``sq8`` against exact search on a sample of up to 20,000 of the
library's own photos, with queries made from their tokens (a random token of a random
photo plus noise, normalized), and takes the first that reaches ``recall_target``; if
none does, ``fp16`` (exact, over budget: slower to load, never wrong).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .ranking import recall_at_k
from .search import top_photos
from .vectors import IndexParams, TokenIndex

if TYPE_CHECKING:
    from .photoindex import VectorConfig
    from .store import TokenStore

SAMPLE_PHOTOS = 20_000
MIN_IVFPQ_TOKENS = 39 * 256  # FAISS wants ~39 training points per centroid; PQ has 256 per sub-space


def choose_params(cfg: "VectorConfig", store: "TokenStore", live: np.ndarray, num_tokens: int, dim: int) -> IndexParams:
    if cfg.kind != "auto":
        return IndexParams(cfg.kind)
    if len(live) * num_tokens * dim * 2 <= cfg.exact_budget_bytes:
        return IndexParams("fp16")
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(live, size=min(len(live), SAMPLE_PHOTOS), replace=False))
    tokens = store.read(pick)  # (n, Q, E)
    queries = make_queries(tokens, 32, rng)
    candidates = [IndexParams("ivfpq")] if tokens.shape[0] * num_tokens >= MIN_IVFPQ_TOKENS else []
    for params in candidates + [IndexParams("sq8")]:
        if measure_recall(params, tokens, queries, k=50) >= cfg.recall_target:
            return params
    return IndexParams("fp16", measured=True)


def make_queries(tokens: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.5) -> np.ndarray:
    """(N, Q, E) photo tokens -> (n, E) unit query vectors near random library tokens."""
    photos = rng.integers(0, len(tokens), n)
    which = rng.integers(0, tokens.shape[1], n)
    q = tokens[photos, which] + noise * rng.standard_normal((n, tokens.shape[2])) / np.sqrt(tokens.shape[2])
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)  # (n, E)


def measure_recall(params: IndexParams, tokens: np.ndarray, queries: np.ndarray, k: int = 50) -> float:
    """Mean recall@k of ``params`` (with exact re-ranking) against exact search over ``tokens``."""
    n, q, e = tokens.shape
    ids = np.arange(n, dtype=np.int64)
    read = lambda c: tokens[c]  # noqa: E731 - candidates' exact tokens
    exact = TokenIndex(e, q, IndexParams("flat"))
    exact.add(ids, tokens)
    approx = TokenIndex(e, q, params)
    if not approx.is_trained:
        approx.train(tokens.reshape(-1, e))
    approx.add(ids, tokens)
    recalls = []
    for v in queries:
        want, _ = top_photos(exact, read, v[None], k)
        got, _ = top_photos(approx, read, v[None], k)
        recalls.append(recall_at_k(want, got, k))
    return float(np.mean(recalls))
