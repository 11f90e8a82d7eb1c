"""Preference data from a library: its votes, the references' vision features it kept,
and the target tokens already in its index (nothing is re-encoded)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.preferences import PairSet, QueryKey, VoteView, build_pairs

from .train import PreferenceData


@dataclass(frozen=True)
class CollectInfo:
    votes: int
    skipped_votes: int  # other search modes
    pairs: int
    dropped_pairs: int  # a photo or a reference whose features are gone
    queries: int


def collect(library) -> tuple[PreferenceData | None, PairSet, CollectInfo]:
    """Pairs from ``library.votes()`` with their tensors; ``None`` data if no pair survives."""
    votes = [VoteView.of(v) for v in library.votes()]
    ps = build_pairs(votes, library.bundle.manifest.text)
    ref_paths: dict[str, str | None] = {}
    for v in sorted(votes, key=lambda v: v.at):
        if v.ref_sha256:
            ref_paths[v.ref_sha256] = v.ref_path or ref_paths.get(v.ref_sha256)

    photos = sorted({p.better for p in ps.pairs} | {p.worse for p in ps.pairs})
    tokens = library.tokens_by_sha(photos)  # sha -> (Q, E) for photos still indexed
    refs: dict[str, np.ndarray] = {}
    for sha in sorted({p.query.ref_sha256 for p in ps.pairs}):
        feats = library.reference_features_by_sha(sha, ref_paths.get(sha))
        if feats is not None:
            refs[sha] = feats
    kept = [p for p in ps.pairs if p.better in tokens and p.worse in tokens and p.query.ref_sha256 in refs]
    info = CollectInfo(len(votes), ps.skipped_votes, len(ps.pairs), len(ps.pairs) - len(kept),
                       len({p.query for p in kept}))
    kept_set = PairSet(tuple(kept), tuple(q for q in ps.queries if any(p.query == q for p in kept)), ps.skipped_votes)
    if not kept:
        return None, kept_set, info
    return _tensors(library, kept_set, refs, tokens), kept_set, info


def _tensors(library, ps: PairSet, refs: dict[str, np.ndarray], tokens: dict[str, np.ndarray]) -> PreferenceData:
    ref_order = sorted({p.query.ref_sha256 for p in ps.pairs})
    ref_index = {s: i for i, s in enumerate(ref_order)}
    queries: list[QueryKey] = list(ps.queries)
    q_index = {q: i for i, q in enumerate(queries)}
    photo_order = sorted({p.better for p in ps.pairs} | {p.worse for p in ps.pairs})
    p_index = {s: i for i, s in enumerate(photo_order)}
    ids, mask = library.bundle.tokenizer().encode([q.text for q in queries])
    return PreferenceData(
        feats=torch.from_numpy(np.stack([refs[s] for s in ref_order]).astype(np.float32)),  # (R, T, Dv)
        ref=torch.tensor([ref_index[q.ref_sha256] for q in queries]),
        ids=torch.from_numpy(ids),
        mask=torch.from_numpy(mask),
        tokens=torch.from_numpy(np.stack([tokens[s] for s in photo_order]).astype(np.float32)),  # (P, Q, E)
        query=torch.tensor([q_index[p.query] for p in ps.pairs]),
        better=torch.tensor([p_index[p.better] for p in ps.pairs]),
        worse=torch.tensor([p_index[p.worse] for p in ps.pairs]),
    )
