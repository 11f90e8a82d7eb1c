import dataclasses
import json
from pathlib import Path

import pytest
from PIL import Image

from engine.world import SPLITS, Query, WorldConfig, WorldError, generate, plan_world, read_world, relevant
from engine.world.layout import prepare_dir

from .conftest import SMALL


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_fashioniq_files_exist_and_agree(small_world_dir: Path, small_world):
    meta = _json(small_world_dir / "world.json")
    assert meta["image_ext"] == ".png" and meta["seed"] == SMALL.seed
    on_disk = {p.stem for p in (small_world_dir / "images").glob("*.png")}
    attributes = _json(small_world_dir / "attributes.json")
    assert set(attributes) == on_disk
    seen: set[str] = set()
    for category in ("dress", "shirt", "toptee"):
        for split in SPLITS:
            names = _json(small_world_dir / "image_splits" / f"split.{category}.{split}.json")
            assert names and not (set(names) & seen), "splits overlap"
            seen |= set(names)
            assert all(attributes[n]["category"] == category for n in names)
            caps = _json(small_world_dir / "captions" / f"cap.{category}.{split}.json")
            assert len(caps) == meta["counts"][f"{category}.{split}"]["triplets"]
            for item in caps:
                assert set(item) == {"candidate", "target", "captions"}
                assert item["candidate"] in names and item["target"] in names
                assert item["candidate"] != item["target"]
                assert len(item["captions"]) == 2 and all(isinstance(c, str) and c for c in item["captions"])
            pairs = [(i["candidate"], i["target"]) for i in caps]
            assert len(set(pairs)) == len(pairs)
    assert seen == on_disk
    with Image.open(small_world.image_path(next(iter(on_disk)))) as im:
        assert im.size == (SMALL.image_size, SMALL.image_size)


def test_counts_follow_the_config(small_world):
    for split in SPLITS:
        assert sum(len(small_world.splits[(c, split)]) for c in SMALL.categories) == SMALL.images(split)
        assert sum(len(small_world.triplets[(c, split)]) for c in SMALL.categories) == SMALL.triplets(split)


def test_read_back_captions_are_true_of_their_targets(small_world):
    attrs = small_world.attributes
    for triplets in small_world.triplets.values():
        for t in triplets:
            ref, tgt = attrs[t.candidate], attrs[t.target]
            assert 1 <= len(ref.differences(tgt)) <= 3
            for c in t.captions:
                assert c.statements and c.holds(ref, tgt), (t, c)


@pytest.mark.parametrize("split", ["val", "test"])
def test_eval_queries_have_several_unlabelled_relevant_images(small_world, split):
    for category in SMALL.categories:
        gallery = small_world.splits[(category, split)]
        for t in small_world.triplets[(category, split)]:
            rel = relevant(Query(t.candidate, t.target), small_world.attributes, gallery)
            assert t.target in rel
            assert len(rel) - 1 >= SMALL.eval_renders - 1, (t, rel)


def test_planning_is_deterministic_and_seeded():
    small = WorldConfig(seed=3, train_images=60, train_triplets=40, eval_images=30, eval_triplets=9)
    a, b = plan_world(small), plan_world(small)
    assert a == b
    c = plan_world(dataclasses.replace(small, seed=4))
    assert [r.garment for r in c.images] != [r.garment for r in a.images]
    assert WorldConfig.from_json(json.loads(json.dumps(small.to_json()))) == small


def test_generated_files_repeat_byte_for_byte_with_any_number_of_workers(tmp_path):
    small = WorldConfig(seed=5, train_images=36, train_triplets=30, eval_images=30, eval_triplets=6, image_size=64)
    a, b = generate(small, tmp_path / "a"), generate(small, tmp_path / "b", workers=2)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_change_counts_follow_the_weights():
    only_one = plan_world(WorldConfig(seed=1, train_images=150, train_triplets=120, eval_images=150, eval_triplets=9,
                                      change_weights=(1.0, 0.0, 0.0)))
    attrs = only_one.attributes()
    assert all(len(attrs[t.candidate].differences(attrs[t.target])) == 1
               for ts in only_one.triplets.values() for t in ts)


@pytest.mark.parametrize(
    "changes",
    [dict(train_renders=1), dict(eval_images=10), dict(categories=("skirt",)), dict(categories=()),
     dict(change_weights=(0.0, 0.0, 0.0)), dict(image_size=16), dict(eval_triplets=0)],
)
def test_bad_configs_are_refused(changes):
    with pytest.raises(WorldError):
        WorldConfig(**changes)


def test_impossible_triplet_counts_are_refused():
    with pytest.raises(WorldError):
        plan_world(WorldConfig(train_images=36, train_triplets=5000, eval_images=30, eval_triplets=6))


def test_nothing_that_is_not_a_world_is_overwritten(tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"not mine to delete")
    with pytest.raises(WorldError, match="not empty"):
        prepare_dir(mine, overwrite=True)
    assert (mine / "holiday.jpg").exists()

    world = tmp_path / "world"
    prepare_dir(world, overwrite=False)
    (world / "world.json").write_text("{}")
    with pytest.raises(WorldError, match="already holds a world"):
        prepare_dir(world, overwrite=False)
    (world / "notes.txt").write_text("keep me")
    with pytest.raises(WorldError, match="does not write"):
        prepare_dir(world, overwrite=True)
    assert (world / "notes.txt").read_text() == "keep me"
    (world / "notes.txt").unlink()
    prepare_dir(world, overwrite=True)
    assert not (world / "world.json").exists() and (world / "images").is_dir()


def test_read_world_reports_a_missing_file(tmp_path):
    with pytest.raises(WorldError, match="missing"):
        read_world(tmp_path)
