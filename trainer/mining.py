"""Mining: encode the corpus with the current model, score the queries in chunks, and
build the ``NegativeTable`` the training Dataset draws from.

Memory stays bounded: scores are computed ``chunk`` queries at a time against one
group's corpus tokens, so the largest temporary is (chunk, N_g, Q) floats, not
QuRe's (M, N, Q) (61 GB for CIRR). Each chunk goes to the CPU, where the pure
samplers of ``trainer.negatives`` turn every row into a negative set.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from .data.images import ImageBank
from .data.queries import Queries
from .encode import encode_queries, encode_targets
from .model import QuReModel
from .negatives import NegativeSet, NegativeTable, above_target, qure_hard_set, rank_descending, trns_mid_zone

METHODS = ("qure", "trns", "above")


@dataclass(frozen=True)
class MiningConfig:
    method: str = "qure"
    consecutive_threshold: int = 1  # QuRe's configs
    window: int | None = None  # limit QuRe's drop search to W items after the target (off = paper)
    fallback_k: int = 10
    trns_lo: float = 5
    trns_hi: float = 30
    trns_mode: str = "rank"
    fn_sim: float = 0.9  # above: images at least this alike to the target are kept out
    chunk: int = 256  # queries scored at once
    batch_size: int = 128  # images/queries encoded at once

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown mining method {self.method!r}; choose one of {METHODS}")
        if self.chunk < 1:
            raise ValueError("chunk must be at least 1")


def sampler_for(cfg: MiningConfig, tokens: torch.Tensor | None = None) -> Callable[[np.ndarray, int], NegativeSet]:
    """The per-query sampler; ``tokens`` (N, Q, E): the group's target tokens (``above`` needs them)."""
    if cfg.method == "qure":
        return lambda s, t: qure_hard_set(
            s, t, consecutive_threshold=cfg.consecutive_threshold, window=cfg.window, fallback_k=cfg.fallback_k
        )
    if cfg.method == "above":
        if tokens is None:
            raise ValueError("the above sampler needs the corpus's target tokens")
        return lambda s, t: above_target(s, t, image_sim=_similarity_above(tokens, s, t), fn_sim=cfg.fn_sim,
                                         fallback_k=cfg.fallback_k)
    return lambda s, t: trns_mid_zone(
        s, t, lo=cfg.trns_lo, hi=cfg.trns_hi, mode=cfg.trns_mode, fallback_k=cfg.fallback_k
    )


def image_similarity(tokens: torch.Tensor, target: int, candidates: np.ndarray) -> np.ndarray:
    """(len(candidates),): max over token pairs of <t_target,a, t_i,b>, the model's own
    measure of how alike two images are."""
    t = tokens[target].float()  # (Q, E)
    c = tokens[torch.as_tensor(candidates, dtype=torch.long, device=tokens.device)].float()  # (C, Q, E)
    return torch.einsum("ae,cbe->cab", t, c).flatten(1).amax(1).cpu().numpy()


def _similarity_above(tokens: torch.Tensor, scores: np.ndarray, target: int) -> np.ndarray:
    """Image similarity to the target for the images ranked above it (elsewhere +inf: unused)."""
    order = rank_descending(scores)
    above = order[: int(np.flatnonzero(order == target)[0])]
    sim = np.full(len(scores), np.inf, dtype=np.float32)
    if len(above):
        sim[above] = image_similarity(tokens, target, above)
    return sim


