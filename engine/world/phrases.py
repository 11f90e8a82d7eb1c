"""What can be said about one attribute: templates per (attribute, relation, value) and frame.

A :class:`Statement` is one claim a caption makes about the target (given the reference):

- ``is`` / ``is_not``: the target's value is / is not ``value``;
- ``same``: the target keeps the reference's value (``value``);
- ``darker`` / ``lighter`` (colour), ``longer`` / ``shorter`` (sleeves, length): the
  target's value compares so with the reference's (``value`` is the target's).

Each claim can be worded in four *frames* so captions of different shapes can be built:
``pred`` follows a subject ("is red", "has stripes"), ``imp`` is an order ("make it red"),
``post`` follows a noun ("in red", "with stripes"), ``adj`` precedes one ("red", "striped").
Templates hold placeholders; :func:`fillers` lists what may stand in each, so the same
tables serve both the random captions and the exhaustive vocabulary corpus.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Iterator

from engine.world.attributes import LIGHTNESS, LIGHTNESS_STEP, ORDER, Garment

RELATIONS = ("is", "is_not", "same", "darker", "lighter", "longer", "shorter")
FRAMES = ("pred", "imp", "post", "adj")

NOUNS = {
    "dress": ("dress",),
    "shirt": ("shirt", "button-up shirt", "button-down", "blouse"),
    "toptee": ("top", "tee", "t-shirt"),
}


@dataclass(frozen=True)
class Statement:
    attribute: str
    relation: str
    value: str

    def holds(self, reference: Garment, target: Garment) -> bool:
        """Whether this claim is true of ``target`` seen from ``reference``."""
        t, r = target.get(self.attribute), reference.get(self.attribute)
        if self.relation == "is":
            return t == self.value
        if self.relation == "is_not":
            return t != self.value
        if self.relation == "same":
            return t == r == self.value
        if self.relation in ("darker", "lighter"):
            step = LIGHTNESS[r] - LIGHTNESS[t] if self.relation == "darker" else LIGHTNESS[t] - LIGHTNESS[r]
            return self.attribute == "colour" and t == self.value and step >= LIGHTNESS_STEP
        if self.relation in ("longer", "shorter"):
            order = ORDER[self.attribute]
            delta = order.index(t) - order.index(r)
            return t == self.value and (delta > 0 if self.relation == "longer" else delta < 0)
        raise ValueError(f"unknown relation {self.relation!r}")

    def to_json(self) -> list[str]:
        return [self.attribute, self.relation, self.value]

    @classmethod
    def from_json(cls, d: list[str]) -> "Statement":
        a, rel, v = d
        return cls(str(a), str(rel), str(v))


# --- words -----------------------------------------------------------------------------

COLOUR_WORD = ("colour", "color")
PATTERN_ADJ = {
    "plain": ("plain", "solid"),
    "striped": ("striped",),
    "dotted": ("polka dot", "dotted", "spotted"),
    "checked": ("checked", "plaid", "checkered", "gingham"),
    "floral": ("floral", "flowery"),
}
PATTERN_HAS = {  # "has ...", "with ..."
    "striped": ("stripes", "a striped pattern"),
    "dotted": ("polka dots", "dots", "spots", "a polka dot pattern"),
    "checked": ("checks", "a plaid pattern", "a checked pattern"),
    "floral": ("flowers", "a floral print", "a flower pattern"),
}
PATTERN_THE = {  # "remove the ...", "without ..."
    "striped": ("stripes",),
    "dotted": ("polka dots", "dots", "spots"),
    "checked": ("checks", "plaid"),
    "floral": ("flowers", "floral print"),
}
SLEEVE_ADJ = {
    "sleeveless": ("sleeveless",),
    "short": ("short-sleeved", "short sleeve", "short sleeved"),
    "long": ("long-sleeved", "long sleeve", "long sleeved"),
}
NECK_ADJ = {"v-neck": ("v-neck", "v neck"), "round": ("crew-neck", "round-neck", "crew neck")}
NECK_NOUN = {"v-neck": ("v-neck", "v neck", "v neckline"), "round": ("round neck", "crew neck", "round neckline")}
LENGTH_ADJ = {
    "short": ("short", "mini", "knee-length", "knee length"),
    "long": ("long", "maxi", "floor-length", "floor length"),
}


def colour_words(v: str) -> tuple[str, ...]:
    return ("grey", "gray") if v == "grey" else (v,)


# --- templates ---------------------------------------------------------------------------

Table = dict[str, tuple[str, ...]]


def _colour(rel: str, v: str) -> Table:
    if rel == "is":
        return {
            "pred": ("is {v}", "is {v} in {c}", "is in {v}", "comes in {v}", "has a {v} {c}"),
            "imp": (
                "make it {v}",
                "change the {c} to {v}",
                "change it to {v}",
                "turn it {v}",
                "switch to {v}",
                "make the {n} {v}",
            ),
            "post": ("in {v}", "in a {v} {c}"),
            "adj": ("{v}",),
        }
    if rel == "is_not":
        return {
            "pred": ("is not {v}", "is no longer {v}", "isn't {v}"),
            "imp": ("change the {c} from {v}", "lose the {v}", "get rid of the {v} {c}"),
            "post": ("not in {v}", "in a {c} other than {v}"),
        }
    if rel == "same":
        return {
            "pred": ("is still {v}", "keeps the {v} {c}", "is the same {c}", "has the same {c}"),
            "imp": ("keep it {v}", "keep the {c}", "keep the same {c}", "keep the {v}"),
            "post": ("in the same {c}", "still in {v}"),
        }
    word, verb = ("darker", "darken") if rel == "darker" else ("lighter", "lighten")
    return {
        "pred": (
            f"is {word}",
            f"is a {word} {{c}}",
            f"is {word} in {{c}}",
            f"has a {word} {{c}}",
            f"is a {word} shade",
        ),
        "imp": (f"make it {word}", f"use a {word} {{c}}", f"go {word}", f"{verb} the {{c}}", f"make it a bit {word}"),
        "post": (f"in a {word} {{c}}", f"in a {word} shade"),
        "adj": (word,),
    }


def _pattern(rel: str, v: str) -> Table:
    if rel == "is" and v == "plain":
        return {
            "pred": ("is plain", "is solid", "has no pattern", "is a solid {c}", "is plain with no pattern"),
            "imp": ("remove the pattern", "make it plain", "make it solid", "get rid of the pattern"),
            "post": ("with no pattern", "without a pattern", "in a solid {c}"),
            "adj": ("{a}",),
        }
    if rel == "is":
        return {
            "pred": ("is {a}", "has {h}"),
            "imp": ("make it {a}", "add {h}", "give it {h}", "change the pattern to {h}", "put {h} on it"),
            "post": ("with {h}",),
            "adj": ("{a}",),
        }
    if rel == "is_not" and v == "plain":
        return {
            "pred": ("has a pattern", "is patterned", "is not plain", "isn't plain"),
            "imp": ("add a pattern", "make it patterned", "add some pattern"),
            "post": ("with a pattern", "with some pattern"),
            "adj": ("patterned",),
        }
    if rel == "is_not":
        return {
            "pred": ("is not {a}", "has no {t}", "does not have {t}", "doesn't have {t}"),
            "imp": ("remove the {t}", "lose the {t}", "get rid of the {t}", "take away the {t}"),
            "post": ("without {t}", "without the {t}", "with no {t}"),
        }
    # same
    if v == "plain":
        return {
            "pred": ("is still plain", "is still solid", "still has no pattern", "has the same pattern"),
            "imp": ("keep it plain", "keep it solid", "keep the same pattern"),
            "post": ("with the same pattern", "still with no pattern"),
        }
    return {
        "pred": ("is still {a}", "still has {t}", "has the same pattern", "keeps the {t}"),
        "imp": ("keep the {t}", "keep the pattern", "keep the same pattern"),
        "post": ("with the same pattern", "still with {t}"),
    }


def _sleeves(rel: str, v: str) -> Table:
    if rel == "is" and v == "sleeveless":
        return {
            "pred": ("is sleeveless", "has no sleeves", "does not have sleeves", "doesn't have sleeves"),
            "imp": (
                "remove the sleeves",
                "make it sleeveless",
                "cut off the sleeves",
                "take off the sleeves",
                "lose the sleeves",
            ),
            "post": ("without sleeves", "with no sleeves"),
            "adj": ("sleeveless",),
        }
    if rel == "is":
        return {
            "pred": ("has {v} sleeves", "is {a}"),
            "imp": ("give it {v} sleeves", "make the sleeves {v}", "add {v} sleeves", "change to {v} sleeves"),
            "post": ("with {v} sleeves",),
            "adj": ("{a}",),
        }
    if rel == "is_not":  # only ever said of "sleeveless"
        return {
            "pred": ("has sleeves", "is not sleeveless"),
            "imp": ("add sleeves", "give it sleeves", "put sleeves on it"),
            "post": ("with sleeves",),
        }
    if rel in ("longer", "shorter"):
        verb = "lengthen" if rel == "longer" else "shorten"
        return {
            "pred": (f"has {rel} sleeves",),
            "imp": (f"make the sleeves {rel}", f"{verb} the sleeves", f"use {rel} sleeves"),
            "post": (f"with {rel} sleeves",),
        }
    if v == "sleeveless":
        return {
            "pred": ("is still sleeveless", "still has no sleeves"),
            "imp": ("keep it sleeveless",),
            "post": ("still without sleeves",),
        }
    return {
        "pred": ("still has {v} sleeves", "keeps the {v} sleeves", "has the same sleeves"),
        "imp": ("keep the {v} sleeves", "keep the sleeves", "keep the same sleeves"),
        "post": ("with the same {v} sleeves", "with the same sleeves"),
    }


def _neckline(rel: str, v: str) -> Table:
    if rel == "is":
        return {
            "pred": ("has a {k}", "is {a}"),
            "imp": ("give it a {k}", "change to a {k}", "change the neckline to a {k}"),
            "post": ("with a {k}",),
            "adj": ("{a}",),
        }
    if rel == "is_not":
        return {
            "pred": ("does not have a {k}", "doesn't have a {k}"),
            "imp": ("lose the {k}", "remove the {k}"),
            "post": ("without a {k}",),
        }
    return {
        "pred": ("keeps the {k}", "has the same neckline", "still has a {k}"),
        "imp": ("keep the {k}", "keep the neckline", "keep the same neckline"),
        "post": ("with the same neckline",),
    }


def _length(rel: str, v: str) -> Table:
    if rel == "is":
        return {
            "pred": ("is {a}", "is a {a} {n}"),
            "imp": ("make it {a}", "make the {n} {a}"),
            "post": ("in a short length", "that ends above the knee")
            if v == "short"
            else ("in a long length", "that reaches the floor"),
            "adj": ("{a}",),
        }
    if rel in ("longer", "shorter"):
        verb = "lengthen" if rel == "longer" else "shorten"
        return {
            "pred": (f"is {rel}", f"is {rel} in length"),
            "imp": (f"make it {rel}", f"{verb} it", f"make the {{n}} {rel}"),
            "post": (rel,),
            "adj": (rel,),
        }
    if rel == "is_not":
        return {"pred": ("is not {a}",), "post": ("that is not {a}",)}
    return {
        "pred": ("is still {a}", "is the same length", "keeps the same length"),
        "imp": ("keep the length", "keep it {a}", "keep the same length"),
        "post": ("in the same length",),
    }


TABLES = {"colour": _colour, "pattern": _pattern, "sleeves": _sleeves, "neckline": _neckline, "length": _length}


def templates(st: Statement) -> Table:
    """The templates that word ``st``, by frame (a frame may be missing)."""
    return TABLES[st.attribute](st.relation, st.value)


def fillers(st: Statement, category: str) -> dict[str, tuple[str, ...]]:
    """What may stand for each placeholder in ``st``'s templates."""
    v = st.value
    f: dict[str, tuple[str, ...]] = {"c": COLOUR_WORD, "n": NOUNS[category]}
    if st.attribute == "colour":
        f["v"] = colour_words(v)
    elif st.attribute == "pattern":
        f["a"] = PATTERN_ADJ[v]
        f["h"] = PATTERN_HAS.get(v, ("no pattern",))
        f["t"] = PATTERN_THE.get(v, ("pattern",))
    elif st.attribute == "sleeves":
        f["v"] = (v,)
        f["a"] = SLEEVE_ADJ[v]
    elif st.attribute == "neckline":
        f["k"] = NECK_NOUN[v]
        f["a"] = NECK_ADJ[v]
    elif st.attribute == "length":
        f["a"] = LENGTH_ADJ[v]
    return f


_SLOT = re.compile(r"\{(\w)\}")


def fill(template: str, choices: dict[str, str]) -> str:
    return _SLOT.sub(lambda m: choices[m.group(1)], template)


def expand(template: str, options: dict[str, tuple[str, ...]]) -> Iterator[str]:
    """Every wording of ``template`` (for the vocabulary corpus)."""
    slots = sorted(set(_SLOT.findall(template)))
    for combo in itertools.product(*(options[s] for s in slots)):
        yield fill(template, dict(zip(slots, combo)))
