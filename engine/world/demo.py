"""A small demo photo library for ``cirsearch demo`` and the app's first run.

``render_demo_library(out_dir, n, seed)`` writes ``n`` garment photos as JPEGs with EXIF
into a few subfolders, as a phone or a shop would: some are stored sideways or upside
down with the EXIF orientation that turns them upright, so a viewer (and the engine)
must honour the tag. It also writes ``demo.json``: each photo's attributes and a few
example queries (a reference photo, a sentence, and every photo that satisfies it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from engine.atomic import atomic_write_json
from engine.world.attributes import CATEGORIES, Garment
from engine.world.captions import compose
from engine.world.errors import WorldError
from engine.world.plan import choose_combinations
from engine.world.render import render_seeded

FOLDERS = {"dress": "dresses", "shirt": "shirts", "toptee": "tops"}
PHOTO_SIZE = (256, 320)  # width, height of the upright photo: portrait, like a product shot
RENDERS = 5  # photos per attribute combination
# EXIF orientation -> the transpose that turns an upright photo into the stored pixels
# (the inverse of what a viewer applies for that tag).
STORE = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
ORIENTATION, MAKE, MODEL, SOFTWARE, DATETIME = 0x0112, 0x010F, 0x0110, 0x0131, 0x0132
EXIF_IFD, DATETIME_ORIGINAL = 0x8769, 0x9003
SOFTWARE_NAME = "cirsearch engine.world"


@dataclass(frozen=True)
class DemoPhoto:
    path: str  # relative to the library root, with forward slashes
    garment: Garment
    orientation: int  # EXIF orientation tag written (1 = upright as stored)


@dataclass(frozen=True)
class DemoQuery:
    reference: str
    text: str
    relevant: tuple[str, ...]  # every photo that satisfies the query


@dataclass(frozen=True)
class DemoLibrary:
    root: Path
    photos: tuple[DemoPhoto, ...]
    queries: tuple[DemoQuery, ...]


def _orientation(rng: np.random.Generator) -> int:
    r = rng.random()
    return 6 if r < 0.12 else 8 if r < 0.2 else 3 if r < 0.25 else 1


def _exif(orientation: int, when: datetime) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "cirsearch"
    exif[MODEL] = "demo world renderer"
    exif[SOFTWARE] = SOFTWARE_NAME
    exif[DATETIME] = when.strftime("%Y:%m:%d %H:%M:%S")
    exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = when.strftime("%Y:%m:%d %H:%M:%S")
    return exif


def save_photo(upright: Image.Image, path: Path, orientation: int, when: datetime) -> None:
    """Store ``upright`` so that applying its EXIF ``orientation`` shows it upright again."""
    stored = upright.transpose(STORE[orientation]) if orientation in STORE else upright
    stored.save(path, "JPEG", quality=90, exif=_exif(orientation, when).tobytes())


def _is_ours(path: Path) -> bool:
    """Whether an existing file is a photo an earlier (interrupted) run of this module wrote."""
    try:
        with Image.open(path) as im:
            return im.getexif().get(SOFTWARE) == SOFTWARE_NAME
    except (OSError, ValueError):
        return False


def _plan(n: int, rng: np.random.Generator) -> list[Garment]:
    garments: list[Garment] = []
    for category, share in zip(CATEGORIES, (n // 3 + (i < n % 3) for i in range(3))):
        combos = choose_combinations(category, max(2, share // RENDERS), rng)
        garments += [combos[i % len(combos)] for i in range(share)]
    return garments


def _queries(photos: list[DemoPhoto], count: int, rng: np.random.Generator) -> list[DemoQuery]:
    by_garment: dict[Garment, list[str]] = {}
    for p in photos:
        by_garment.setdefault(p.garment, []).append(p.path)
    out: list[DemoQuery] = []
    for _ in range(count * 20):
        if len(out) == count:
            break
        category = CATEGORIES[len(out) % len(CATEGORIES)]
        want = 1 if len(out) < count // 2 else 2
        refs = [p for p in photos if p.garment.category == category]
        ref = refs[int(rng.integers(len(refs)))]
        targets = [g for g in by_garment if g.category == category and len(ref.garment.differences(g)) == want
                   and len(by_garment[g]) >= 3]
        if not targets:
            continue
        target = targets[int(rng.integers(len(targets)))]
        if any(q.reference == ref.path for q in out):
            continue
        style = ("imp", "same", "want", "pred")[len(out) % 4]
        changes = list(ref.garment.differences(target))
        caption = compose(ref.garment, target, changes, rng, style=style, vague=0.0, keep=0.0, casual=False)
        out.append(DemoQuery(ref.path, caption.text, tuple(sorted(by_garment[target]))))
    return out


def render_demo_library(out_dir: str | Path, n: int = 300, seed: int = 0, queries: int = 8) -> DemoLibrary:
    """Write the demo library under ``out_dir`` (created if needed).

    Refuses a folder that already holds a library (``demo.json``) or a file of its own
    where a demo photo would go; photos left by an interrupted run are rewritten.
    """
    if n < 3 * 2 * RENDERS:
        raise WorldError(f"a demo library needs at least {3 * 2 * RENDERS} photos (got {n})")
    root = Path(out_dir)
    if (root / "demo.json").exists():
        raise WorldError(f"{root} already holds a demo library")
    if root.exists() and not root.is_dir():
        raise WorldError(f"{root} exists and is not a folder")
    rng = np.random.default_rng([seed, 7])
    garments = _plan(n, rng)
    order = rng.permutation(len(garments))
    paths = [f"{FOLDERS[garments[int(i)].category]}/IMG_{k + 1:04d}.jpg" for k, i in enumerate(order)]
    foreign = [p for p in paths if (root / p).exists() and not _is_ours(root / p)]
    if foreign:
        raise WorldError(f"{root} already holds {foreign[0]} (not a demo photo); choose another folder")
    start = datetime(2024, 5, 1, 9, 0, 0)
    photos: list[DemoPhoto] = []
    for k, (i, rel) in enumerate(zip(order, paths)):
        g = garments[int(i)]
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        orientation = _orientation(rng)
        when = start + timedelta(minutes=int(rng.integers(0, 60 * 24 * 200)))
        save_photo(render_seeded(g, (seed, 7, k), PHOTO_SIZE), root / rel, orientation, when)
        photos.append(DemoPhoto(rel, g, orientation))
    qs = _queries(photos, queries, rng)
    meta = {
        "generator": "cirsearch-world demo library", "version": 1, "seed": seed,
        "photos": {p.path: {**p.garment.to_json(), "exif_orientation": p.orientation} for p in photos},
        "queries": [{"reference": q.reference, "text": q.text, "relevant": list(q.relevant)} for q in qs],
    }
    # not durable: the library is drawn again from its seed
    atomic_write_json(root / "demo.json", meta, durable=False, indent=1)
    return DemoLibrary(root, tuple(photos), tuple(qs))


def read_demo_queries(root: str | Path) -> list[DemoQuery]:
    """The example queries of a library written by :func:`render_demo_library`."""
    path = Path(root) / "demo.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        return [DemoQuery(q["reference"], q["text"], tuple(q["relevant"])) for q in meta["queries"]]
    except FileNotFoundError:
        raise WorldError(f"{path} is missing: not a demo library") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise WorldError(f"{path} is not a demo library description: {e}") from None
