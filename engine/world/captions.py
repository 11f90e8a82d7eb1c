"""Modification texts: how a target garment differs from a reference, in plain varied English.

``caption_pair(reference, target, rng)`` returns two :class:`Caption` (FashionIQ gives two
per triplet). Each caption carries the structured record of what it claims
(:class:`~engine.world.phrases.Statement`), built *before* the words, so tests check the
claims against the target without parsing text. Between them the two captions mention
every changed attribute; each is sometimes partial, sometimes vague ("darker", "has
sleeves", "without the stripes") and sometimes mentions something that stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.world.attributes import LIGHTNESS, LIGHTNESS_STEP, ORDER, Garment
from engine.world.phrases import PATTERN_ADJ, Statement, colour_words, fill, fillers, templates

STYLES = ("pred", "imp", "same", "want", "instead")
STYLE_WEIGHTS = (0.34, 0.24, 0.16, 0.16, 0.10)
ADJ_ORDER = ("length", "colour", "pattern", "sleeves", "neckline")


@dataclass(frozen=True)
class Caption:
    text: str
    statements: tuple[Statement, ...]
    style: str

    def holds(self, reference: Garment, target: Garment) -> bool:
        return all(s.holds(reference, target) for s in self.statements)

    def mentions(self) -> set[str]:
        """Attributes this caption says something about (beyond 'the rest stays the same')."""
        return {s.attribute for s in self.statements if s.relation != "same"}


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


# --- what to claim ---------------------------------------------------------------------


def claim_change(attribute: str, reference: Garment, target: Garment, rng: np.random.Generator,
                 vague: float = 1.0) -> Statement:
    """One true statement about a changed attribute: usually its new value, sometimes vaguer."""
    r, t = reference.get(attribute), target.get(attribute)
    options: list[Statement] = [Statement(attribute, "is_not", r)]
    if attribute == "colour" and abs(LIGHTNESS[t] - LIGHTNESS[r]) >= LIGHTNESS_STEP:
        options.append(Statement("colour", "darker" if LIGHTNESS[t] < LIGHTNESS[r] else "lighter", t))
    if attribute in ORDER and not (attribute == "sleeves" and "sleeveless" in (r, t)):
        order = ORDER[attribute]
        options.append(Statement(attribute, "longer" if order.index(t) > order.index(r) else "shorter", t))
    if attribute == "sleeves" and r == "sleeveless":
        options = [Statement("sleeves", "is_not", "sleeveless")]
    elif attribute == "sleeves":
        options = [s for s in options if s.relation != "is_not"]
    if attribute == "pattern" and r == "plain":
        options = [Statement("pattern", "is_not", "plain")]
    p_vague = (0.4 if attribute == "length" else 0.2) * vague
    if options and rng.random() < p_vague:
        return options[int(rng.integers(len(options)))]
    return Statement(attribute, "is", t)


def plan_pair(reference: Garment, target: Garment, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Which changed attributes each caption mentions: together all of them, the second often fewer.

    Like FashionIQ's annotators, the first caption tends to cover the changes and the
    second adds what the first left out or repeats one or two of them.
    """
    changed = list(reference.differences(target))
    if not changed:
        raise ValueError("reference and target have the same attributes")

    def subset(pool: list[str], most: int) -> list[str]:
        k = int(rng.integers(1, min(most, len(pool)) + 1))
        return [pool[i] for i in sorted(rng.choice(len(pool), k, replace=False))]

    first = list(changed) if len(changed) == 1 or rng.random() < 0.55 else subset(changed, len(changed) - 1)
    left = [a for a in changed if a not in first]
    if left:
        second = left + [a for a in first if rng.random() < 0.25]
    else:
        second = subset(changed, 2)
    return first, [a for a in changed if a in second]


# --- how to say it -----------------------------------------------------------------------


def word(st: Statement, frame: str, category: str, rng: np.random.Generator) -> str | None:
    """One wording of ``st`` in ``frame``, or None if the frame has no template for it."""
    table = templates(st).get(frame)
    if not table:
        return None
    opts = fillers(st, category)
    return fill(_pick(rng, table), {k: _pick(rng, v) for k, v in opts.items()})


def _join(parts: list[str], rng: np.random.Generator, comma: bool = True) -> str:
    if len(parts) == 1:
        return parts[0]
    if comma and rng.random() < 0.3:
        return ", ".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _article(words: str) -> str:
    return ("an " if words[:1] in "aeiou" else "a ") + words


def _say_pred(sts: list[Statement], noun: str, cat: str, rng: np.random.Generator) -> str:
    clauses = [word(s, "pred", cat, rng) for s in sts]
    subject = _pick(
        rng, ["", "", "", "", "", "", "it ", "this one ", f"the {noun} ", "the new one ", "should be one that "]
    )
    return subject + _join([c for c in clauses if c], rng, comma=False)


def _say_imp(sts: list[Statement], noun: str, cat: str, rng: np.random.Generator) -> str:
    clauses = [word(s, "imp", cat, rng) or "make it one that " + str(word(s, "pred", cat, rng)) for s in sts]
    text = _join(clauses, rng)
    if len(clauses) > 1 and rng.random() < 0.15:
        text = ", then ".join(clauses)
    return _pick(rng, ["", "", "", "", "please ", "can you ", "just "]) + text


