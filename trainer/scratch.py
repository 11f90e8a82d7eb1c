"""Initialization for a model trained from scratch (the tiny demo model), not from BLIP-2.

The model initializes its Q-Former like BERT (normal, std 0.02), which is right for
weights that are then loaded from a pretrained checkpoint. Trained from scratch at the
tiny size, that start is a near-constant function: attention is uniform and each
residual branch adds ~(0.02 * sqrt(128))^2 of its input, so the target tokens vary
across images by ~1e-3 and the query barely depends on its reference or its text. The
in-batch contrastive loss then sits at ln(batch) for hundreds of steps (both towers
must vary before either gets a gradient), and a seed can stall there for many epochs.

``widen_qformer_init`` re-draws the Linear weights of the Q-Former and of the two
projections from normal(0, std); at std 0.1 the same run leaves the plateau within the
first epoch (docs/training.md gives the measurement). Applied by ``train`` to a fresh
tiny model unless ``--scratch-init-std 0``; never to a model started from ``--init``.
"""

from __future__ import annotations

import torch
from torch import nn

from .model import QuReModel


def widen_qformer_init(model: QuReModel, std: float) -> int:
    """Re-draw the Q-Former's, vision_proj's and text_proj's Linear weights from N(0, std)
    (biases stay zero). Uses the global torch RNG. Returns how many layers were re-drawn."""
    if std <= 0:
        raise ValueError("std must be positive")
    n = 0
    with torch.no_grad():
        for module in (model.qformer, model.vision_proj, model.text_proj):
            for m in module.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=std)
                    n += 1
    return n
