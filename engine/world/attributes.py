"""The demo world's attribute vocabulary and the garment record (what a sentence can change).

Every image of the world shows one garment. Its *attributes* are the things a
modification text talks about: category, colour, pattern, sleeve length and, where the
category has them, neckline and length. Everything else about a render (position, scale,
tilt, background, lighting, a pocket or a belt, the pattern's phase) is *nuisance*: it is
not recorded here and never counts for relevance.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from typing import Any, Iterator, Mapping

from engine.world.errors import WorldError

CATEGORIES = ("dress", "shirt", "toptee")
COLOURS = ("black", "white", "grey", "red", "pink", "orange", "yellow", "green", "blue", "purple")
PATTERNS = ("plain", "striped", "dotted", "checked", "floral")
SLEEVES = ("sleeveless", "short", "long")
NECKLINES = ("round", "v-neck")
LENGTHS = ("short", "long")

VALUES: dict[str, tuple[str, ...]] = {
    "colour": COLOURS,
    "pattern": PATTERNS,
    "sleeves": SLEEVES,
    "neckline": NECKLINES,
    "length": LENGTHS,
}

# Which attributes a garment of each category has (a shirt has a collar, so no neckline;
# only a dress has a length a sentence can change).
CATEGORY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "dress": ("colour", "pattern", "sleeves", "neckline", "length"),
    "shirt": ("colour", "pattern", "sleeves"),
    "toptee": ("colour", "pattern", "sleeves", "neckline"),
}

# Ordered attributes, for "longer" / "shorter".
ORDER: dict[str, tuple[str, ...]] = {"sleeves": SLEEVES, "length": LENGTHS}

# Perceived lightness of each colour (roughly CIE L*), for "darker" / "lighter".
LIGHTNESS: dict[str, int] = {
    "black": 12, "white": 96, "grey": 58, "red": 45, "pink": 78,
    "orange": 66, "yellow": 88, "green": 48, "blue": 36, "purple": 32,
}
# "darker" / "lighter" is only said when the two colours differ by at least this much.
LIGHTNESS_STEP = 20


@dataclass(frozen=True, order=True)
class Garment:
    """The attributes of one rendered garment. Attributes the category lacks are None."""

    category: str
    colour: str
    pattern: str
    sleeves: str
    neckline: str | None = None
    length: str | None = None

    def __post_init__(self) -> None:
        if self.category not in CATEGORY_ATTRIBUTES:
            raise WorldError(f"unknown category {self.category!r}; expected one of {CATEGORIES}")
        own = CATEGORY_ATTRIBUTES[self.category]
        for name, allowed in VALUES.items():
            value = getattr(self, name)
            if name in own and value not in allowed:
                raise WorldError(f"{self.category}: {name} {value!r} is not one of {allowed}")
            if name not in own and value is not None:
                raise WorldError(f"a {self.category} has no {name} (got {value!r})")

    @property
    def attributes(self) -> tuple[str, ...]:
        """The names of the attributes this garment has, category excluded."""
        return CATEGORY_ATTRIBUTES[self.category]

    def get(self, attribute: str) -> str:
        if attribute != "category" and attribute not in self.attributes:
            raise WorldError(f"a {self.category} has no {attribute}")
        return getattr(self, attribute)

    def replace(self, **changes: str) -> "Garment":
        d = self.to_json()
        d.update(changes)
        return Garment.from_json(d)

    def differences(self, other: "Garment") -> tuple[str, ...]:
        """Attributes whose values differ (both garments must be of the same category)."""
        if other.category != self.category:
            raise WorldError("only garments of one category can be compared attribute-wise")
        return tuple(a for a in self.attributes if getattr(self, a) != getattr(other, a))

    def to_json(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Garment":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise WorldError(f"unknown attribute(s) {sorted(unknown)}")
        try:
            return cls(**{k: str(v) for k, v in d.items()})
        except TypeError as e:
            raise WorldError(f"incomplete attributes {dict(d)}: {e}") from None


def all_garments(category: str) -> Iterator[Garment]:
    """Every attribute combination of a category, in a fixed order."""
    if category not in CATEGORY_ATTRIBUTES:
        raise WorldError(f"unknown category {category!r}")
    names = CATEGORY_ATTRIBUTES[category]
    for values in itertools.product(*(VALUES[n] for n in names)):
        yield Garment(category=category, **dict(zip(names, values)))


def vocabulary() -> dict[str, Any]:
    """The attribute vocabulary, as written to ``world.json``."""
    return {
        "categories": list(CATEGORIES),
        "values": {k: list(v) for k, v in VALUES.items()},
        "category_attributes": {k: list(v) for k, v in CATEGORY_ATTRIBUTES.items()},
        "lightness": dict(LIGHTNESS),
    }