def _say_posts(sts: list[Statement], cat: str, rng: np.random.Generator) -> str:
    return _join(
        [str(word(s, "post", cat, rng) or "that " + str(word(s, "pred", cat, rng))) for s in sts], rng, comma=False
    )


def _say_same(sts: list[Statement], noun: str, cat: str, rng: np.random.Generator) -> str:
    frame = _pick(
        rng,
        [
            "same {n} but {x}",
            "the same {n} but {x}",
            "same style but {x}",
            "similar {n} but {x}",
            "like this one but {x}",
            "same but {x}",
            "this {n} {x}",
            "same thing but {x}",
        ],
    )
    return frame.replace("{n}", noun).replace("{x}", _say_posts(sts, cat, rng))


def _say_want(sts: list[Statement], noun: str, cat: str, rng: np.random.Generator) -> str:
    adjs, posts = [], []
    for s in sorted(sts, key=lambda s: ADJ_ORDER.index(s.attribute)):
        a = word(s, "adj", cat, rng) if rng.random() < 0.8 else None
        if a:
            adjs.append(a)
        else:
            posts.append(s)
    head = _article(" ".join(adjs + [noun]))
    if rng.random() < 0.2 and adjs:
        head = _article(" ".join(adjs)) + " one"
    tail = " " + _say_posts(posts, cat, rng) if posts else ""
    opener = _pick(rng, ["", "", "i want ", "looking for ", "i would like ", "show me ", "i'd prefer "])
    return opener + head + tail


def _say_instead(sts: list[Statement], rest: list[Statement], noun: str, cat: str, rng: np.random.Generator) -> str:
    new, old = sts
    if new.attribute == "colour":
        x, y = _pick(rng, colour_words(new.value)), _pick(rng, colour_words(old.value))
    else:
        x, y = _pick(rng, PATTERN_ADJ[new.value]), _pick(rng, PATTERN_ADJ[old.value])
    frame = _pick(
        rng,
        [
            "{x} instead of {y}",
            "{x} rather than {y}",
            "{x} not {y}",
            "{x}, not {y}",
            "make it {x} instead of {y}",
            "change {y} to {x}",
            "{x} instead of the {y}",
        ],
    )
    text = frame.replace("{x}", x).replace("{y}", y)
    if rest:
        ordering = frame.startswith(("make", "change"))
        said = [
            str(word(s, "imp", cat, rng) or word(s, "pred", cat, rng)) if ordering else str(word(s, "pred", cat, rng))
            for s in rest
        ]
        text += _pick(rng, [" and ", ", "]) + _join(said, rng, comma=False)
    return text


def compose(
    reference: Garment,
    target: Garment,
    attributes: list[str],
    rng: np.random.Generator,
    style: str | None = None,
    vague: float = 1.0,
    keep: float = 0.15,
    casual: bool = True,
) -> Caption:
    """A caption about ``attributes`` (changed ones) of ``target``, in ``style`` or a random one.

    ``vague`` scales how often a change is said loosely ("darker", "has sleeves"); ``keep``
    is how often an unchanged attribute is mentioned too; ``casual`` allows an occasional
    capital letter or full stop.
    """
    cat = target.category
    noun = _pick(rng, list(fillers(Statement("colour", "is", target.colour), cat)["n"]))
    sts = [claim_change(a, reference, target, rng, vague) for a in attributes]
    sts = [sts[i] for i in rng.permutation(len(sts))]
    unchanged = [a for a in target.attributes if a not in reference.differences(target)]
    if style is None:
        style = STYLES[int(rng.choice(len(STYLES), p=STYLE_WEIGHTS))]
    exact = [s for s in sts if s.relation == "is" and s.attribute in ("colour", "pattern")]
    if style == "instead" and not exact:
        style = "pred"
    if style == "same" and set(attributes) != set(reference.differences(target)):
        style = "imp"  # "same ... but" claims everything else is unchanged
    if unchanged and style != "same" and rng.random() < keep:
        a = _pick(rng, unchanged)
        sts.append(Statement(a, "same", target.get(a)))

    if style == "pred":
        text = _say_pred(sts, noun, cat, rng)
    elif style == "imp":
        text = _say_imp(sts, noun, cat, rng)
    elif style == "same":
        text = _say_same(sts, noun, cat, rng)
        sts += [Statement(a, "same", target.get(a)) for a in unchanged]
    elif style == "want":
        text = _say_want(sts, noun, cat, rng)
    else:
        new = exact[0]
        old = Statement(new.attribute, "is_not", reference.get(new.attribute))
        rest = [s for s in sts if s is not new]
        text = _say_instead([new, old], rest, noun, cat, rng)
        sts = [new, old] + rest
    text = " ".join(text.split())
    return Caption(_finish(text, rng) if casual else text, tuple(sts), style)


def _finish(text: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.15:
        text = text[:1].upper() + text[1:]
    if rng.random() < 0.08:
        text += "."
    return text


def caption_pair(reference: Garment, target: Garment, rng: np.random.Generator) -> tuple[Caption, Caption]:
    """Two captions for one (reference, target) pair, together mentioning every change."""
    first, second = plan_pair(reference, target, rng)
    return compose(reference, target, first, rng), compose(reference, target, second, rng)
