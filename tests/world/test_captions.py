import numpy as np
import pytest

from engine.world import CATEGORIES, VALUES, Garment, Statement, all_garments, caption_pair
from engine.world.captions import STYLES, compose

DRESS = Garment("dress", "white", "plain", "short", "round", "short")


@pytest.mark.parametrize(
    "statement, target, holds",
    [
        (Statement("colour", "is", "red"), DRESS.replace(colour="red"), True),
        (Statement("colour", "is", "red"), DRESS.replace(colour="blue"), False),
        (Statement("colour", "is_not", "white"), DRESS.replace(colour="blue"), True),
        (Statement("colour", "is_not", "white"), DRESS, False),
        (Statement("colour", "darker", "black"), DRESS.replace(colour="black"), True),
        (Statement("colour", "darker", "yellow"), DRESS.replace(colour="yellow"), False),  # 96 -> 88: too close
        (Statement("colour", "lighter", "black"), DRESS.replace(colour="black"), False),
        (Statement("sleeves", "longer", "long"), DRESS.replace(sleeves="long"), True),
        (Statement("sleeves", "shorter", "sleeveless"), DRESS.replace(sleeves="sleeveless"), True),
        (Statement("sleeves", "longer", "sleeveless"), DRESS.replace(sleeves="sleeveless"), False),
        (Statement("length", "longer", "long"), DRESS.replace(length="long"), True),
        (Statement("length", "shorter", "long"), DRESS.replace(length="long"), False),
        (Statement("pattern", "same", "plain"), DRESS.replace(colour="red"), True),
        (Statement("pattern", "same", "plain"), DRESS.replace(pattern="striped"), False),
        (Statement("neckline", "is", "v-neck"), DRESS.replace(neckline="v-neck"), True),
    ],
)
def test_statement_holds(statement, target, holds):
    assert statement.holds(DRESS, target) is holds


def _pairs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    pools = {c: list(all_garments(c)) for c in CATEGORIES}
    out = []
    while len(out) < n:
        pool = pools[CATEGORIES[len(out) % 3]]
        ref = pool[int(rng.integers(len(pool)))]
        tgt = ref
        for a in rng.choice(len(ref.attributes), int(rng.integers(1, 4)), replace=False):
            name = ref.attributes[int(a)]
            tgt = tgt.replace(**{name: str(rng.choice([v for v in VALUES[name] if v != ref.get(name)]))})
        out.append((ref, tgt))
    return out, rng


def test_captions_are_true_of_their_targets_and_cover_every_change():
    pairs, rng = _pairs(1500, 0)
    styles = set()
    for ref, tgt in pairs:
        caps = caption_pair(ref, tgt, rng)
        for c in caps:
            assert c.holds(ref, tgt), (ref, tgt, c)
            assert c.text.strip() and len(c.text.split()) <= 30, c.text
            styles.add(c.style)
        assert caps[0].mentions() | caps[1].mentions() == set(ref.differences(tgt)), (ref, tgt, caps)
    assert styles == set(STYLES)


def test_a_caption_is_false_of_a_target_that_differs_where_it_speaks():
    pairs, rng = _pairs(300, 1)
    for ref, tgt in pairs:
        cap = compose(ref, tgt, list(ref.differences(tgt)), rng, vague=0.0, keep=0.0)
        wrong = tgt.replace(**{a: ref.get(a) for a in ref.differences(tgt)})  # = ref: nothing changed
        assert not cap.holds(ref, wrong)


def test_exact_colour_claims_name_the_colour():
    pairs, rng = _pairs(400, 2)
    for ref, tgt in pairs:
        for c in caption_pair(ref, tgt, rng):
            for s in c.statements:
                if s.attribute == "colour" and s.relation == "is":
                    words = {"grey", "gray"} if s.value == "grey" else {s.value}
                    assert any(w in c.text.lower() for w in words), (c.text, s)


def test_captions_are_deterministic_in_the_generator():
    ref = Garment("toptee", "red", "plain", "short", "round")
    tgt = ref.replace(colour="blue", pattern="dotted")
    a = caption_pair(ref, tgt, np.random.default_rng(5))
    b = caption_pair(ref, tgt, np.random.default_rng(5))
    assert a == b


def test_wording_varies():
    ref = Garment("shirt", "red", "plain", "short")
    tgt = ref.replace(colour="green")
    rng = np.random.default_rng(0)
    texts = {c.text.lower().rstrip(".") for _ in range(200) for c in caption_pair(ref, tgt, rng)}
    assert len(texts) > 60, len(texts)


def test_identical_pair_is_refused():
    with pytest.raises(ValueError):
        caption_pair(DRESS, DRESS, np.random.default_rng(0))
