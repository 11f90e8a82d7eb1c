"""A split of a composed-retrieval dataset as plain data, whatever its layout on disk.

A ``Triplet`` is one query (reference image + modification text) and its labelled
target. Each query belongs to a *group* (a FashionIQ category; one group for CIRR and
CIRCO) and is ranked against that group's *corpus*: the ordered, duplicate-free image
names of the split. Negatives are mined from, and evaluation ranks over, the same corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DATASETS = ("fashioniq", "cirr", "circo")


@dataclass(frozen=True)
class Triplet:
    reference: str
    caption: str  # already joined (FashionIQ's two captions become one sentence)
    target: str | None  # None on a test split without labels
    group: str  # FashionIQ category, or "cirr"
    pair_id: int | None = None  # CIRR ``pairid``
    members: tuple[str, ...] = ()  # CIRR ``img_set.members`` (for R_subset)
    ground_truth: tuple[str, ...] = ()  # CIRCO ``gt_img_ids``: every correct image (for mAP@K)


@dataclass(frozen=True)
class CIRSplit:
    dataset: str
    split: str
    root: Path
    triplets: tuple[Triplet, ...]
    corpus: dict[str, tuple[str, ...]]  # group -> ordered unique image names
    paths: dict[str, Path]  # image name -> file, for every name used
    # Targets that the split's image list lacks and were appended to their corpus
    # (evaluation refuses such a split; training tolerates it).
    missing_targets: int = 0
    captions_files: dict[str, Path] = field(default_factory=dict)  # group -> captions file

    @property
    def groups(self) -> list[str]:
        return list(self.corpus)

    def image_names(self) -> list[str]:
        """Every image the split uses (references, targets, corpora), sorted."""
        names: set[str] = set()
        for t in self.triplets:
            names.add(t.reference)
            if t.target is not None:
                names.add(t.target)
        for c in self.corpus.values():
            names.update(c)
        return sorted(names)


def load_split(
    dataset: str, root: str | Path, split: str, categories: tuple[str, ...] | None = None, corpus: str = "split"
) -> CIRSplit:
    """Read ``split`` of a dataset in its standard layout under ``root``."""
    if dataset == "fashioniq":
        from .fashioniq import load_fashioniq

        return load_fashioniq(root, split, categories, corpus=corpus)
    if dataset == "cirr":
        from .cirr import load_cirr

        return load_cirr(root, split)
    if dataset == "circo":
        from .circo import load_circo

        return load_circo(root, split)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
