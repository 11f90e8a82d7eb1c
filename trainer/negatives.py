"""Negative samplers: pure functions of score arrays, randomness from an explicit generator.

Per query, a sampler sees the relevance scores of its group's corpus (1-D, corpus
order) and the target's position in it, and returns the *positions* of the query's
negative set. ``NegativeTable`` stores every query's set (as bank ids); one negative
per query per epoch is then drawn uniformly from it.

Ranking is ``rank_descending``: a *stable* sort of the negated scores, so ties keep
corpus order (QuRe's ``np.argsort`` is quicksort and breaks ties arbitrarily).

QuRe (``qure_hard_set``, cir-methods.md 1.4):
  sort the corpus by score; ``a`` = scores strictly after the target; ``d = diff(a)``;
  rank the drops steepest first (stable); walk *adjacent pairs in that ranking*
  ``(o[0], o[1]), (o[1], o[2]), ...`` and take the first with ``k2 - k1 >
  consecutive_threshold`` (k1 < k2); the hard set is sorted positions
  ``[start + k1 + 1, start + k2]`` inclusive (start = target rank + 1).
  ``window`` (optional, default off = the paper) limits ``a`` to its first W items.
  When no pair qualifies (fewer than 4 items after the target, or drops whose ranking
  walks the positions monotonically) the query gets the *fallback* set: the first
  ``fallback_k`` items after the target, or, if the target ranks last, the whole
  corpus minus the target. (QuRe's code silently reused the previous query's window.)

TRNS (``trns_mid_zone``, DQE-CIR): delta = s_target - s_candidate; the mid-zone is the
``lo``-th to ``hi``-th candidates after the target (1-based, inclusive) in ``"rank"``
mode, i.e. the candidates whose delta ranks lo..hi among the positive deltas, or the
candidates with ``lo <= delta <= hi`` in ``"delta"`` mode. Defaults 5..30 (the trial's
ranks; the paper's bounds are not public). An empty zone falls back as above.

Above the target (``above_target``, this project's candidate, not from a paper): the images
the model ranks *above* the target, which are what recall and relevance at the top are
decided by, minus the ones the model itself sees as near-copies of the target image (image
similarity ``max_{a,b} <t_target,a, t_i,b>`` at least ``fn_sim``): those are likely further
right answers (false negatives), not mistakes. No labels are read. A target ranked first,
or one whose above-set is all near-copies, falls back as above.

Schedule (QuRe): period = floor(epochs / n_def) (at least 1); with warm-up, epochs
``0 .. period-1`` draw uniformly from corpus minus target, and the sets are recomputed
at epochs ``period, 2 period, ...``; without warm-up also at epoch 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.atomic import atomic_write

TRNS_MODES = ("rank", "delta")


# --------------------------------------------------------------------------- schedule


def mining_period(epochs: int, n_def: int = 6) -> int:
    """floor(epochs / n_def), guarded to at least 1 (QuRe divides by zero when epochs < n_def)."""
    if epochs < 1 or n_def < 1:
        raise ValueError(f"epochs ({epochs}) and n_def ({n_def}) must be positive")
    return max(1, epochs // n_def)


def is_mining_epoch(epoch: int, epochs: int, n_def: int = 6, warmup: bool = True) -> bool:
    """Whether the negative sets are (re)computed at the start of 0-based ``epoch``."""
    return epoch % mining_period(epochs, n_def) == 0 and (epoch != 0 or not warmup)


# --------------------------------------------------------------------------- per-query sets


@dataclass(frozen=True)
class NegativeSet:
    positions: np.ndarray  # corpus positions of the negatives (int64, non-empty)
    target_rank: int  # 0-based rank of the target in the stable descending order
    fallback: bool  # True when the method's rule found no set and the fallback was used


def rank_descending(scores: np.ndarray) -> np.ndarray:
    """Corpus positions from highest to lowest score; ties keep corpus order."""
    return np.argsort(-np.asarray(scores), kind="stable")


def steepest_drop_pair(after: np.ndarray, consecutive_threshold: int = 1) -> tuple[int, int] | None:
    """QuRe's choice of two drops in the scores ``after`` the target, or None.

    ``d[j] = after[j+1] - after[j]``; drops ranked steepest first (stable); the first
    *adjacent pair in that ranking* whose positions differ by more than the threshold.
    """
    if len(after) < 2:
        return None
    d = np.diff(after)  # (n-1,)  <= 0 for sorted scores
    order = np.argsort(d, kind="stable")  # steepest drop first
    k1 = np.minimum(order[:-1], order[1:])
    k2 = np.maximum(order[:-1], order[1:])
    ok = (k2 - k1) > consecutive_threshold
    if not ok.any():
        return None
    i = int(np.argmax(ok))
    return int(k1[i]), int(k2[i])


def fallback_positions(order: np.ndarray, target: int, start: int, fallback_k: int) -> np.ndarray:
    """The first ``fallback_k`` items after the target; if none, corpus minus target."""
    if fallback_k < 1:
        raise ValueError("fallback_k must be at least 1")
    after = order[start : start + fallback_k]
    if len(after):
        return after.astype(np.int64)
    return order[order != target].astype(np.int64)


def _target_rank(order: np.ndarray, target: int) -> int:
    hit = np.flatnonzero(order == target)
    if len(hit) == 0:
        raise ValueError(f"target position {target} is not in the corpus of size {len(order)}")
    return int(hit[0])


def _check_corpus(scores: np.ndarray) -> None:
    if scores.ndim != 1 or len(scores) < 2:
        raise ValueError("a negative set needs a 1-D corpus of at least 2 images")


def qure_hard_set(
    scores: np.ndarray,
    target: int,
    *,
    consecutive_threshold: int = 1,
    window: int | None = None,
    fallback_k: int = 10,
) -> NegativeSet:
    """QuRe's hard-negative set of one query (see the module docstring)."""
    scores = np.asarray(scores)
    _check_corpus(scores)
    order = rank_descending(scores)
    rank = _target_rank(order, target)
    start = rank + 1
    after = scores[order[start:]]
    if window is not None:
        if window < 1:
            raise ValueError("window must be at least 1")
        after = after[:window]
    pair = steepest_drop_pair(after, consecutive_threshold)
    if pair is None:
        return NegativeSet(fallback_positions(order, target, start, fallback_k), rank, True)
    k1, k2 = pair
    hard = order[start + k1 + 1 : start + k2 + 1]
    return NegativeSet(hard[hard != target].astype(np.int64), rank, False)


