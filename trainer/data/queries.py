"""A split's queries as arrays over an ``ImageBank``: what mining, training and
evaluation index into. Captions are tokenized once, here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.text import Tokenizer

from .images import ImageBank
from .splits import CIRSplit


@dataclass(frozen=True)
class Queries:
    groups: tuple[str, ...]
    corpus_ids: tuple[np.ndarray, ...]  # per group: bank ids of its corpus, in corpus order
    ref: np.ndarray  # (M,) bank id of the reference
    target: np.ndarray  # (M,) bank id of the target; -1 when unlabelled
    group: np.ndarray  # (M,) index into ``groups``
    target_pos: np.ndarray  # (M,) target's position in its group's corpus; -1 when unlabelled
    input_ids: np.ndarray  # (M, L) int64
    attention_mask: np.ndarray  # (M, L) int64

    def __len__(self) -> int:
        return len(self.ref)

    @property
    def labelled(self) -> bool:
        return bool((self.target >= 0).all())


def build_queries(split: CIRSplit, bank: ImageBank, tokenizer: Tokenizer) -> Queries:
    groups = tuple(split.groups)
    corpus_ids = tuple(bank.indices(split.corpus[g]) for g in groups)
    pos_in_group = [{int(b): j for j, b in enumerate(ids)} for ids in corpus_ids]
    gi = {g: i for i, g in enumerate(groups)}
    trips = split.triplets
    ref = bank.indices([t.reference for t in trips])
    target = np.asarray([bank.index(t.target) if t.target is not None else -1 for t in trips], dtype=np.int64)
    group = np.asarray([gi[t.group] for t in trips], dtype=np.int64)
    target_pos = np.asarray(
        [pos_in_group[g].get(int(b), -1) if b >= 0 else -1 for g, b in zip(group, target)], dtype=np.int64
    )
    ids, mask = tokenizer.encode([t.caption for t in trips])
    return Queries(groups, corpus_ids, ref, target, group, target_pos, ids, mask)
