"""The cached query path of a bundle: ``query_kv.onnx`` and ``query_cached.onnx``.

Of the query graph's work, the cross-attention keys and values over the reference's
vision features depend on the reference alone (at ``vitl``: 6 layers, about 4.8 of the
query graph's 16.5 GFLOP). ``query_kv`` computes them once per reference; the engine
keeps them and runs ``query_cached`` on each edit of the text, at the text's real length
(its token axis is dynamic: padding is masked out, so trimming it changes nothing).

Both belong to the query side: their weights are the query path's Q-Former (the
cross-attention key and value projections are Q-Former weights), so a personalized
bundle carries its own pair. ``trainer.export`` writes them beside ``query.onnx`` and
checks the chain against the full PyTorch query at a trimmed text length.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np
import torch
from torch import nn

CACHED_GRAPHS = ("query_kv", "query_cached")
# Max abs difference ORT vs PyTorch: the keys and values are not normalized (as vision features).
TOLERANCE = {"query_kv": 1e-3, "query_cached": 1e-4}
TOLERANCE_FP16 = {"query_kv": 0.15, "query_cached": 2e-2}
# The text axis of query_cached is dynamic: the engine feeds the text at its real length.
TEXT_AXES = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}


class QueryPath(Protocol):
    """A :class:`QuReModel` or a :class:`QuerySide`."""

    def query_from_features(self, feats: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...
    def query_cross_kv(self, feats: torch.Tensor) -> torch.Tensor: ...
    def query_from_cross_kv(self, kv: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...


class QueryKV(nn.Module):
    def __init__(self, m: QueryPath):
        super().__init__()
        self.m = m

    def forward(self, vision_feats: torch.Tensor) -> torch.Tensor:
        return self.m.query_cross_kv(vision_feats)  # (B, C, 2, h, T, d)


class QueryCached(nn.Module):
    def __init__(self, m: QueryPath):
        super().__init__()
        self.m = m

    def forward(self, cross_kv: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.m.query_from_cross_kv(cross_kv, input_ids, attention_mask)  # (B, E)


def trimmed(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the padding columns no row of the batch uses: (B, L) -> (B, L')."""
    n = max(1, int(mask.any(dim=0).nonzero().max()) + 1) if bool(mask.any()) else 1
    return ids[:, :n], mask[:, :n]


def check_cached_path(
    model: QueryPath, kv_path, cached_path, inputs: tuple[torch.Tensor, ...], session: Callable
) -> float:
    """Max abs difference between ORT's ``query_kv`` -> ``query_cached`` chain, fed the text
    trimmed to the longest in the batch, and PyTorch's full query on the padded text.
    ``inputs``: vision features (B, T, Dv), token ids and mask (B, L); the texts are cut to
    at most L/2 tokens first, so the chain runs at another length than it was exported at."""
    feats, ids, mask = inputs
    mask = mask * (torch.arange(mask.shape[1]) < max(2, mask.shape[1] // 2))  # (B, L)
    ids = ids * mask
    (kv,) = session(kv_path).run(["cross_kv"], {"vision_feats": feats.numpy()})
    short_ids, short_mask = trimmed(ids, mask)
    (got,) = session(cached_path).run(
        ["query_embed"], {"cross_kv": kv, "input_ids": short_ids.numpy(), "attention_mask": short_mask.numpy()}
    )
    with torch.no_grad():
        want = model.query_from_features(feats, ids, mask).float().numpy()  # (B, E)
    if got.shape != want.shape:
        return float("inf")
    return float(np.abs(got - want).max())