def trns_mid_zone(
    scores: np.ndarray,
    target: int,
    *,
    lo: float = 5,
    hi: float = 30,
    mode: str = "rank",
    fallback_k: int = 10,
) -> NegativeSet:
    """DQE-CIR's target-relative mid-zone of one query (see the module docstring)."""
    scores = np.asarray(scores)
    _check_corpus(scores)
    if mode not in TRNS_MODES:
        raise ValueError(f"unknown TRNS mode {mode!r}; choose one of {TRNS_MODES}")
    if lo > hi:
        raise ValueError(f"TRNS zone bounds lo={lo} > hi={hi}")
    order = rank_descending(scores)
    rank = _target_rank(order, target)
    start = rank + 1
    if mode == "rank":
        if lo < 1 or int(lo) != lo or int(hi) != hi:
            raise ValueError("rank-mode TRNS bounds are whole ranks >= 1")
        zone = order[start + int(lo) - 1 : start + int(hi)]
    else:
        delta = scores[target] - scores[order]  # (N,) in rank order
        keep = (delta >= lo) & (delta <= hi) & (order != target)
        zone = order[keep]
    if len(zone) == 0:
        return NegativeSet(fallback_positions(order, target, start, fallback_k), rank, True)
    return NegativeSet(zone.astype(np.int64), rank, False)


