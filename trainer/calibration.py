"""Calibration inputs for measuring a bundle's int8 graphs against its float32 ones
(``trainer.quantize``): images and composed queries, prepared as the engine prepares them.

- From a library (the user's own photos): ``n`` indexed photos spread over the catalog
  (seeded), each a reference once, with a sentence from :data:`EDIT_SENTENCES` in turn.
- Else generated (``engine.world``): ``n`` garments rendered as product shots, each a
  reference once, with a modification text the world writes for it and another garment
  of its category (what the demo model was trained on).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.bundle import Bundle
from engine.errors import CirsearchError, ImageDecodeError
from engine.preprocess import preprocess
from engine.references import load_reference

if TYPE_CHECKING:
    from engine.library import Library

# Edits a person might type about their own photos (the library has no captions).
EDIT_SENTENCES = (
    "the same but in black and white",
    "at night instead of during the day",
    "with more people in it",
    "same place but in winter with snow",
    "a close-up of the same thing",
    "in red",
    "outdoors, on a sunny day",
    "without the person",
)
GENERATED_SIZE = (256, 320)  # width, height: portrait product shots, as the demo library's
MIN_IMAGES = 32  # a top-10 over fewer images (less the reference) says little: chance alone gives 10/(N-1)


class CalibrationError(CirsearchError):
    """No calibration images could be had (an empty or unreadable library)."""


@dataclass(frozen=True)
class Calibration:
    pixels: np.ndarray  # (N, 3, S, S) float32, prepared with the bundle's image spec
    refs: np.ndarray  # (M,) index into pixels of each query's reference
    input_ids: np.ndarray  # (M, L) int64
    attention_mask: np.ndarray  # (M, L) int64
    source: str  # "library" or "generated"

    def to_json(self) -> dict:
        return {"source": self.source, "images": len(self.pixels), "queries": len(self.refs)}


def generated_calibration(bundle: Bundle, n: int, seed: int = 0) -> Calibration:
    """``n`` rendered garments, a third of each category, each the reference of one query."""
    from engine.world import CATEGORIES, all_garments, caption_pair, render_seeded

    rng = np.random.default_rng([seed, 11])
    pools = {c: list(all_garments(c)) for c in CATEGORIES}
    pixels, texts = [], []
    for i in range(n):
        pool = pools[CATEGORIES[i % len(CATEGORIES)]]
        ref = pool[int(rng.integers(len(pool)))]
        target = ref
        while target == ref:
            target = pool[int(rng.integers(len(pool)))]
        pixels.append(preprocess(render_seeded(ref, (seed, 11, i), GENERATED_SIZE), bundle.manifest.image))
        texts.append(caption_pair(ref, target, rng)[0].text)
    return _calibration(bundle, pixels, texts, "generated")


def library_calibration(bundle: Bundle, paths: list[str], n: int, seed: int = 0) -> Calibration:
    """Up to ``n`` of the photos at ``paths`` (chosen seeded); unreadable ones are skipped."""
    rng = np.random.default_rng([seed, 13])
    order = rng.permutation(len(paths))
    spec = bundle.manifest.image
    pixels = []
    for i in order:
        if len(pixels) == n:
            break
        try:
            pixels.append(preprocess(load_reference(paths[int(i)]).decode(spec.size), spec))
        except ImageDecodeError:
            continue
    if len(pixels) < MIN_IMAGES:
        raise CalibrationError(f"the library has {len(pixels)} readable indexed photos; measuring int8 against "
                               f"float32 needs at least {MIN_IMAGES}: index more photos, or leave out --library "
                               "to measure on generated images")
    texts = [EDIT_SENTENCES[i % len(EDIT_SENTENCES)] for i in range(len(pixels))]
    return _calibration(bundle, pixels, texts, "library")


def library_photo_paths(folder: str | Path) -> list[str]:
    """One path of each indexed photo of the library in ``folder`` (opened read-only)."""
    from engine.library import Library

    with Library.open(folder, create=False, read_only=True) as lib:
        return photo_paths(lib)


def photo_paths(lib: Library) -> list[str]:
    """One path of each indexed photo of an open library."""
    return [p[0] for p in lib.catalog.paths(lib.catalog.live_ids()).values() if p]


def _calibration(bundle: Bundle, pixels: list[np.ndarray], texts: list[str], source: str) -> Calibration:
    ids, mask = bundle.tokenizer().encode(texts)
    return Calibration(np.stack(pixels).astype(np.float32), np.arange(len(pixels)), ids, mask, source)