def chunked_scores(q: torch.Tensor, t: torch.Tensor, chunk: int) -> Iterator[tuple[int, torch.Tensor]]:
    """q (M, E), t (N, Q, E) -> (start, scores (c, N)) for consecutive chunks of queries.

    ``score(q, t)`` (max over tokens of the dot product) as one matrix product per chunk.
    The (chunk, N*Q) product and the (chunk, N) scores live in buffers allocated once:
    fresh blocks per chunk fragmented glibc's heap and grew the process by one block per
    chunk. So a yielded tensor is overwritten by the next chunk: use or copy it first."""
    n, nq, e = t.shape
    flat = t.reshape(n * nq, e)  # (N*Q, E), a view when t is contiguous
    rows = min(chunk, q.shape[0])
    dtype = torch.result_type(q, t)
    prod_buf = torch.empty(rows, n * nq, dtype=dtype, device=t.device)  # (chunk, N*Q)
    score_buf = torch.empty(rows, n, dtype=dtype, device=t.device)  # (chunk, N)
    for s in range(0, q.shape[0], chunk):
        qc = q[s : s + chunk]  # (c, E)
        c = len(qc)
        prod = torch.mm(qc, flat.T, out=prod_buf[:c])  # (c, N*Q)
        yield s, torch.amax(prod.view(c, n, nq), dim=-1, out=score_buf[:c])  # (c, N)


def _rows(tokens: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
    """tokens[idx], as a view (no copy of the corpus tokens) when idx is a contiguous run."""
    if len(idx) and (np.diff(idx) == 1).all():
        return tokens[int(idx[0]) : int(idx[0]) + len(idx)]
    return tokens[torch.as_tensor(idx, device=tokens.device)]


def build_table(
    q: torch.Tensor,
    tokens: torch.Tensor,
    token_rows: np.ndarray,
    queries: Queries,
    cfg: MiningConfig,
    image_names: list[str],
    meta: dict | None = None,
) -> NegativeTable:
    """Negative sets of every query from its scores against its group's corpus.

    q (M, E) query vectors; tokens (U, Q, E) target tokens of the images ``token_rows``
    (bank ids, (U,)), which must cover every group's corpus.
    """
    row_of = {int(b): i for i, b in enumerate(token_rows)}
    sets: list[np.ndarray | None] = [None] * len(queries)
    ranks = np.zeros(len(queries), dtype=np.int64)
    fallback = np.zeros(len(queries), dtype=bool)
    for g, corpus in enumerate(queries.corpus_ids):
        rows = np.flatnonzero(queries.group == g)
        if not len(rows):
            continue
        t_g = _rows(tokens, np.asarray([row_of[int(b)] for b in corpus]))  # (N_g, Q, E)
        q_g = q[torch.as_tensor(rows, device=q.device)]  # (M_g, E)
        sampler = sampler_for(cfg, t_g)
        for s, sc in chunked_scores(q_g, t_g, cfg.chunk):
            sc = sc.float().cpu().numpy()  # (c, N_g)
            for j, row in enumerate(rows[s : s + len(sc)]):
                ns = sampler(sc[j], int(queries.target_pos[row]))
                sets[row] = corpus[ns.positions]
                ranks[row], fallback[row] = ns.target_rank, ns.fallback
    full_meta = {"mining": asdict(cfg), **(meta or {})}
    return NegativeTable.from_sets(sets, ranks, fallback, image_names, full_meta)  # type: ignore[arg-type]


def mine(
    model: QuReModel,
    bank: ImageBank,
    queries: Queries,
    cfg: MiningConfig,
    device: torch.device,
    amp: bool = False,
    num_workers: int = 0,
    meta: dict | None = None,
) -> NegativeTable:
    """Encode with ``model`` (put in eval mode for the duration) and build the table."""
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    try:
        # encoded group by group in corpus order, so each group's tokens are a view
        rows = np.concatenate(queries.corpus_ids)
        if len(np.unique(rows)) != len(rows):
            rows = np.unique(rows)  # groups share images: encode each once
        tokens = encode_targets(model, bank, rows, device, cfg.batch_size, amp, num_workers)  # (U, Q, E)
        q = encode_queries(
            model,
            bank,
            queries.ref,
            queries.input_ids,
            queries.attention_mask,
            device,
            cfg.batch_size,
            amp,
            num_workers,
        )  # (M, E)
        t1 = time.perf_counter()
        table = build_table(q, tokens, rows, queries, cfg, bank.names, meta)
    finally:
        model.train(was_training)
    table.meta["seconds"] = {"encode": round(t1 - t0, 3), "sets": round(time.perf_counter() - t1, 3)}
    return table
