"""How many pixels of the model's input does each attribute change?

A model that confuses two necklines is either failing to learn or being asked to see what
its input does not show. A generated world can tell the two apart: every image is drawn
from its garment and a render seed, so the same photo can be drawn again with one attribute
changed and nothing else (same placement, tilt, light, pattern phase). This tool does that
for every image of a split and every other value of each of its attributes, brings both
renders to the model's input the way the engine does (pad, resize, crop to ``--size``), and
counts the pixels whose largest channel difference exceeds ``--threshold`` (of 255). Per
image and attribute the least visible alternative counts (the one a model could confuse
it with); ``--json`` also keeps each image's counts, to set against a model's errors. Before anything is measured, each image is drawn again unchanged and compared
with the file on disk: a world from another generator version is refused, not measured.

    python tools/demo_model/attribute_visibility.py WORLD [--split val] [--size 96] \\
        [--attributes neckline,sleeves] [--limit N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from engine.preprocess import ImageSpec, center_crop, resize_shorter, target_pad
from engine.world.attributes import VALUES
from engine.world.errors import WorldError
from engine.world.layout import IMAGE_EXT, read_world
from engine.world.plan import WorldConfig, plan_world
from engine.world.render import render_seeded


def _config(meta: dict) -> WorldConfig:
    cfg = dict(meta.get("config") or {})
    if not cfg:
        raise WorldError("world.json has no generator config; the images cannot be drawn again")
    try:
        return WorldConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
    except TypeError as e:  # a key this generator does not know
        raise WorldError(f"world.json's config is not this generator's ({e}); the images cannot be drawn again") from None


def _input(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """The model's input before normalisation, as int16 (size, size, 3)."""
    image = center_crop(resize_shorter(target_pad(image.convert("RGB"), spec.pad_ratio), spec.size, spec.resize),
                        spec.size)
    return np.asarray(image, np.int16)


def attribute_visibility(root: str | Path, split: str = "val", size: int = 96, threshold: int = 40,
                         attributes: tuple[str, ...] | None = None, limit: int | None = None) -> dict:
    world = read_world(root)
    if split not in world.meta["splits"]:
        raise WorldError(f"no split {split!r} in {root} (it has: {', '.join(world.meta['splits'])})")
    unknown = sorted(set(attributes or ()) - set(VALUES))
    if unknown:
        raise WorldError(f"unknown attribute {unknown[0]!r} (there are: {', '.join(VALUES)})")
    plan = plan_world(_config(world.meta))
    spec = ImageSpec(size=size)
    records = [r for r in plan.images if r.split == split][:limit]
    if not records:
        raise WorldError(f"split {split!r} of {root} has no images")
    side = (plan.config.image_size, plan.config.image_size)
    visible: dict[str, list[int]] = {}  # attribute -> per-image pixel count, least visible alternative
    by_colour: dict[tuple[str, str], list[int]] = {}  # (attribute, colour) -> the same
    per_image: dict[str, dict[str, int]] = {}  # name -> attribute -> the same
    for rec in records:
        g = rec.garment
        if world.attributes.get(rec.name) != g:
            raise WorldError(f"{rec.name}: attributes.json disagrees with the world's seed; not this generator's world")
        drawn = render_seeded(g, rec.render_seed, side)
        with Image.open(Path(root) / "images" / f"{rec.name}{IMAGE_EXT}") as f:
            on_disk = np.asarray(f.convert("RGB"), np.int16)
        if on_disk.shape != np.asarray(drawn).shape or not np.array_equal(on_disk, np.asarray(drawn, np.int16)):
            raise WorldError(f"{rec.name}: the image on disk is not what the world's seed draws "
                             "(changed, or written by another generator version)")
        base = _input(drawn, spec)
        for a in g.attributes:
            if attributes and a not in attributes:
                continue
            counts = []
            for v in VALUES[a]:
                if v == g.get(a):
                    continue
                other = _input(render_seeded(g.replace(**{a: v}), rec.render_seed, side), spec)
                counts.append(int((np.abs(other - base).max(axis=2) > threshold).sum()))
            visible.setdefault(a, []).append(min(counts))
            per_image.setdefault(rec.name, {})[a] = min(counts)
            by_colour.setdefault((a, g.colour), []).append(min(counts))

    def summary(v: list[int]) -> dict:
        x = np.asarray(v)
        return {"images": len(x), "median": float(np.median(x)), "p5": float(np.percentile(x, 5)),
                "min": int(x.min()), "under_10": 100 * float(np.mean(x < 10))}

    return {"split": split, "size": size, "threshold": threshold,
            "attributes": {a: summary(v) for a, v in sorted(visible.items())},
            "by_colour": {f"{a} {c}": summary(v) for (a, c), v in sorted(by_colour.items())},
            "per_image": per_image}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("world")
    p.add_argument("--split", default="val")
    p.add_argument("--size", type=int, default=96, help="the model's input side in pixels (tiny: 96)")
    p.add_argument("--threshold", type=int, default=40, help="a pixel counts when a channel moves more than this")
    p.add_argument("--attributes", default=None, help="comma-separated (default: all)")
    p.add_argument("--limit", type=int, default=None, help="the first N images of the split")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if args.size < 8 or not 0 <= args.threshold < 255 or (args.limit is not None and args.limit < 1):
        print("error: --size must be at least 8, --threshold in 0..254, --limit at least 1", file=sys.stderr)
        return 2
    names = tuple(a.strip() for a in args.attributes.split(",") if a.strip()) if args.attributes else None
    try:
        out = attribute_visibility(args.world, args.split, args.size, args.threshold, names, args.limit)
    except (WorldError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"pixels of the {out['size']} px input that change by more than {out['threshold']}/255 when one "
          f"attribute changes ({out['split']}; per image, the least visible other value):")
    for title, rows in (("attribute", out["attributes"]), ("attribute by colour", out["by_colour"])):
        print(f"{title}:")
        for name, r in rows.items():
            print(f"  {name:20s} median {r['median']:6.1f}  5th pct {r['p5']:6.1f}  min {r['min']:4d}  "
                  f"under 10 px {r['under_10']:5.1f} %  ({r['images']} images)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
