"""tools/demo_model/attribute_visibility.py: how many input pixels each attribute changes,
measured by drawing a world's image again with one attribute changed."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from tests.world.conftest import demo_model_tool


def _tool():
    return demo_model_tool("attribute_visibility")


@pytest.fixture
def world(tool_world):
    return tool_world


def test_colour_changes_more_of_the_input_than_the_neckline(world):
    out = _tool().attribute_visibility(world, split="val", size=96, limit=24)
    rows = out["attributes"]
    assert set(rows) >= {"colour", "pattern", "sleeves", "neckline"}
    # a garment of another colour differs almost everywhere it is drawn; a neck opening is a few pixels
    assert rows["colour"]["min"] > 300
    assert 0 < rows["neckline"]["median"] < rows["sleeves"]["median"] < rows["colour"]["median"]
    assert len(out["per_image"]) == 24 and sum(a == "neckline" for v in out["per_image"].values() for a in v) == \
        rows["neckline"]["images"]
    # the per-colour rows split the same images
    assert sum(r["images"] for k, r in out["by_colour"].items() if k.startswith("colour ")) == rows["colour"]["images"]


def test_a_higher_threshold_counts_fewer_pixels(world):
    tool = _tool()
    low = tool.attribute_visibility(world, split="val", threshold=10, attributes=("colour",), limit=6)
    high = tool.attribute_visibility(world, split="val", threshold=120, attributes=("colour",), limit=6)
    assert set(low["attributes"]) == {"colour"}
    assert high["attributes"]["colour"]["median"] < low["attributes"]["colour"]["median"]


def test_an_image_that_is_not_the_seeds_is_refused(tmp_path, world, capsys):
    copy = tmp_path / "w"
    shutil.copytree(world, copy)
    first = sorted((copy / "image_splits").glob("*.val.json"))[0]
    name = json.loads(first.read_text())[0]  # the first val image of the first category
    path = copy / "images" / f"{name}.png"
    with Image.open(path) as im:
        im = im.convert("RGB")
    im.putpixel((10, 10), (0, 255, 0) if im.getpixel((10, 10)) != (0, 255, 0) else (255, 0, 0))
    im.save(path)
    tool = _tool()
    assert tool.main([str(copy), "--split", "val", "--limit", "60"]) == 2
    err = capsys.readouterr().err
    assert f"{name}: the image on disk is not what the world's seed draws" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, words", [(["--split", "nope"], "no split 'nope'"),
                                         (["--attributes", "collar"], "unknown attribute 'collar'"),
                                         (["--size", "4"], "--size must be at least 8")])
def test_bad_arguments_are_one_line(world, capsys, argv, words):
    assert _tool().main([str(world), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_world_json_from_another_generator_is_one_line(tmp_path, world, capsys):
    copy = tmp_path / "w"
    shutil.copytree(world, copy)
    meta = json.loads((copy / "world.json").read_text())
    meta["config"]["shadows"] = 3
    (copy / "world.json").write_text(json.dumps(meta))
    assert _tool().main([str(copy), "--limit", "2"]) == 2
    err = capsys.readouterr().err
    assert "config is not this generator's" in err and "Traceback" not in err
