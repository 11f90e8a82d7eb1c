"""Training objectives on relevance scores (``max_k <q, t_k>``, before any temperature).

- ``bradley_terry``: QuRe's loss. One negative per query:
  ``mean(-log sigmoid((s+ - s-) / temp))``, which equals QuRe's
  ``kl_div(log_softmax([s+, s-] / temp), [1, 0], 'batchmean')``.
- ``in_batch_info_nce``: the contrastive baseline (BLIP-2 ITC / SPRC's ``loss_itc``
  shape): query i against every target in the batch, its own on the diagonal.
  A column whose target *image* is the same as row i's (another triplet of the batch
  with the same target) is not a negative: it is masked out of row i's softmax.
- ``bank_info_nce``: SPN's second stage, query against a whole bank of cached targets.

``temp`` is the model's learned temperature (QuRe: unclamped). ``temp_floor`` keeps
a run from dividing by a temperature that weight decay has driven to ~0 or below; at
the default 1e-3 it is inactive for any sane run (QuRe has no floor).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _temp(temp: torch.Tensor | float, floor: float) -> torch.Tensor | float:
    if isinstance(temp, torch.Tensor):
        return temp.clamp(min=floor) if floor > 0 else temp
    return max(temp, floor)


def bradley_terry(
    s_pos: torch.Tensor, s_neg: torch.Tensor, temp: torch.Tensor | float, temp_floor: float = 1e-3
) -> torch.Tensor:
    """s_pos, s_neg (B,) -> scalar: mean(-log sigmoid((s_pos - s_neg) / temp))."""
    t = _temp(temp, temp_floor)
    return -F.logsigmoid((s_pos - s_neg) / t).mean()


def pairwise_accuracy(s_pos: torch.Tensor, s_neg: torch.Tensor) -> torch.Tensor:
    return (s_pos > s_neg).float().mean()


def duplicate_target_mask(target_ids: torch.Tensor) -> torch.Tensor:
    """(B,) image ids -> (B, B) bool, True where column j has row i's target and j != i."""
    same = target_ids[:, None] == target_ids[None, :]  # (B, B)
    return same & ~torch.eye(len(target_ids), dtype=torch.bool, device=target_ids.device)


def in_batch_info_nce(
    scores: torch.Tensor, temp: torch.Tensor | float, target_ids: torch.Tensor | None = None, temp_floor: float = 1e-3
) -> torch.Tensor:
    """scores (B, B): query i vs target j, positives on the diagonal -> scalar cross-entropy."""
    logits = scores / _temp(temp, temp_floor)  # (B, B)
    if target_ids is not None:
        logits = logits.masked_fill(duplicate_target_mask(target_ids), float("-inf"))
    labels = torch.arange(scores.shape[0], device=scores.device)
    return F.cross_entropy(logits, labels)


def bank_info_nce(
    scores: torch.Tensor, labels: torch.Tensor, temp: torch.Tensor | float, temp_floor: float = 1e-3
) -> torch.Tensor:
    """scores (B, N) against a bank, labels (B,) bank positions of the targets -> scalar."""
    return F.cross_entropy(scores / _temp(temp, temp_floor), labels)


def image_text_contrastive(
    scores: torch.Tensor, positive: torch.Tensor, temp: torch.Tensor | float, temp_floor: float = 1e-3,
    unmatched_texts: bool = False,
) -> torch.Tensor:
    """BLIP-2's ITC with several positives: scores (B_img, B_txt) image i vs text j (max over
    the image's target tokens), positive (B_img, B_txt) bool, True where text j is true of
    image i (its own text always). Each direction's target distribution is uniform over the
    row's (column's) positives; the loss is the mean of the two cross-entropies.
    With ``positive`` the identity this is CLIP's symmetric InfoNCE.

    ``unmatched_texts=True`` lets texts true of no image in the batch take part (hard
    negative texts, as NegCLIP adds them): they are negatives in every image's row, and the
    text -> image direction averages over the texts that have a positive only."""
    matched = positive.any(dim=0)
    if not bool(positive.any(dim=1).all()) or not (unmatched_texts or bool(matched.all())):
        raise ValueError("every image and every text needs at least one positive")
    logits = scores / _temp(temp, temp_floor)  # (Bi, Bt)
    pos = positive.to(logits.dtype)
    i2t = -(pos / pos.sum(1, keepdim=True) * F.log_softmax(logits, dim=1)).sum(1).mean()
    logits, pos = logits[:, matched], pos[:, matched]
    t2i = -(pos / pos.sum(0, keepdim=True) * F.log_softmax(logits, dim=0)).sum(0).mean()
    return (i2t + t2i) / 2
