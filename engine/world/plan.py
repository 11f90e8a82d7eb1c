"""Planning a world: which garments each split holds, and the triplets with their captions.

Planning is pure and fast (no pixels): ``plan_world(config)`` returns every image's name,
split, attributes and render seed, and every triplet's captions. Writing it to disk is
``engine.world.layout``'s job.

Per split and category, the images come from a set of attribute combinations, each
rendered several times (``renders``), so a query's target always has look-alikes with
the same attributes that are not labelled. The set is grown around random seeds by
changing one or two attributes at a time, so combinations one to three changes apart
are common and every reference has targets to point at.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from engine.world.attributes import CATEGORIES, VALUES, Garment, all_garments
from engine.world.captions import Caption, caption_pair
from engine.world.errors import WorldError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class WorldConfig:
    """How big a world to make. Image counts are per split, summed over the categories."""

    seed: int = 0
    train_images: int = 3000
    train_triplets: int = 4500
    eval_images: int = 720  # each of val and test
    eval_triplets: int = 600  # each of val and test
    train_renders: int = 3  # images per attribute combination, at least
    eval_renders: int = 5
    change_weights: tuple[float, float, float] = (0.45, 0.40, 0.15)  # 1, 2, 3 changed attributes
    image_size: int = 256
    categories: tuple[str, ...] = CATEGORIES

    def __post_init__(self) -> None:
        for c in self.categories:
            if c not in CATEGORIES:
                raise WorldError(f"unknown category {c!r}")
        if not self.categories:
            raise WorldError("a world needs at least one category")
        for split in SPLITS:
            n, r = self.images(split), self.renders(split)
            if r < 2:
                raise WorldError(f"{split}: renders per combination must be at least 2 (got {r})")
            if n < 2 * r * len(self.categories):
                raise WorldError(f"{split}: {n} images are too few for {len(self.categories)} categories "
                                 f"with {r} renders per combination (need {2 * r * len(self.categories)})")
            if self.triplets(split) < len(self.categories):
                raise WorldError(f"{split}: need at least one triplet per category")
        if len(self.change_weights) != 3 or min(self.change_weights) < 0 or sum(self.change_weights) <= 0:
            raise WorldError("change_weights must be three non-negative weights for 1, 2, 3 changes")
        if not 64 <= self.image_size <= 1024:
            raise WorldError(f"image_size {self.image_size} is outside 64..1024")

    def images(self, split: str) -> int:
        return self.train_images if split == "train" else self.eval_images

    def triplets(self, split: str) -> int:
        return self.train_triplets if split == "train" else self.eval_triplets

    def renders(self, split: str) -> int:
        return self.train_renders if split == "train" else self.eval_renders

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["change_weights"] = list(self.change_weights)
        d["categories"] = list(self.categories)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "WorldConfig":
        d = dict(d)
        d["change_weights"] = tuple(d["change_weights"])
        d["categories"] = tuple(d["categories"])
        return cls(**d)


@dataclass(frozen=True)
class ImageRecord:
    name: str
    split: str
    garment: Garment
    render_seed: tuple[int, ...]


@dataclass(frozen=True)
class Triplet:
    candidate: str
    target: str
    captions: tuple[Caption, Caption]


@dataclass(frozen=True)
class WorldPlan:
    config: WorldConfig
    images: tuple[ImageRecord, ...]
    triplets: dict[tuple[str, str], tuple[Triplet, ...]] = field(default_factory=dict)  # (category, split) ->

    def split_names(self, category: str, split: str) -> list[str]:
        return [r.name for r in self.images if r.split == split and r.garment.category == category]

    def attributes(self) -> dict[str, Garment]:
        return {r.name: r.garment for r in self.images}


def _share(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _mutate(g: Garment, rng: np.random.Generator) -> Garment:
    names = list(g.attributes)
    k = 1 if rng.random() < 0.6 else 2
    changes = {}
    for i in rng.choice(len(names), k, replace=False):
        a = names[int(i)]
        others = [v for v in VALUES[a] if v != g.get(a)]
        changes[a] = others[int(rng.integers(len(others)))]
    return g.replace(**changes)


def choose_combinations(category: str, count: int, rng: np.random.Generator) -> list[Garment]:
    """``count`` distinct attribute combinations, grown in clusters of near neighbours."""
    every = list(all_garments(category))
    if count >= len(every):
        return every
    chosen: list[Garment] = []
    seen: set[Garment] = set()
    seeds = max(1, count // 4)
    while len(chosen) < count:
        if len(chosen) < seeds:
            g = every[int(rng.integers(len(every)))]
        else:
            g = _mutate(chosen[int(rng.integers(len(chosen)))], rng)
        if g not in seen:
            seen.add(g)
            chosen.append(g)
    return chosen


def _stream(config: WorldConfig, split: str, category: str, purpose: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, SPLITS.index(split), CATEGORIES.index(category), purpose])


def plan_images(config: WorldConfig, split: str, category: str, count: int) -> list[ImageRecord]:
    rng = _stream(config, split, category, 0)
    combos = choose_combinations(category, max(2, count // config.renders(split)), rng)
    garments = [g for g, k in zip(combos, _share(count, len(combos))) for _ in range(k)]
    order = rng.permutation(len(garments))
    ci, si = CATEGORIES.index(category), SPLITS.index(split)
    return [ImageRecord(f"{category}_{split}_{i:05d}", split, garments[j], (config.seed, si, ci, i))
            for i, j in enumerate(order)]


def plan_triplets(
    config: WorldConfig, images: list[ImageRecord], count: int, rng: np.random.Generator
) -> list[Triplet]:
    """``count`` distinct (candidate, target) pairs 1-3 changes apart, with two captions each."""
    by_combo: dict[Garment, list[str]] = {}
    for r in images:
        by_combo.setdefault(r.garment, []).append(r.name)
    combos = list(by_combo)
    index = {g: i for i, g in enumerate(combos)}
    codes = np.asarray([[VALUES[a].index(g.get(a)) for a in g.attributes] for g in combos])  # (C, A)
    dist = (codes[:, None, :] != codes[None, :, :]).sum(-1)  # (C, C)
    near = [{d: np.flatnonzero(row == d) for d in (1, 2, 3)} for row in dist]
    names = [r.name for r in images]
    garment_of = {r.name: r.garment for r in images}
    weights = np.asarray(config.change_weights, np.float64)
    sizes = np.asarray([len(by_combo[g]) for g in combos])  # (C,)
    allowed = np.isin(dist, [d for d in (1, 2, 3) if weights[d - 1] > 0])  # (C, C)
    available = int(sizes @ allowed @ sizes)
    if available < count:
        raise WorldError(
            f"{images[0].garment.category}.{images[0].split}: only {available} (candidate, target) "
            f"pairs exist among {len(images)} images, {count} triplets asked for"
        )
    out: list[Triplet] = []
    used: set[tuple[str, str]] = set()
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 50 * count + 1000:
            raise WorldError(f"could only make {len(out)} of {count} distinct triplets from {len(images)} images")
        ref = names[int(rng.integers(len(names)))]
        g = garment_of[ref]
        around = near[index[g]]
        w = np.asarray([weights[d - 1] if len(around[d]) else 0.0 for d in (1, 2, 3)])
        if w.sum() == 0:
            continue
        d = 1 + int(rng.choice(3, p=w / w.sum()))
        h = combos[int(around[d][int(rng.integers(len(around[d])))])]
        tgt = by_combo[h][int(rng.integers(len(by_combo[h])))]
        if (ref, tgt) in used:
            continue
        used.add((ref, tgt))
        out.append(Triplet(ref, tgt, caption_pair(g, h, rng)))
    return out


def plan_world(config: WorldConfig) -> WorldPlan:
    images: list[ImageRecord] = []
    triplets: dict[tuple[str, str], tuple[Triplet, ...]] = {}
    for split in SPLITS:
        counts = _share(config.images(split), len(config.categories))
        tcounts = _share(config.triplets(split), len(config.categories))
        for category, n, t in zip(config.categories, counts, tcounts):
            recs = plan_images(config, split, category, n)
            images += recs
            triplets[(category, split)] = tuple(plan_triplets(config, recs, t, _stream(config, split, category, 1)))
    return WorldPlan(config, tuple(images), triplets)
