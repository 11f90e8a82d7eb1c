"""Preference pairs from votes, and the held-out split. Pure functions, shared by the
app (how many pairs the votes give) and the trainer (what it learns from).

For each composed query (same reference photo and same cleaned text):

- every (liked, disliked) pair;
- each liked photo against every photo that was shown above it and that the user did
  not vote on in that query ("you scrolled past these to pick this one").

Only a photo's latest vote in a query counts; undone votes are ignored by the caller.
Votes of text-only and "similar" searches do not train the query graph and are
skipped (counted). Pairs are de-duplicated.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from engine.text import TextSpec, clean_caption


@dataclass(frozen=True)
class QueryKey:
    ref_sha256: str
    text: str  # cleaned as the tokenizer sees it


@dataclass(frozen=True)
class VoteView:
    """What pairing needs of a vote (engine.feedback.Vote has more)."""

    mode: str
    ref_sha256: str | None
    text: str | None
    photo: str  # content hash
    up: bool
    at: float
    shown_above: tuple[str, ...] = ()
    ref_path: str | None = None

    @classmethod
    def of(cls, vote) -> "VoteView":
        q = vote.query
        return cls(
            q.mode, q.ref_sha256, q.text, vote.photo_sha256, vote.up, vote.at, tuple(vote.shown_above), q.ref_path
        )


@dataclass(frozen=True)
class Pair:
    query: QueryKey
    better: str
    worse: str
    kind: str  # "voted" (liked vs disliked) or "shown_above" (liked vs unvoted above it)


@dataclass(frozen=True)
class PairSet:
    pairs: tuple[Pair, ...]
    queries: tuple[QueryKey, ...]
    skipped_votes: int  # votes of other modes, or without reference or text


def build_pairs(votes: Iterable[VoteView], spec: TextSpec = TextSpec()) -> PairSet:
    latest: dict[QueryKey, dict[str, VoteView]] = defaultdict(dict)
    skipped = 0
    for v in sorted(votes, key=lambda v: v.at):
        if v.mode != "composed" or not v.ref_sha256 or v.text is None:
            skipped += 1
            continue
        key = QueryKey(v.ref_sha256, clean_caption(v.text, spec))
        latest[key][v.photo] = v  # a later vote on the same photo replaces the earlier one
    pairs: list[Pair] = []
    seen: set[tuple[QueryKey, str, str]] = set()

    def add(p: Pair) -> None:
        k = (p.query, p.better, p.worse)
        if k not in seen and p.better != p.worse:
            seen.add(k)
            pairs.append(p)

    for key in sorted(latest, key=lambda k: (k.ref_sha256, k.text)):
        by_photo = latest[key]
        liked = sorted(p for p, v in by_photo.items() if v.up)
        disliked = sorted(p for p, v in by_photo.items() if not v.up)
        for b in liked:
            for w in disliked:
                add(Pair(key, b, w, "voted"))
        for b in liked:
            for w in by_photo[b].shown_above:
                if w not in by_photo:
                    add(Pair(key, b, w, "shown_above"))
    queries = tuple(k for k in sorted(latest, key=lambda k: (k.ref_sha256, k.text)) if any(p.query == k for p in pairs))
    return PairSet(tuple(pairs), queries, skipped)


def split_held_out(pairs: Sequence[Pair], share: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, held_out). Whole queries are held out (the measure is then on
    queries the fine-tuning never saw), at least one query and at least ``share`` of
    the pairs. With a single query, a ``share`` of its pairs is held out instead.
    Empty held-out set when there are fewer than 2 pairs."""
    n = len(pairs)
    if n < 2 or share <= 0:
        return list(range(n)), []
    rng = np.random.default_rng(seed)
    queries = sorted({p.query for p in pairs}, key=lambda k: (k.ref_sha256, k.text))
    if len(queries) == 1:
        order = rng.permutation(n)
        k = max(1, int(round(share * n)))
        return sorted(order[k:].tolist()), sorted(order[:k].tolist())
    order = [queries[i] for i in rng.permutation(len(queries))]
    held: set[QueryKey] = set()
    count = 0
    for q in order[:-1]:  # always leave at least one query to train on
        if count >= share * n and held:
            break
        held.add(q)
        count += sum(1 for p in pairs if p.query == q)
    train = [i for i, p in enumerate(pairs) if p.query not in held]
    test = [i for i, p in enumerate(pairs) if p.query in held]
    return train, test
