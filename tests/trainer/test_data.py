"""Dataset layouts (FashionIQ, CIRR) parsed from small fixtures the tests write."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engine.preprocess import ImageSpec, preprocess
from engine.text import Tokenizer
from trainer.data import DataError, load_split
from trainer.data.dataset import TripletDataset
from trainer.data.fashioniq import join_captions
from trainer.data.images import LazyPixelBank, MemoryPixelBank
from trainer.data.queries import build_queries
from trainer.data.synthetic import write_cirr, write_fashioniq


@pytest.mark.parametrize(
    "captions, joined",
    [
        (["is red.", "has short sleeves"], "Is red and has short sleeves"),
        (["  Is BLUE?", "more formal, "], "Is blue and more formal"),  # capitalize() lowercases the rest
        ([".darker", "?"], "Darker and "),
        (["only one"], "Only one"),
    ],
)
def test_fashioniq_caption_joining(captions, joined):
    assert join_captions(captions) == joined


def _fiq(root, items, split_names, images, cat="dress"):
    (root / "captions").mkdir(parents=True)
    (root / "image_splits").mkdir()
    (root / "images").mkdir()
    (root / "captions" / f"cap.{cat}.train.json").write_text(json.dumps(items))
    (root / "image_splits" / f"split.{cat}.train.json").write_text(json.dumps(split_names))
    for n in images:
        Image.new("RGB", (30, 20), (200, 10, 10)).save(root / "images" / f"{n}.png")
    return root


def test_fashioniq_layout(tmp_path):
    items = [
        {"candidate": "a", "target": "b", "captions": ["is red.", "longer"]},
        {"candidate": "b", "target": "d", "captions": ["is blue", "shorter?"]},
    ]
    root = _fiq(tmp_path, items, ["a", "b", "c"], ["a", "b", "c", "d"])
    split = load_split("fashioniq", root, "train")
    assert split.groups == ["dress"]
    assert [t.caption for t in split.triplets] == ["Is red and longer", "Is blue and shorter"]
    assert [(t.reference, t.target) for t in split.triplets] == [("a", "b"), ("b", "d")]
    # the corpus is the split list, plus the target it lacks (counted)
    assert split.corpus["dress"] == ("a", "b", "c", "d") and split.missing_targets == 1
    assert split.paths["c"] == root / "images" / "c.png"
    targets_only = load_split("fashioniq", root, "train", corpus="targets")
    assert targets_only.corpus["dress"] == ("b", "d")


def test_fashioniq_missing_image_is_named(tmp_path):
    items = [{"candidate": "a", "target": "zz", "captions": ["x", "y"]}]
    root = _fiq(tmp_path, items, ["a"], ["a"])
    with pytest.raises(DataError, match="missing.*zz"):
        load_split("fashioniq", root, "train")


@pytest.mark.parametrize(
    "content, match",
    [("{not json", "not valid JSON"), (json.dumps({"a": 1}), "JSON list"), (json.dumps([{"target": "a"}]), "item 0")],
)
def test_fashioniq_malformed_captions(tmp_path, content, match):
    root = _fiq(tmp_path, [], ["a"], ["a"])
    (root / "captions" / "cap.dress.train.json").write_text(content)
    with pytest.raises(DataError, match=match):
        load_split("fashioniq", root, "train")


def test_fashioniq_root_without_captions(tmp_path):
    with pytest.raises(DataError, match="no cap"):
        load_split("fashioniq", tmp_path, "train")


def test_synthetic_fashioniq_categories_and_groups(tmp_path):
    root = write_fashioniq(tmp_path, categories=("dress", "shirt"), images_per_split=6, triplets_per_split=5)
    split = load_split("fashioniq", root, "val")
    assert split.groups == ["dress", "shirt"] and len(split.triplets) == 10
    only = load_split("fashioniq", root, "val", categories=("shirt",))
    with pytest.raises(DataError, match=r"no val captions for category 'hat' \(there are: dress, shirt\)"):
        load_split("fashioniq", root, "val", categories=("shirt", "hat"))
    assert only.groups == ["shirt"] and all(t.group == "shirt" for t in only.triplets)


def test_cirr_layout(tmp_path):
    root = write_cirr(tmp_path, images_per_split=10, triplets_per_split=4, splits=("val", "test1"))
    val = load_split("cirr", root, "val")
    items = json.loads((root / "captions" / "cap.rc2.val.json").read_text())
    assert [t.pair_id for t in val.triplets] == [it["pairid"] for it in items]
    assert [t.target for t in val.triplets] == [it["target_hard"] for it in items]
    assert val.triplets[0].members == tuple(items[0]["img_set"]["members"])
    assert len(val.corpus["cirr"]) == 10 and val.paths[val.triplets[0].reference].is_file()
    test = load_split("cirr", root, "test1")
    assert all(t.target is None for t in test.triplets)


def test_cirr_paths_relative_to_the_parent(tmp_path):
    # the CLIP4Cir layout: json files in cirr_dataset/cirr/, images in cirr_dataset/dev/
    write_cirr(tmp_path / "cirr_dataset", images_per_split=8, triplets_per_split=2, splits=("val",))
    inner = tmp_path / "cirr_dataset" / "cirr"
    inner.mkdir()
    for sub in ("captions", "image_splits"):
        (tmp_path / "cirr_dataset" / sub).rename(inner / sub)
    split = load_split("cirr", inner, "val")
    outer = load_split("cirr", tmp_path / "cirr_dataset", "val")  # the same layout named by its outer folder
    assert outer.paths == split.paths and outer.triplets == split.triplets
    assert all(p.is_file() for p in split.paths.values())


def test_cirr_unlisted_image(tmp_path):
    root = write_cirr(tmp_path, images_per_split=8, triplets_per_split=2, splits=("val",))
    listing = json.loads((root / "image_splits" / "split.rc2.val.json").read_text())
    items = json.loads((root / "captions" / "cap.rc2.val.json").read_text())
    del listing[items[0]["reference"]]
    (root / "image_splits" / "split.rc2.val.json").write_text(json.dumps(listing))
    with pytest.raises(DataError, match="not listed"):
        load_split("cirr", root, "val")


def test_banks_use_engine_preprocessing_and_queries_index_them(tmp_path, tiny_vocab):
    root = write_fashioniq(tmp_path, categories=("dress",), images_per_split=5, triplets_per_split=4, splits=("train",))
    split = load_split("fashioniq", root, "train")
    spec = ImageSpec(size=32)
    names = split.image_names()
    mem = MemoryPixelBank.load(split.paths, names, spec)
    lazy = LazyPixelBank(names, split.paths, spec)
    with Image.open(split.paths[names[2]]) as im:
        want = preprocess(im, spec)
    assert np.array_equal(mem[2].numpy(), want) and np.array_equal(lazy[2].numpy(), want)
    assert mem.batch([2, 0]).shape == (2, 3, 32, 32)
    tok = Tokenizer(tiny_vocab)
    q = build_queries(split, mem, tok)
    t0 = split.triplets[0]
    assert names[q.ref[0]] == t0.reference and names[q.target[0]] == t0.target
    assert split.corpus["dress"][q.target_pos[0]] == t0.target
    ids, _ = tok.encode([t0.caption])
    assert (q.input_ids[0] == ids[0]).all()
    ds = TripletDataset(q, mem)
    ds.set_negatives(np.zeros(len(q), dtype=np.int64))
    item = ds[0]
    assert set(item) == {"index", "ref", "input_ids", "attention_mask", "target_id", "target", "negative"}
    assert np.array_equal(item["negative"].numpy(), mem[0].numpy())
    with pytest.raises(ValueError):
        ds.set_negatives(np.zeros(2, dtype=np.int64))


def test_unreadable_image_is_named(tmp_path):
    root = write_fashioniq(tmp_path, categories=("dress",), images_per_split=3, triplets_per_split=2, splits=("train",))
    split = load_split("fashioniq", root, "train")
    victim = split.image_names()[0]
    split.paths[victim].write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image"):
        MemoryPixelBank.load(split.paths, split.image_names(), ImageSpec(size=32))
