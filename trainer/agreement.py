"""How far int8 outputs of a bundle's graphs are from float32 ones (``trainer.quantize``):
pure functions of arrays.

The ranking is the engine's: ``max_k <q, t_k>`` over a photo's target tokens, the query's
reference left out. Top-10 overlap is the share of float32's first ten that the other
ranking also puts in its first ten.
"""

from __future__ import annotations

import numpy as np

TOP_K = 10


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine along the last axis."""
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return num / np.maximum(den, 1e-12)


def top_k(queries: np.ndarray, tokens: np.ndarray, refs: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """(M, E) queries, (N, Q, E) target tokens -> (M, k) indices of the best images by
    ``max_k <q, t_k>``, each query's reference left out."""
    scores = np.einsum("me,nqe->mnq", queries, tokens).max(-1)  # (M, N)
    scores[np.arange(len(refs)), refs] = -np.inf
    k = min(k, tokens.shape[0] - 1)
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of ``a``'s top-k (rows) found in ``b``'s."""
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a.tolist(), b.tolist())]))


def agreement(fp32: dict[str, np.ndarray], int8: dict[str, np.ndarray], refs: np.ndarray) -> dict[str, float]:
    """Figures of int8 outputs against float32 ones: ``target`` (N, Q, E) tokens, ``query`` (M, E)
    vectors, and where the bundle has them ``text`` (M, E) and ``query_cached`` (M, E: the
    keystroke path, what a search runs when the bundle has it; compared with float32 ``query``)."""
    t32, t8 = fp32["target"], int8["target"]
    tc = cosine(t32, t8).mean(-1)  # (N,) per image, mean over its tokens
    out = {"target_cosine": float(tc.mean()), "target_cosine_min": float(tc.min())}
    for name in ("query", "query_cached", "text"):
        if name in int8:
            c = cosine(fp32["text" if name == "text" else "query"], int8[name])  # (M,)
            out |= {f"{name}_cosine": float(c.mean()), f"{name}_cosine_min": float(c.min())}
    want = top_k(fp32["query"], t32, refs)
    searched = int8.get("query_cached", int8["query"])
    mixed = np.where((np.arange(len(t32)) % 2 == 0)[:, None, None], t32, t8)  # half the photos in each
    for name, tokens in (("int8_index", t8), ("fp32_index", t32), ("mixed_index", mixed)):
        out[f"overlap_{name}"] = overlap(want, top_k(searched, tokens, refs))
    return out
