"""The index-kind policy: which FAISS index kind a library's photos get, and when an
index built earlier no longer fits (the one home of the memory-budget rule).

``VectorConfig.kind`` "auto" keeps ``fp16`` (exact on the stored tokens) while its memory
fits ``exact_budget_bytes``. Past that it measures recall@50
of ``ivfpq`` and then ``sq8`` against exact search on a sample of up to 20,000 of the
library's own photos, with queries made from their tokens (a random token of a random
photo plus noise, normalized), and takes the first that reaches ``recall_target``; if
none does, ``fp16`` (exact, over budget: slower to load, never wrong). ``ivfpq`` needs
``MIN_IVFPQ_TOKENS`` tokens to train on; with fewer, an exact index is used instead.

:func:`choose_params` picks the kind for a rebuild; :func:`kind_outdated` says, on
open, why a saved index's kind no longer fits (``engine.faiss_store`` rebuilds then).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .exact_topk import top_photos
from .faiss_index import IndexParams, TokenIndex
from .ranking import recall_at_k

if TYPE_CHECKING:
    from .token_file import TokenStore

SAMPLE_PHOTOS = 20_000
MIN_IVFPQ_TOKENS = 39 * 256  # FAISS wants ~39 training points per centroid; PQ has 256 per sub-space


@dataclass(frozen=True)
class VectorConfig:
    kind: str = "auto"  # "auto" (exact unless too big, then measured), or one of faiss_index.KINDS
    exact_budget_bytes: int = 4 << 30  # auto: exact while its index fits in this much RAM
    recall_target: float = 0.95  # auto: recall@50 a compressed index must reach after re-ranking


def fits_exact(cfg: VectorConfig, num_photos: int, num_tokens: int, dim: int) -> bool:
    """The memory-budget rule: an exact (fp16) index of ``num_photos`` fits ``exact_budget_bytes``."""
    return num_photos * num_tokens * dim * 2 <= cfg.exact_budget_bytes


def choose_params(cfg: VectorConfig, store: "TokenStore", live: np.ndarray, num_tokens: int, dim: int) -> IndexParams:
    if cfg.kind != "auto":
        return IndexParams(cfg.kind)
    if fits_exact(cfg, len(live), num_tokens, dim):
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


def trainable_params(params: IndexParams, num_photos: int, num_tokens: int) -> tuple[IndexParams, str | None]:
    """``params``, or an exact kind (and why) when ``ivfpq`` has too few tokens to train on."""
    if params.kind == "ivfpq" and num_photos * num_tokens < MIN_IVFPQ_TOKENS:
        return IndexParams("fp16"), "too few photos for ivfpq, exact index used"
    return params, None


def kind_outdated(cfg: VectorConfig, index: TokenIndex, num_tokens: int, dim: int) -> str | None:
    """Why ``index``'s kind no longer fits the configuration or the library's size, if it does not."""
    kind, params = index.params.kind, index.params
    if cfg.kind != "auto":
        too_small = cfg.kind == "ivfpq" and kind == "fp16" and index.num_vectors < MIN_IVFPQ_TOKENS
        return None if kind == cfg.kind or too_small else f"index kind changed to {cfg.kind}"
    fits = fits_exact(cfg, index.num_photos, num_tokens, dim)
    if params.exact and not fits and not params.measured:
        return "the library outgrew the memory budget of an exact index"
    if not params.exact and fits:
        return "the library is small enough for an exact index again"
    return None


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
