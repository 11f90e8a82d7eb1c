"""Relevance on the demo world: every image that satisfies a query counts, not only its target.

An image *satisfies* a query (reference, target) when it is not the reference and its
category and all its attributes equal the target's. The target's attributes are the
reference's with the changes the captions state, so this is "what the sentence asked
for, and everything else as in the reference". Nuisance (placement, tilt, background,
lighting, small details) is not an attribute and does not count.

Rankings are lists of image names, best first. The reference is dropped before the top
``k`` is taken (ranking dumps may contain it). A ranking shorter than ``k`` after that
counts its missing places as misses: the denominator is always ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from engine.world.attributes import Garment
from engine.world.errors import WorldError


@dataclass(frozen=True)
class Query:
    reference: str
    target: str

    @classmethod
    def from_item(cls, item: Mapping[str, object]) -> "Query":
        """From a FashionIQ captions item (``candidate``, ``target``)."""
        return cls(str(item["candidate"]), str(item["target"]))


def _garment(name: str, attributes: Mapping[str, Garment]) -> Garment:
    try:
        return attributes[name]
    except KeyError:
        raise WorldError(f"no attributes for image {name!r}") from None


def satisfies(name: str, query: Query, attributes: Mapping[str, Garment]) -> bool:
    return name != query.reference and _garment(name, attributes) == _garment(query.target, attributes)


def relevant(query: Query, attributes: Mapping[str, Garment], gallery: Iterable[str]) -> list[str]:
    """Every image of ``gallery`` that satisfies ``query`` (the target among them, if present)."""
    return [n for n in gallery if satisfies(n, query, attributes)]


def top_k(ranked_names: Sequence[str], query: Query, k: int) -> list[str]:
    """The first ``k`` names once the reference is dropped."""
    if k < 1:
        raise WorldError(f"k must be at least 1 (got {k})")
    if len(set(ranked_names)) != len(ranked_names):
        raise WorldError("a ranking lists some image twice")
    return [n for n in ranked_names if n != query.reference][:k]


def precision_at_k(ranked_names: Sequence[str], query: Query, attributes: Mapping[str, Garment], k: int = 5) -> float:
    """Fraction of the top ``k`` (reference excluded) that satisfy the query."""
    return sum(satisfies(n, query, attributes) for n in top_k(ranked_names, query, k)) / k


def agreement(name: str, query: Query, attributes: Mapping[str, Garment]) -> float:
    """Fraction of the target's attributes (category aside) that ``name`` shares; 0 for another category."""
    g, t = _garment(name, attributes), _garment(query.target, attributes)
    if g.category != t.category:
        return 0.0
    return sum(g.get(a) == t.get(a) for a in t.attributes) / len(t.attributes)


def attribute_agreement_at_k(ranked_names: Sequence[str], query: Query, attributes: Mapping[str, Garment],
                             k: int = 10) -> float:
    """Mean over the top ``k`` (reference excluded, missing places count 0) of :func:`agreement`."""
    return sum(agreement(n, query, attributes) for n in top_k(ranked_names, query, k)) / k


def mean_precision_at_k(rankings: Sequence[Sequence[str]], queries: Sequence[Query],
                        attributes: Mapping[str, Garment], k: int = 5) -> float:
    if len(rankings) != len(queries):
        raise WorldError(f"{len(rankings)} rankings for {len(queries)} queries")
    if not queries:
        raise WorldError("no queries to score")
    return sum(precision_at_k(r, q, attributes, k) for r, q in zip(rankings, queries)) / len(queries)


def mean_attribute_agreement_at_k(rankings: Sequence[Sequence[str]], queries: Sequence[Query],
                                  attributes: Mapping[str, Garment], k: int = 10) -> float:
    if len(rankings) != len(queries):
        raise WorldError(f"{len(rankings)} rankings for {len(queries)} queries")
    if not queries:
        raise WorldError("no queries to score")
    return sum(attribute_agreement_at_k(r, q, attributes, k) for r, q in zip(rankings, queries)) / len(queries)
