"""Datasets in their standard layouts (FashionIQ, CIRR), the images they name, and the
torch ``Dataset`` the training loop reads.

- ``splits``: what a split *is* (triplets, the corpus each query ranks against), as plain data.
- ``fashioniq`` / ``cirr``: parse each layout into a ``CIRSplit``.
- ``images``: image names -> files -> preprocessed tensors (``ImageBank``).
- ``dataset``: ``TripletDataset`` (reference, caption, target and the epoch's negative).
"""

from .errors import DataError
from .splits import CIRSplit, Triplet, load_split

__all__ = ["CIRSplit", "DataError", "Triplet", "load_split"]
