"""Learning-rate schedule: QuRe's per-epoch cosine, with an optional linear warm-up in steps.

QuRe (``cosine_lr_schedule`` in train_qure.py): at the start of epoch e of E,
``lr_e = (lr0 - lr0/100) * (1 + cos(pi e / E)) / 2 + lr0/100``; the floor is lr0/100
(its ``min_lr`` config key is ignored). ``min_ratio`` is that 1/100.
"""

from __future__ import annotations

import math


def cosine_epoch_lr(lr0: float, epoch: int, epochs: int, min_ratio: float = 0.01) -> float:
    floor = lr0 * min_ratio
    return (lr0 - floor) * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs)) + floor


def lr_at(lr0: float, epoch: int, epochs: int, step: int, warmup_steps: int = 0, min_ratio: float = 0.01) -> float:
    """The epoch's cosine value, scaled by (step + 1) / warmup_steps during the first steps
    of the run (``step`` counts from 0 over the whole run)."""
    lr = cosine_epoch_lr(lr0, epoch, epochs, min_ratio)
    if warmup_steps > 0 and step < warmup_steps:
        lr *= (step + 1) / warmup_steps
    return lr
