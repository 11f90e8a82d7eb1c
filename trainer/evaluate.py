"""Evaluation of a model on a split: rank each query's group corpus, then the metrics of
``trainer.metrics``, ranking dumps, and CIRR's test-server files.

- FashionIQ: per category R@10/R@50 over ``split.<cat>.<split>.json`` (QuRe's index),
  their means and the headline average. The reference is *not* removed (QuRe's FIQ
  evaluation keeps it), so dumped rankings may contain it.
- CIRR: the reference removed from every ranking; R@1/5/10/50; R_subset@1/2/3 over the
  ``img_set`` members; test1 has no labels: ``cirr_submission`` writes the two files.
- CIRCO: the reference kept, as CIRCO's own evaluation does; mAP@5/10/25/50 over every
  ground truth, R@5/10/25/50 of the target; test has no labels: ``circo_submission``
  writes the server's file.
- Demo world: when the data root holds the world's attributes file, relevance P@5 against
  every image that satisfies the query (``engine.world``'s relevance) and mAP@K against
  its exact matches, besides recall.

Ranking takes an ``Encoder`` (``ModelEncoder`` for a PyTorch model; a bundle's ONNX
graphs in ``trainer.bundle_eval``), so both are ranked and scored by the same code.
"""

from __future__ import annotations

import contextlib
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np
import torch

from .data.errors import DataError
from .data.images import ImageBank
from .data.queries import Queries
from .data.splits import CIRSplit
from .encode import encode_queries, encode_targets
from .metrics import (
    MAP_KS,
    circo_summary,
    cirr_summary,
    fiq_summary,
    map_at,
    recall_at,
    subset_ranks,
    target_ranks,
    top_k,
)
from .mining import chunked_scores
from .model import QuReModel

TOP_K = 50


@dataclass(frozen=True)
class EvalOptions:
    device: torch.device = torch.device("cpu")
    batch_size: int = 128
    chunk: int = 256
    amp: bool = False
    num_workers: int = 0
    top_k: int = TOP_K


@dataclass
class GroupRanking:
    group: str
    rows: np.ndarray  # (M_g,) query rows (split order)
    top: np.ndarray  # (M_g, k) bank ids, best first
    ranks: np.ndarray | None = None  # (M_g,) target ranks, when labelled
    sub_ranks: np.ndarray | None = None  # (M_g,) CIRR subset ranks
    sub_top: list[list[int]] = field(default_factory=list)  # CIRR: members (bank ids) best first


