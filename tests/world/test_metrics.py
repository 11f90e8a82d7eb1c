import numpy as np
import pytest

from engine.world import (
    Garment,
    Query,
    WorldError,
    attribute_agreement_at_k,
    mean_attribute_agreement_at_k,
    mean_precision_at_k,
    precision_at_k,
    relevant,
)

RED = Garment("shirt", "red", "plain", "long")
BLUE = RED.replace(colour="blue")
BLUE_SHORT = BLUE.replace(sleeves="short")
BLUE_TOP = Garment("toptee", "blue", "plain", "long", "round")
ATTRS = {"ref": RED, "tgt": BLUE, "b1": BLUE, "b2": BLUE, "r1": RED, "bs": BLUE_SHORT, "top": BLUE_TOP}
Q = Query("ref", "tgt")


@pytest.mark.parametrize(
    "ranked, k, expected",
    [
        (["tgt", "b1", "b2", "r1", "bs"], 5, 3 / 5),
        (["ref", "tgt", "b1", "b2", "r1", "bs"], 5, 3 / 5),  # the reference is dropped, not counted
        (["r1", "bs", "top", "tgt", "b1"], 5, 2 / 5),
        (["b1", "b2", "r1"], 5, 2 / 5),  # missing places are misses
        (["b1", "tgt"], 1, 1.0),
        (["r1", "tgt"], 1, 0.0),
        (["top"], 1, 0.0),  # same colour and sleeves, other category
        (["ref", "r1", "b1"], 2, 1 / 2),
    ],
)
def test_precision_at_k(ranked, k, expected):
    assert precision_at_k(ranked, Q, ATTRS, k) == pytest.approx(expected)


@pytest.mark.parametrize(
    "ranked, k, expected",
    [
        (["tgt", "b1"], 2, 1.0),
        (["bs"], 1, 2 / 3),  # colour and pattern agree, sleeves do not
        (["r1"], 1, 2 / 3),
        (["top"], 1, 0.0),  # another category scores nothing
        (["ref", "bs", "r1"], 2, 2 / 3),
        (["tgt"], 4, 1 / 4),
    ],
)
def test_attribute_agreement_at_k(ranked, k, expected):
    assert attribute_agreement_at_k(ranked, Q, ATTRS, k) == pytest.approx(expected)


def test_bad_rankings_are_refused():
    with pytest.raises(WorldError, match="twice"):
        precision_at_k(["b1", "b1"], Q, ATTRS)
    with pytest.raises(WorldError, match="nope"):
        precision_at_k(["nope"], Q, ATTRS)
    with pytest.raises(WorldError):
        precision_at_k(["b1"], Q, ATTRS, k=0)
    with pytest.raises(WorldError):
        mean_precision_at_k([["b1"]], [Q, Q], ATTRS)
    with pytest.raises(WorldError):
        mean_attribute_agreement_at_k([], [], ATTRS)


def test_relevant_lists_every_satisfying_image_but_the_reference():
    assert relevant(Q, ATTRS, ATTRS) == ["tgt", "b1", "b2"]
    assert relevant(Query("b1", "tgt"), ATTRS, ATTRS) == ["tgt", "b2"]


def _naive_precision(ranked, query, attrs, k):
    wanted = attrs[query.target]
    hits, seen = 0, 0
    for name in ranked:
        if name == query.reference:
            continue
        if seen == k:
            break
        seen += 1
        if (attrs[name].category, attrs[name].to_json()) == (wanted.category, wanted.to_json()):
            hits += 1
    return hits / k


def _naive_agreement(ranked, query, attrs, k):
    wanted = attrs[query.target].to_json()
    top = [n for n in ranked if n != query.reference][:k]
    total = 0.0
    for name in top:
        got = attrs[name].to_json()
        if got["category"] != wanted["category"]:
            continue
        keys = [a for a in wanted if a != "category"]
        total += sum(got[a] == wanted[a] for a in keys) / len(keys)
    return total / k


def test_against_naive_oracles_on_random_worlds():
    rng = np.random.default_rng(0)
    colours, patterns = ["red", "blue", "green"], ["plain", "striped"]
    for _ in range(200):
        n = int(rng.integers(3, 30))
        attrs = {}
        for i in range(n):
            cat = ["shirt", "toptee"][int(rng.integers(2))]
            extra = {"neckline": "round"} if cat == "toptee" else {}
            attrs[f"i{i}"] = Garment(cat, str(rng.choice(colours)), str(rng.choice(patterns)),
                                     str(rng.choice(["short", "long"])), **extra)
        names = list(attrs)
        ref, tgt = rng.choice(names, 2, replace=False)
        q = Query(str(ref), str(tgt))
        ranked = [str(x) for x in rng.permutation(names)[: int(rng.integers(1, n + 1))]]
        k = int(rng.integers(1, 12))
        assert precision_at_k(ranked, q, attrs, k) == pytest.approx(_naive_precision(ranked, q, attrs, k))
        assert attribute_agreement_at_k(ranked, q, attrs, k) == pytest.approx(_naive_agreement(ranked, q, attrs, k))


def test_means_average_over_queries():
    q2 = Query("b1", "r1")
    assert mean_precision_at_k([["tgt"], ["r1"]], [Q, q2], ATTRS, 1) == pytest.approx(1.0)
    assert mean_precision_at_k([["tgt"], ["bs"]], [Q, q2], ATTRS, 1) == pytest.approx(0.5)
    assert mean_attribute_agreement_at_k([["bs"], ["r1"]], [Q, q2], ATTRS, 1) == pytest.approx((2 / 3 + 1) / 2)


def test_query_from_a_fashioniq_item():
    assert Query.from_item({"candidate": "a", "target": "b", "captions": ["x", "y"]}) == Query("a", "b")