def above_target(
    scores: np.ndarray,
    target: int,
    *,
    image_sim: np.ndarray | None = None,
    fn_sim: float = 0.9,
    fallback_k: int = 10,
) -> NegativeSet:
    """The images ranked above the target, minus likely false negatives (module docstring).

    ``image_sim``: (N,) similarity of each corpus image to the target image, or None to keep
    every image above the target."""
    scores = np.asarray(scores)
    _check_corpus(scores)
    order = rank_descending(scores)
    rank = _target_rank(order, target)
    above = order[:rank]
    if image_sim is not None and len(above):
        above = above[np.asarray(image_sim)[above] < fn_sim]
    if len(above) == 0:
        return NegativeSet(fallback_positions(order, target, rank + 1, fallback_k), rank, True)
    return NegativeSet(above.astype(np.int64), rank, False)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class NegativeTable:
    """Every query's negative set as bank ids, in CSR form; written by mining, read by training."""

    offsets: np.ndarray  # (M+1,) int64
    items: np.ndarray  # (offsets[-1],) int64 bank ids
    target_rank: np.ndarray  # (M,) int64
    fallback: np.ndarray  # (M,) bool
    image_names: tuple[str, ...]  # the bank the ids index (checked on load)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sizes = np.diff(self.offsets)
        if len(self.offsets) < 1 or self.offsets[0] != 0 or (sizes < 1).any():
            raise ValueError("every query needs a non-empty negative set")
        if self.offsets[-1] != len(self.items):
            raise ValueError("offsets do not match the item count")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def set_of(self, i: int) -> np.ndarray:
        return self.items[self.offsets[i] : self.offsets[i + 1]]

    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def stats(self) -> dict[str, float]:
        s = self.sizes()
        return {
            "queries": float(len(self)),
            "mean_size": float(s.mean()),
            "median_size": float(np.median(s)),
            "fallback_rate": float(self.fallback.mean()),
            "median_target_rank": float(np.median(self.target_rank)),
        }

    @classmethod
    def from_sets(
        cls, sets: Sequence[np.ndarray], target_rank, fallback, image_names: Sequence[str], meta: dict | None = None
    ) -> "NegativeTable":
        sizes = np.asarray([len(s) for s in sets], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        items = np.concatenate(list(sets)).astype(np.int64) if len(sets) else np.zeros(0, np.int64)
        return cls(
            offsets,
            items,
            np.asarray(target_rank, dtype=np.int64),
            np.asarray(fallback, dtype=bool),
            tuple(image_names),
            dict(meta or {}),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "offsets": self.offsets,
            "items": self.items,
            "target_rank": self.target_rank,
            "fallback": self.fallback,
            "image_names": np.asarray(self.image_names, dtype=str),
            "meta": np.asarray(json.dumps(self.meta)),
        }
        # durable: a checkpoint names the table its epoch drew from, and resuming reloads it
        atomic_write(path, lambda f: np.savez(f, **arrays), durable=True)
        return path

    @classmethod
    def load(cls, path: str | Path, expect_names: Sequence[str] | None = None) -> "NegativeTable":
        with np.load(Path(path), allow_pickle=False) as z:
            table = cls(
                z["offsets"],
                z["items"],
                z["target_rank"],
                z["fallback"],
                tuple(str(n) for n in z["image_names"]),
                json.loads(str(z["meta"])),
            )
        if expect_names is not None and tuple(expect_names) != table.image_names:
            raise ValueError(f"{path}: the negatives table was mined over a different image set")
        return table


# --------------------------------------------------------------------------- drawing


def draw_from_table(table: NegativeTable, rng: np.random.Generator) -> np.ndarray:
    """One uniform draw from each query's set: (M,) bank ids."""
    sizes = table.sizes()
    pick = np.minimum((rng.random(len(sizes)) * sizes).astype(np.int64), sizes - 1)
    return table.items[table.offsets[:-1] + pick]


def draw_uniform_excluding(
    corpus_ids: Sequence[np.ndarray], group: np.ndarray, target_pos: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Warm-up: for each query, a uniform image of its group's corpus other than its target.

    corpus_ids[g] (N_g,) bank ids; group, target_pos (M,) -> (M,) bank ids.
    """
    out = np.empty(len(group), dtype=np.int64)
    for g, ids in enumerate(corpus_ids):
        rows = np.flatnonzero(group == g)
        if not len(rows):
            continue
        if len(ids) < 2:
            raise ValueError(f"group {g} has fewer than 2 images; no negative exists")
        tp = target_pos[rows]
        if (tp < 0).any():
            raise ValueError("every query needs its target in its corpus")
        r = rng.integers(0, len(ids) - 1, size=len(rows))  # over N_g - 1 images
        r += r >= tp  # skip the target
        out[rows] = ids[r]
    return out