class Encoder(Protocol):
    """What ranking needs from a model: composed query vectors and target tokens."""

    def queries(
        self, bank: ImageBank, ref_ids: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> torch.Tensor:
        """(M, E) float32 composed queries: reference bank ids (M,), token ids and mask (M, L)."""
        ...

    def targets(self, bank: ImageBank, ids: np.ndarray) -> torch.Tensor:
        """(N, Q, E) float32 target tokens of the bank images ``ids``."""
        ...


@dataclass(frozen=True)
class ModelEncoder:
    """A ``QuReModel`` (in eval mode) as an ``Encoder``, batched as ``opt`` says."""

    model: QuReModel
    opt: EvalOptions

    def queries(
        self, bank: ImageBank, ref_ids: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> torch.Tensor:
        o = self.opt
        return encode_queries(
            self.model, bank, ref_ids, input_ids, attention_mask, o.device, o.batch_size, o.amp, o.num_workers
        )  # (M, E)

    def targets(self, bank: ImageBank, ids: np.ndarray) -> torch.Tensor:
        o = self.opt
        return encode_targets(self.model, bank, ids, o.device, o.batch_size, o.amp, o.num_workers)  # (N, Q, E)


@contextlib.contextmanager
def eval_mode(model: QuReModel) -> Iterator[None]:
    """The model in eval mode for the block, then back to the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def rank_split(
    model: QuReModel, split: CIRSplit, bank: ImageBank, queries: Queries, opt: EvalOptions
) -> list[GroupRanking]:
    """Score every query against its group's corpus, chunk by chunk."""
    with eval_mode(model):
        return rank_with(ModelEncoder(model, opt), split, bank, queries, opt)


def rank_with(
    encoder: Encoder, split: CIRSplit, bank: ImageBank, queries: Queries, opt: EvalOptions
) -> list[GroupRanking]:
    """``rank_split`` for any encoder (a model, a bundle's ONNX graphs)."""
    q_all = encoder.queries(bank, queries.ref, queries.input_ids, queries.attention_mask)  # (M, E)
    out = []
    for g, corpus in enumerate(queries.corpus_ids):
        rows = np.flatnonzero(queries.group == g)
        if len(rows):
            t = encoder.targets(bank, corpus)  # (N_g, Q, E)
            out.append(_rank_group(split, queries, corpus, rows, q_all, t, opt, g))
    return out


def _rank_group(split, queries, corpus, rows, q_all, t, opt, g) -> GroupRanking:
    cirr = split.dataset == "cirr"
    pos = {int(b): j for j, b in enumerate(corpus)}
    name_pos = {n: j for j, n in enumerate(split.corpus[queries.groups[g]])}  # same order as corpus
    ref_pos = np.asarray([pos.get(int(b), -1) for b in queries.ref[rows]])
    exclude = ref_pos if cirr else None
    labelled = bool((queries.target[rows] >= 0).all())
    tops, ranks, subs, sub_tops = [], [], [], []
    q = q_all[torch.as_tensor(rows, device=q_all.device)]
    for s, sc in chunked_scores(q, t, opt.chunk):
        sc = sc.float().cpu().numpy()  # (c, N_g)
        sl = slice(s, s + len(sc))
        ex = None if exclude is None else exclude[sl]
        tops.append(corpus[top_k(sc, opt.top_k, ex)])
        if labelled:
            ranks.append(target_ranks(sc, queries.target_pos[rows[sl]], ex))
        if cirr:
            members = [
                np.asarray([name_pos[n] for n in split.triplets[r].members if n in name_pos], dtype=np.int64)
                for r in rows[sl]
            ]
            if labelled:
                subs.append(subset_ranks(sc, queries.target_pos[rows[sl]], members, ex))
            for j, mem in enumerate(members):
                mem = mem[mem != ex[j]]
                order = mem[np.argsort(-sc[j, mem], kind="stable")] if len(mem) else mem
                sub_tops.append([int(corpus[p]) for p in order])
    return GroupRanking(
        group=queries.groups[g],
        rows=rows,
        top=np.concatenate(tops),
        ranks=np.concatenate(ranks) if labelled else None,
        sub_ranks=np.concatenate(subs) if (cirr and labelled) else None,
        sub_top=sub_tops,
    )


# --------------------------------------------------------------------------- metrics


def metrics_of(split: CIRSplit, rankings: list[GroupRanking], bank: ImageBank | None = None) -> dict[str, float]:
    """The dataset's metrics of labelled rankings ({} when unlabelled); CIRCO needs ``bank``."""
    if any(r.ranks is None for r in rankings):
        return {}
    if split.dataset == "cirr":
        r = rankings[0]
        return cirr_summary(r.ranks, r.sub_ranks)
    if split.dataset == "circo":
        if bank is None:
            raise ValueError("CIRCO's mAP@K needs the image bank")
        r = rankings[0]
        return circo_summary(r.ranks, r.top, [bank.indices(split.triplets[int(i)].ground_truth) for i in r.rows])
    per_cat = {r.group: {"R@10": recall_at(r.ranks, 10), "R@50": recall_at(r.ranks, 50)} for r in rankings}
    return fiq_summary(per_cat)


def evaluate_split(
    model: QuReModel, split: CIRSplit, bank: ImageBank, queries: Queries, opt: EvalOptions
) -> tuple[dict[str, float], list[GroupRanking]]:
    """Metrics of a labelled split (plus world relevance when available) and the rankings."""
    with eval_mode(model):
        return evaluate_with(ModelEncoder(model, opt), split, bank, queries, opt)


def evaluate_with(
    encoder: Encoder, split: CIRSplit, bank: ImageBank, queries: Queries, opt: EvalOptions
) -> tuple[dict[str, float], list[GroupRanking]]:
    """``evaluate_split`` for any encoder."""
    _check_index(split)
    rankings = rank_with(encoder, split, bank, queries, opt)
    return score_rankings(split, bank, rankings), rankings


def score_rankings(split: CIRSplit, bank: ImageBank, rankings: list[GroupRanking]) -> dict[str, float]:
    """``metrics_of`` plus, on the demo world, ``world_relevance``."""
    metrics = metrics_of(split, rankings, bank)
    metrics.update(world_relevance(split, bank, rankings))
    return metrics


def _check_index(split: CIRSplit) -> None:
    if split.missing_targets:
        raise DataError(
            f"{split.root}: {split.missing_targets} {split.split} target(s) are missing from the image split lists; "
            "recall over such an index is not comparable"
        )


def world_relevance(split: CIRSplit, bank: ImageBank, rankings: list[GroupRanking]) -> dict[str, float]:
    """On the demo world (a root with ``world.json`` and ``attributes.json``): relevance
    P@5 against every image that satisfies the query, and attribute agreement @10
    (``engine.world.metrics``; both drop the reference); mAP@5/10/25/50 (CIRCO's
    definition) against the query's exact matches, reference dropped likewise
    (``world_map``). Percentages. Empty elsewhere."""
    root = Path(split.root)
    if split.dataset != "fashioniq" or not (root / "world.json").is_file() or not (root / "attributes.json").is_file():
        return {}
    from engine.world import Query, mean_attribute_agreement_at_k, mean_precision_at_k

    attributes = _world_attributes(str(root), (root / "attributes.json").stat().st_mtime_ns)
    rows = np.concatenate([r.rows for r in rankings])
    tops = np.concatenate([r.top for r in rankings])
    names = [[bank.names[int(b)] for b in row] for row in tops]
    queries = [Query(split.triplets[int(i)].reference, str(split.triplets[int(i)].target)) for i in rows]
    return {
        "P@5": 100.0 * mean_precision_at_k(names, queries, attributes, k=5),
        "agree@10": 100.0 * mean_attribute_agreement_at_k(names, queries, attributes, k=10),
        **world_map(split, bank, rankings, attributes),
    }


def world_map(
    split: CIRSplit, bank: ImageBank, rankings: list[GroupRanking], attributes: dict, ks: tuple[int, ...] = MAP_KS
) -> dict[str, float]:
    """mAP@K on the demo world: a query's ground truths are the images of its group's
    corpus whose attributes equal the target's, the reference excepted (its exact
    matches: the target and its look-alike renders). The reference is dropped from the
    ranking, as for P@5, so a top-50 that held it leaves place 50 empty (a miss)."""
    ranked, truths = [], []
    for r in rankings:
        by_garment: dict[Any, list[str]] = {}
        for n in split.corpus[r.group]:
            by_garment.setdefault(attributes.get(n), []).append(n)
        for j, row in enumerate(r.rows):
            t = split.triplets[int(row)]
            ref = bank.index(t.reference)
            ranked.append([int(b) for b in r.top[j] if b != ref])
            truths.append(bank.indices([n for n in by_garment.get(attributes[t.target], []) if n != t.reference]))
    width = max((len(x) for x in ranked), default=0)
    padded = np.asarray([x + [-1] * (width - len(x)) for x in ranked], dtype=np.int64).reshape(len(ranked), width)
    return map_at(padded, truths, ks)


@functools.lru_cache(maxsize=4)
def _world_attributes(root: str, mtime_ns: int) -> dict:
    from engine.world import read_world

    return read_world(root).attributes


# --------------------------------------------------------------------------- outputs


def dump_rankings(out_dir: str | Path, bank: ImageBank, rankings: list[GroupRanking]) -> list[Path]:
    """OUT/<group>.json: a list aligned with the group's captions file, top-k names each."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for r in rankings:
        path = out_dir / f"{r.group}.json"
        path.write_text(json.dumps([[bank.names[int(b)] for b in row] for row in r.top]), encoding="utf-8")
        written.append(path)
    return written


def cirr_submission(split: CIRSplit, bank: ImageBank, rankings: list[GroupRanking]) -> tuple[dict, dict]:
    """The two CIRR test-server files: top-50 per pair_id (reference removed) and the
    top-3 of its img_set members (reference removed)."""
    if split.dataset != "cirr":
        raise ValueError("CIRR submission files need a CIRR split")
    recall: dict[str, Any] = {"version": "rc2", "metric": "recall"}
    subset: dict[str, Any] = {"version": "rc2", "metric": "recall_subset"}
    for r in rankings:
        for j, row in enumerate(r.rows):
            pid = str(split.triplets[int(row)].pair_id)
            recall[pid] = [bank.names[int(b)] for b in r.top[j][:50]]
            subset[pid] = [bank.names[int(b)] for b in r.sub_top[j][:3]]
    return recall, subset


def circo_submission(split: CIRSplit, bank: ImageBank, rankings: list[GroupRanking]) -> dict[str, list[int]]:
    """CIRCO's test-server file: {query id as a string: its top-50 COCO image ids (ints)}."""
    if split.dataset != "circo":
        raise ValueError("a CIRCO submission file needs a CIRCO split")
    out: dict[str, list[int]] = {}
    for r in rankings:
        for j, row in enumerate(r.rows):
            out[str(split.triplets[int(row)].pair_id)] = [int(bank.names[int(b)]) for b in r.top[j][:50]]
    return out
