"""Writing a planned world to disk in FashionIQ's layout, and reading one back.

::

    DIR/images/<name>.png                         the renders (PNG, like FashionIQ)
    DIR/image_splits/split.<category>.<split>.json  names in that split
    DIR/captions/cap.<category>.<split>.json      [{"candidate", "target", "captions": [c1, c2]}]
    DIR/statements/cap.<category>.<split>.json    aligned with captions/: what each caption claims
    DIR/attributes.json                           name -> {category, colour, pattern, sleeves, ...}
    DIR/world.json                                generator, version, config, vocabulary, counts

``world.json`` is written last: a folder without it is an unfinished world.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.atomic import atomic_write_json
from engine.world.attributes import Garment, vocabulary
from engine.world.captions import Caption
from engine.world.errors import WorldError
from engine.world.phrases import Statement
from engine.world.plan import SPLITS, ImageRecord, Triplet, WorldConfig, WorldPlan
from engine.world.render import render_seeded

GENERATOR = "cirsearch-world"
VERSION = 1
IMAGE_EXT = ".png"
OWNED = ("images", "image_splits", "captions", "statements", "attributes.json", "world.json")
RELEVANCE = ("an image satisfies a query when it is not the reference and its category and every "
             "attribute equal the target's (changed attributes as the captions state them, the rest "
             "kept from the reference); nuisance (placement, tilt, background, light, details) does not count")

Progress = Callable[[int, int], None]


def _dump(path: Path, obj: Any) -> None:
    # not durable: a generated world is drawn again from its seed
    atomic_write_json(path, obj, durable=False, indent=1)


def prepare_dir(out: Path, overwrite: bool) -> None:
    """Make ``out`` ready; refuse to touch anything that is not a previous world's."""
    if out.exists() and not out.is_dir():
        raise WorldError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / "world.json").is_file():
            raise WorldError(f"{out} is not empty and holds no world.json; choose an empty or new folder")
        if not overwrite:
            raise WorldError(f"{out} already holds a world; pass overwrite=True (--overwrite) to replace it")
        strangers = sorted(p.name for p in out.iterdir() if p.name not in OWNED)
        if strangers:
            raise WorldError(f"{out} holds files a world does not write ({', '.join(strangers[:5])}); not replacing it")
        for name in OWNED:
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    for sub in ("images", "image_splits", "captions", "statements"):
        (out / sub).mkdir(parents=True, exist_ok=True)


def _render_one(args: tuple[ImageRecord, Path, int]) -> None:
    rec, out, size = args
    render_seeded(rec.garment, rec.render_seed, (size, size)).save(
        out / "images" / f"{rec.name}{IMAGE_EXT}", compress_level=4
    )


def render_images(plan: WorldPlan, out: Path, workers: int = 1, progress: Progress | None = None) -> None:
    jobs = [(rec, out, plan.config.image_size) for rec in plan.images]
    if workers <= 1:
        for i, job in enumerate(jobs):
            _render_one(job)
            if progress:
                progress(i + 1, len(jobs))
        return
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        for i, _ in enumerate(pool.imap_unordered(_render_one, jobs, chunksize=16)):
            if progress:
                progress(i + 1, len(jobs))


def _triplet_json(t: Triplet) -> dict[str, Any]:
    return {"candidate": t.candidate, "target": t.target, "captions": [c.text for c in t.captions]}


def _statements_json(t: Triplet) -> dict[str, Any]:
    return {
        "candidate": t.candidate,
        "target": t.target,
        "statements": [[s.to_json() for s in c.statements] for c in t.captions],
        "styles": [c.style for c in t.captions],
    }


def counts(plan: WorldPlan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    attributes = plan.attributes()  # built once: per name it made counting quadratic (minutes at 30,000)
    for split in SPLITS:
        for category in plan.config.categories:
            names = plan.split_names(category, split)
            out[f"{category}.{split}"] = {
                "images": len(names),
                "combinations": len({attributes[n] for n in names}),
                "triplets": len(plan.triplets[(category, split)]),
            }
    return out


def write_world(
    plan: WorldPlan, out: str | Path, overwrite: bool = False, workers: int = 1, progress: Progress | None = None
) -> Path:
    """Render and write ``plan`` under ``out``; returns the folder. ``progress(done, total)`` per image."""
    out = Path(out)
    prepare_dir(out, overwrite)
    render_images(plan, out, workers, progress)
    for (category, split), triplets in plan.triplets.items():
        _dump(out / "image_splits" / f"split.{category}.{split}.json", plan.split_names(category, split))
        _dump(out / "captions" / f"cap.{category}.{split}.json", [_triplet_json(t) for t in triplets])
        _dump(out / "statements" / f"cap.{category}.{split}.json", [_statements_json(t) for t in triplets])
    _dump(out / "attributes.json", {r.name: r.garment.to_json() for r in plan.images})
    _dump(
        out / "world.json",
        {
            "generator": GENERATOR,
            "version": VERSION,
            "seed": plan.config.seed,
            "config": plan.config.to_json(),
            "vocabulary": vocabulary(),
            "image_ext": IMAGE_EXT,
            "image_size": plan.config.image_size,
            "splits": list(SPLITS),
            "categories": list(plan.config.categories),
            "counts": counts(plan),
            "relevance": RELEVANCE,
        },
    )
    return out


@dataclass(frozen=True)
class World:
    """A world read back from disk."""

    root: Path
    meta: dict[str, Any]
    attributes: dict[str, Garment]
    splits: dict[tuple[str, str], list[str]]  # (category, split) -> names
    triplets: dict[tuple[str, str], list[Triplet]]

    def image_path(self, name: str) -> Path:
        return self.root / "images" / f"{name}{self.meta.get('image_ext', IMAGE_EXT)}"


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorldError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WorldError(f"{path} is not valid JSON: {e}") from None


def read_world(root: str | Path) -> World:
    """Read a world written by :func:`write_world` (captions with their statements)."""
    root = Path(root)
    meta = _load(root / "world.json")
    if meta.get("generator") != GENERATOR:
        raise WorldError(f"{root / 'world.json'} was not written by {GENERATOR}")
    if int(meta.get("version", 0)) > VERSION:
        raise WorldError(f"{root} is a version {meta['version']} world; this cirsearch reads up to {VERSION}")
    attributes = {k: Garment.from_json(v) for k, v in _load(root / "attributes.json").items()}
    splits, triplets = {}, {}
    for category in meta["categories"]:
        for split in meta["splits"]:
            key = (category, split)
            splits[key] = list(_load(root / "image_splits" / f"split.{category}.{split}.json"))
            caps = _load(root / "captions" / f"cap.{category}.{split}.json")
            stms = _load(root / "statements" / f"cap.{category}.{split}.json")
            if len(caps) != len(stms):
                raise WorldError(f"{category}.{split}: captions and statements files differ in length")
            triplets[key] = [
                Triplet(
                    c["candidate"],
                    c["target"],
                    tuple(  # type: ignore[arg-type]
                        Caption(text, tuple(Statement.from_json(x) for x in sts), style)
                        for text, sts, style in zip(c["captions"], s["statements"], s["styles"])
                    ),
                )
                for c, s in zip(caps, stms)
            ]
    return World(root, meta, attributes, splits, triplets)


def generate(
    config: WorldConfig, out: str | Path, overwrite: bool = False, workers: int = 1, progress: Progress | None = None
) -> Path:
    """Plan and write a world in one call."""
    from engine.world.plan import plan_world

    return write_world(plan_world(config), out, overwrite, workers, progress)
