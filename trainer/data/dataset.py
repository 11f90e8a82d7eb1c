"""The torch ``Dataset`` of training triplets: item i is query i's reference image,
caption tokens, target image and (for pairwise methods) this epoch's negative.

Which negative each query gets is decided outside (``trainer.negatives``) and handed
in per epoch with ``set_negatives``: sampling is not hidden in ``__getitem__``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .images import ImageBank
from .queries import Queries


class TripletDataset(Dataset):
    def __init__(self, queries: Queries, bank: ImageBank, with_target_images: bool = True):
        if not queries.labelled:
            raise ValueError("training needs a target for every query")
        self.q = queries
        self.bank = bank
        self.with_target_images = with_target_images
        self.negatives: np.ndarray | None = None  # (M,) bank ids for the current epoch

    def __len__(self) -> int:
        return len(self.q)

    def set_negatives(self, negatives: np.ndarray | None) -> None:
        if negatives is not None and negatives.shape != (len(self.q),):
            raise ValueError(f"expected {len(self.q)} negatives, got shape {negatives.shape}")
        self.negatives = negatives

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        q = self.q
        item = {
            "index": torch.tensor(i),
            "ref": self.bank[int(q.ref[i])],  # (3, S, S) or (T, Dv)
            "input_ids": torch.from_numpy(q.input_ids[i]),  # (L,)
            "attention_mask": torch.from_numpy(q.attention_mask[i]),  # (L,)
            "target_id": torch.tensor(int(q.target[i])),
        }
        if self.with_target_images:
            item["target"] = self.bank[int(q.target[i])]
        if self.negatives is not None:
            item["negative"] = self.bank[int(self.negatives[i])]
        return item
