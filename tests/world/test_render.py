import colorsys

import numpy as np
import pytest

from engine.world import Garment, all_garments, render, render_seeded, sample_nuisance
from engine.world.render import BASE_RGB


def _nuisance(seed: int, g: Garment):
    return sample_nuisance(np.random.default_rng(seed), g)


def test_same_seed_same_pixels_and_size():
    g = Garment("dress", "red", "striped", "long", "v-neck", "long")
    a, b = render_seeded(g, (3, 1), (128, 160)), render_seeded(g, (3, 1), (128, 160))
    assert a.size == (128, 160) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("category", ["dress", "shirt", "toptee"])
def test_renders_of_equal_attributes_differ(category):
    g = next(iter(all_garments(category)))
    a, b = np.asarray(render_seeded(g, 1), np.int16), np.asarray(render_seeded(g, 2), np.int16)
    changed = (np.abs(a - b).sum(-1) > 12).mean()
    assert changed > 0.05, changed


def _hue_of(colour: str) -> float:
    r, g, b = (v / 255 for v in BASE_RGB[colour])
    return colorsys.rgb_to_hsv(r, g, b)[0]


def _mean_hue(img) -> float:
    hsv = np.asarray(img.convert("HSV"), np.float64) / 255.0
    sat = hsv[..., 1] > 0.3
    angles = hsv[..., 0][sat] * 2 * np.pi
    return float(np.angle(np.exp(1j * angles).mean()) / (2 * np.pi)) % 1.0


@pytest.mark.parametrize("colour", ["red", "pink", "orange", "yellow", "green", "blue", "purple"])
def test_garment_hue_follows_its_colour(colour):
    g = Garment("toptee", colour, "plain", "short", "round")
    hue = _mean_hue(render(g, _nuisance(4, g)))
    diff = min(abs(hue - _hue_of(colour)), 1 - abs(hue - _hue_of(colour)))
    assert diff < 0.04, (colour, hue, _hue_of(colour))


def test_different_colours_differ_in_mean_hue():
    hues = {}
    for colour in ("red", "yellow", "green", "blue", "purple"):
        g = Garment("shirt", colour, "plain", "long")
        hues[colour] = _mean_hue(render(g, _nuisance(9, g)))
    values = sorted(hues.values())
    gaps = np.diff(values + [values[0] + 1])
    assert gaps.min() > 0.05, hues


def _area(g: Garment, seed: int = 5) -> float:
    """Fraction of pixels covered by the garment (same nuisance => same background)."""
    n = _nuisance(seed, g)
    bg = render(Garment("toptee", "black", "plain", "sleeveless", "round"), n)  # a reference for the backdrop
    img = np.asarray(render(g, n), np.int16)
    backdrop = np.asarray(bg, np.int16)[0, 0]  # a corner pixel is background in both
    return float((np.abs(img - backdrop).sum(-1) > 40).mean())


@pytest.mark.parametrize("category", ["dress", "shirt", "toptee"])
def test_sleeve_length_shows_in_the_silhouette(category):
    extra = {"dress": dict(neckline="round", length="short"), "shirt": {}, "toptee": dict(neckline="round")}[category]
    areas = [_area(Garment(category, "blue", "plain", s, **extra)) for s in ("sleeveless", "short", "long")]
    assert areas[0] < areas[1] < areas[2], areas


def test_dress_length_shows_in_the_silhouette():
    short = _area(Garment("dress", "green", "plain", "short", "round", "short"))
    long = _area(Garment("dress", "green", "plain", "short", "round", "long"))
    assert long > short * 1.15, (short, long)


@pytest.mark.parametrize("pattern", ["striped", "dotted", "checked", "floral"])
def test_patterns_change_the_fabric_but_keep_its_colour_dominant(pattern):
    plain = Garment("toptee", "red", "plain", "long", "round")
    g = plain.replace(pattern=pattern)
    n = _nuisance(6, g)
    a, b = np.asarray(render(plain, n), np.int16), np.asarray(render(g, n), np.int16)
    assert (np.abs(a - b).sum(-1) > 60).mean() > 0.03
    hue = _mean_hue(render(g, n))
    assert min(hue, 1 - hue) < 0.05  # still reads as red


def test_neckline_shows():
    v = Garment("toptee", "yellow", "plain", "short", "v-neck")
    n = _nuisance(8, v)
    a, b = np.asarray(render(v, n), np.int16), np.asarray(render(v.replace(neckline="round"), n), np.int16)
    assert (np.abs(a - b).sum(-1) > 60).sum() > 100
