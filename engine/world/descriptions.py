"""Descriptions of one garment, for image-text pretraining: "a green checked long-sleeved
dress with a v-neck".

A description states the garment's category (its noun) and some of its attributes, each
left out with probability ``omit``, in shuffled order, each worded either as an adjective
before the noun ("checked", "long-sleeved") or as a phrase after it ("with a v-neck",
"in green"). The words come from the caption tables of :mod:`engine.world.phrases`, the
same ones the modification captions use, so pretraining teaches the vocabulary the
captions speak.

Each :class:`Description` carries what it states, so a trainer knows which images it fits
(``fits``) without parsing words: "a green dress" fits every green dress, whatever its
pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

import numpy as np

from engine.world.attributes import VALUES, Garment
from engine.world.phrases import NOUNS, Statement, fill, fillers, templates

POST_SHARE = 0.35  # chance an attribute is worded after the noun when it can be


@dataclass(frozen=True)
class Description:
    text: str
    stated: tuple[tuple[str, str], ...]  # (attribute, value) pairs; ("category", ...) first

    def fits(self, garment: Garment) -> bool:
        """Whether every stated attribute is true of ``garment``."""
        for attribute, value in self.stated:
            if attribute == "category":
                if garment.category != value:
                    return False
            elif attribute not in garment.attributes or garment.get(attribute) != value:
                return False
        return True


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _word(attribute: str, garment: Garment, frame: str, rng: np.random.Generator) -> str:
    st = Statement(attribute, "is", garment.get(attribute))
    options = fillers(st, garment.category)
    return fill(_pick(rng, templates(st)[frame]), {k: _pick(rng, v) for k, v in options.items()})


def describe(garment: Garment, rng: np.random.Generator, omit: float = 0.3,
             always: Collection[str] = ()) -> Description:
    """One random description of ``garment`` (see the module doc). Attributes in ``always``
    are stated whatever the draw (the draw is still made, so the random stream is the same)."""
    if not 0.0 <= omit < 1.0:
        raise ValueError("omit must be in [0, 1)")
    kept = [a for a in garment.attributes if rng.random() >= omit or a in always]
    before, after = [], []
    for i in rng.permutation(len(kept)):
        attribute = kept[int(i)]
        frames = templates(Statement(attribute, "is", garment.get(attribute)))
        frame = "post" if "post" in frames and rng.random() < POST_SHARE else "adj"
        (after if frame == "post" else before).append(_word(attribute, garment, frame, rng))
    words = " ".join([*before, _pick(rng, NOUNS[garment.category])])
    if rng.random() < 0.8:
        words = ("an " if words[0] in "aeiou" else "a ") + words
    text = " ".join([words, *after])
    stated = (("category", garment.category), *((a, garment.get(a)) for a in sorted(kept)))
    return Description(text, stated)


def near_miss(garment: Garment, rng: np.random.Generator, omit: float = 0.3) -> Description:
    """A description that is false of ``garment`` in exactly one attribute: one of its
    attributes (uniformly) takes another value (uniformly) and is always stated; the rest
    are worded and left out as :func:`describe` does. "a green checked dress with a round
    neck" for a green checked v-neck dress: as an extra negative text in image-text
    contrastive learning (NegCLIP's hard negative captions) it can only be told from the
    true description by the one attribute it changes."""
    attribute = garment.attributes[int(rng.integers(len(garment.attributes)))]
    others = [v for v in VALUES[attribute] if v != garment.get(attribute)]
    changed = garment.replace(**{attribute: others[int(rng.integers(len(others)))]})
    return describe(changed, rng, omit, always=(attribute,))


def full_description(garment: Garment, rng: np.random.Generator) -> Description:
    """A description that states every attribute (probes and tests)."""
    return describe(garment, rng, omit=0.0)


def sampled_descriptions(garments: list[Garment], count: int, seed: int = 0) -> list[str]:
    """Texts of ``count`` random descriptions (for the vocabulary corpus)."""
    rng = np.random.default_rng([seed, 7])
    return [describe(garments[int(rng.integers(len(garments)))], rng).text for _ in range(count)]
