import pytest

from engine.world import CATEGORIES, Garment, WorldError, all_garments


@pytest.mark.parametrize(
    "fields, ok",
    [
        (dict(category="dress", colour="red", pattern="plain", sleeves="long", neckline="round", length="short"), True),
        (dict(category="shirt", colour="red", pattern="plain", sleeves="long"), True),
        (dict(category="toptee", colour="blue", pattern="floral", sleeves="sleeveless", neckline="v-neck"), True),
        (dict(category="shirt", colour="red", pattern="plain", sleeves="long", neckline="round"), False),  # no neckline
        (
            dict(category="toptee", colour="blue", pattern="floral", sleeves="short", neckline="v-neck", length="long"),
            False,
        ),
        (dict(category="dress", colour="red", pattern="plain", sleeves="long", neckline="round"), False),  # no length
        (
            dict(category="dress", colour="teal", pattern="plain", sleeves="long", neckline="round", length="short"),
            False,
        ),
        (dict(category="skirt", colour="red", pattern="plain", sleeves="long"), False),
        (dict(category="shirt", colour="red", pattern="paisley", sleeves="long"), False),
    ],
)
def test_garment_validation(fields, ok):
    if ok:
        g = Garment(**fields)
        assert Garment.from_json(g.to_json()) == g
    else:
        with pytest.raises(WorldError):
            Garment(**fields)


@pytest.mark.parametrize(
    "category, count", [("dress", 10 * 5 * 3 * 2 * 2), ("shirt", 10 * 5 * 3), ("toptee", 10 * 5 * 3 * 2)]
)
def test_all_garments_enumerates_every_combination_once(category, count):
    gs = list(all_garments(category))
    assert len(gs) == len(set(gs)) == count
    assert all(g.category == category for g in gs)


def test_differences_and_replace():
    a = Garment("toptee", "red", "plain", "short", "round")
    b = a.replace(colour="blue", neckline="v-neck")
    assert a.differences(b) == ("colour", "neckline")
    assert a.differences(a) == ()
    with pytest.raises(WorldError):
        a.differences(Garment("shirt", "red", "plain", "short"))
    with pytest.raises(WorldError):
        a.get("length")


def test_from_json_rejects_unknown_and_missing_fields():
    with pytest.raises(WorldError):
        Garment.from_json({"category": "shirt", "colour": "red", "pattern": "plain", "sleeves": "long", "fit": "slim"})
    with pytest.raises(WorldError):
        Garment.from_json({"category": "shirt", "colour": "red"})


def test_categories_are_fashioniqs():
    assert CATEGORIES == ("dress", "shirt", "toptee")
