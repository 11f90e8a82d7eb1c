"""One training step's forward pass per method, as an ``nn.Module`` (so DDP can wrap it).

- ``contrastive``: in-batch InfoNCE, query i vs the batch's targets (``losses.in_batch_info_nce``).
- ``qure`` / ``trns`` / ``above``: Bradley-Terry on (target, the epoch's negative) with the
  model's learned temperature; the methods differ only in how negatives are chosen
  (``trainer.negatives``).
- ``spn``: SPN's second stage. The model's query side is split off
  (``QuReModel.split_query_side``), everything else is frozen; the target tokens of the
  whole training bank are computed once and passed in as ``bank_tokens``; the loss is
  InfoNCE of each query against every bank image at a fixed temperature (0.05, SPN's).

Images in a batch are pixels or cached ViT tokens (``trainer.encode.featurize``); the
reference, target and negative go through the vision tower in one call.
"""

from __future__ import annotations

import torch
from torch import nn

from .encode import featurize
from .losses import bank_info_nce, bradley_terry, duplicate_target_mask, in_batch_info_nce, pairwise_accuracy
from .model import QuReModel, paired_score, score

METHODS = ("contrastive", "qure", "trns", "above", "spn")
PAIRWISE = ("qure", "trns", "above")


class Objective(nn.Module):
    def __init__(
        self,
        model: QuReModel,
        method: str,
        temp_floor: float = 1e-3,
        bank_tokens: torch.Tensor | None = None,
        spn_temp: float = 0.05,
    ):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
        if method == "spn" and (bank_tokens is None or not model.has_split_query_side):
            raise ValueError("spn needs a split query side and the cached bank tokens")
        self.model = model
        self.method = method
        self.temp_floor = temp_floor
        self.spn_temp = spn_temp
        self.bank_tokens = bank_tokens  # (N, Q, E), frozen; not a parameter or buffer

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (loss, accuracy): accuracy is s+ > s- (pairwise) or top-1 (InfoNCE)."""
        m = self.model
        ids, mask = batch["input_ids"], batch["attention_mask"]
        if self.method == "spn":
            with torch.no_grad():
                ref = featurize(m, batch["ref"])  # (B, T, Dv), frozen
            q = m.query_from_features(ref, ids, mask)  # (B, E)
            s = score(q, self.bank_tokens)  # (B, N)
            labels = batch["target_id"]
            return bank_info_nce(s, labels, self.spn_temp), (s.argmax(1) == labels).float().mean()
        B = ids.shape[0]
        images = [batch["ref"], batch["target"]] + ([batch["negative"]] if self.method in PAIRWISE else [])
        feats = featurize(m, torch.cat(images))  # (kB, T, Dv)
        q = m.query_from_features(feats[:B], ids, mask)  # (B, E)
        t = m.target_from_features(feats[B:])  # ((k-1)B, Q, E)
        if self.method in PAIRWISE:
            s_pos = paired_score(q, t[:B])  # (B,)
            s_neg = paired_score(q, t[B:])  # (B,)
            return bradley_terry(s_pos, s_neg, m.temp, self.temp_floor), pairwise_accuracy(s_pos, s_neg)
        s = score(q, t)  # (B, B)
        loss = in_batch_info_nce(s, m.temp, batch["target_id"], self.temp_floor)
        with torch.no_grad():
            masked = s.masked_fill(duplicate_target_mask(batch["target_id"]), float("-inf"))
            acc = (masked.argmax(1) == torch.arange(B, device=s.device)).float().mean()
        return loss, acc
