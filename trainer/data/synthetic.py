"""Small synthetic datasets in the FashionIQ, CIRR and CIRCO layouts: coloured shapes on plain
backgrounds, captions that name the target's colour and shape. For tests, benchmarks
and smoke-testing an install; not a benchmark of retrieval quality (that is the demo
world's job, ``engine.world``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (230, 210, 40),
    "purple": (140, 50, 170),
    "orange": (240, 140, 30),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
}
SHAPES = ("square", "circle", "triangle")


def _draw(colour: str, shape: str, rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    w, h = size
    bg = tuple(int(v) for v in rng.integers(90, 170, size=3))
    im = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(im)
    s = int(min(w, h) * rng.uniform(0.35, 0.6))
    x0, y0 = int(rng.integers(0, w - s)), int(rng.integers(0, h - s))
    box = (x0, y0, x0 + s, y0 + s)
    fill = COLOURS[colour]
    if shape == "square":
        d.rectangle(box, fill=fill)
    elif shape == "circle":
        d.ellipse(box, fill=fill)
    else:
        d.polygon([(x0, y0 + s), (x0 + s, y0 + s), (x0 + s // 2, y0)], fill=fill)
    return im


def _attributes(n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    colours = list(COLOURS)
    return [(colours[int(rng.integers(len(colours)))], SHAPES[int(rng.integers(len(SHAPES)))]) for _ in range(n)]


def _triplets(names: list[str], attrs: dict[str, tuple[str, str]], n: int, rng: np.random.Generator):
    out = []
    for _ in range(n):
        ref, tgt = rng.choice(len(names), size=2, replace=False)
        c, s = attrs[names[tgt]]
        out.append((names[ref], names[tgt], [f"is {c}.", f"is a {s}"]))
    return out


def write_fashioniq(
    root: str | Path,
    categories: tuple[str, ...] = ("dress", "shirt"),
    images_per_split: int = 12,
    triplets_per_split: int = 16,
    size: tuple[int, int] = (40, 48),
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val"),
) -> Path:
    """Write ROOT/images, ROOT/captions/cap.<cat>.<split>.json, ROOT/image_splits/... ."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for sub in ("images", "captions", "image_splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for cat in categories:
        for split in splits:
            names = [f"{cat}_{split}_{i:05d}" for i in range(images_per_split)]
            attrs = dict(zip(names, _attributes(len(names), rng)))
            for n in names:
                _draw(*attrs[n], rng, size).save(root / "images" / f"{n}.png")
            items = [
                {"candidate": r, "target": t, "captions": caps}
                for r, t, caps in _triplets(names, attrs, triplets_per_split, rng)
            ]
            (root / "captions" / f"cap.{cat}.{split}.json").write_text(json.dumps(items))
            (root / "image_splits" / f"split.{cat}.{split}.json").write_text(json.dumps(names))
    return root


def write_cirr(
    root: str | Path,
    images_per_split: int = 18,
    triplets_per_split: int = 16,
    size: tuple[int, int] = (40, 48),
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val", "test1"),
    set_size: int = 6,
) -> Path:
    """CIRR layout with images under ROOT/<split>/ and img_set members of ``set_size``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for sub in ("captions", "image_splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    pair_id = 0
    for split in splits:
        folder = {"val": "dev"}.get(split, split)
        (root / folder).mkdir(exist_ok=True)
        names = [f"{split}-{i}-img" for i in range(images_per_split)]
        attrs = dict(zip(names, _attributes(len(names), rng)))
        listing = {}
        for n in names:
            _draw(*attrs[n], rng, size).save(root / folder / f"{n}.png")
            listing[n] = f"./{folder}/{n}.png"
        items = []
        for r, t, caps in _triplets(names, attrs, triplets_per_split, rng):
            others = [n for n in names if n not in (r, t)]
            extra = [others[int(i)] for i in rng.choice(len(others), size=set_size - 2, replace=False)]
            members = [r, t, *extra]
            rng.shuffle(members)
            item = {"pairid": pair_id, "reference": r, "caption": " and ".join(caps),
                    "img_set": {"id": pair_id, "members": members}}
            if split != "test1":
                item["target_hard"] = t
            items.append(item)
            pair_id += 1
        (root / "captions" / f"cap.rc2.{split}.json").write_text(json.dumps(items))
        (root / "image_splits" / f"split.rc2.{split}.json").write_text(json.dumps(listing))
    return root


def write_circo(
    root: str | Path,
    images: int = 20,
    queries_per_split: int = 6,
    size: tuple[int, int] = (40, 48),
    seed: int = 0,
    splits: tuple[str, ...] = ("val", "test"),
) -> Path:
    """CIRCO layout: JPEGs named by 12-digit COCO-style ids, COCO's image list, and
    annotations whose ``gt_img_ids`` (val; the target first) are every image with the
    target's colour and shape, the reference excepted."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    img_dir = root / "COCO2017_unlabeled" / "unlabeled2017"
    img_dir.mkdir(parents=True, exist_ok=True)
    (root / "COCO2017_unlabeled" / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    ids = sorted(int(i) for i in rng.choice(600_000, size=images, replace=False))
    attrs = dict(zip(ids, _attributes(images, rng)))
    info = []
    for i in ids:
        name = f"{i:012d}.jpg"
        _draw(*attrs[i], rng, size).save(img_dir / name, quality=90)
        info.append({"id": i, "file_name": name, "width": size[0], "height": size[1]})
    (root / "COCO2017_unlabeled" / "annotations" / "image_info_unlabeled2017.json").write_text(
        json.dumps({"info": {}, "images": info}))
    for split in splits:
        items = []
        for q in range(queries_per_split):
            ref, tgt = (ids[int(j)] for j in rng.choice(images, size=2, replace=False))
            c, s = attrs[tgt]
            item = {"id": q, "reference_img_id": ref, "relative_caption": f"is {c} and a {s}",
                    "shared_concept": "a shape"}
            if split == "val":
                item["target_img_id"] = tgt
                item["gt_img_ids"] = [tgt] + [i for i in ids if attrs[i] == attrs[tgt] and i not in (tgt, ref)]
            items.append(item)
        (root / "annotations" / f"{split}.json").write_text(json.dumps(items))
    return root
