"""Personalization end to end on a real library: votes in, child bundle out, index reused,
rollback restores the parent's rankings."""

from __future__ import annotations

import json

import pytest

from engine.bundle import load_bundle
from engine.library import Library
from engine.world.demo import render_demo_library
from trainer.cli import main
from trainer.personalize.run import PersonalizeError, personalize_library, rollback
from trainer.personalize.train import PersonalizeConfig

TEXTS = ["make it striped", "is red with long sleeves", "same but blue", "no sleeves and dotted"]


class _Demo:
    def __init__(self, root, photos):
        self.root, self.photos = root, photos
        self.queries = [type("Q", (), {"reference": photos[5 * i].path, "text": t}) for i, t in enumerate(TEXTS)]


@pytest.fixture()
def voted_library(tmp_path, tiny_bundle):
    lib_photos = render_demo_library(tmp_path / "photos", n=36, seed=3, queries=0)
    demo = _Demo(lib_photos.root, lib_photos.photos)
    folder = tmp_path / "lib"
    with Library.open(folder, bundle=tiny_bundle) as lib:
        lib.add_root(demo.root)
        lib.index()
        stripes = {str((demo.root / p.path).resolve()) for p in demo.photos if p.garment.pattern == "striped"}
        for q in demo.queries:  # a hidden taste: likes stripes, dislikes the rest
            res = lib.search(text=q.text, image=demo.root / q.reference, k=12)
            for h in res.hits[:8]:
                lib.vote(res, h.photo_id, up=str(h.path) in stripes)
        encoded = lib.status().to_json()["indexed"]
    return folder, demo, encoded


def _rankings(folder, demo):
    with Library.open(folder) as lib:
        return [[h.photo_id for h in lib.search(text=q.text, image=demo.root / q.reference, k=20).hits]
                for q in demo.queries], lib.bundle.root


def test_child_bundle_swaps_in_without_reindexing_and_rolls_back(voted_library, tiny_bundle, tmp_path):
    folder, demo, encoded = voted_library
    before, parent_root = _rankings(folder, demo)
    res = personalize_library(folder, tmp_path / "child", PersonalizeConfig(max_epochs=3, lr=1e-3))
    parent, child = load_bundle(tiny_bundle), load_bundle(res.bundle)
    # only the query side (query.onnx and its cached pair) is new; the target side (and so the index) is the parent's
    assert child.target_side == parent.target_side
    assert {
        f for f in child.manifest.files if child.manifest.files[f]["sha256"] != parent.manifest.files[f]["sha256"]
    } == {"query.onnx", "query_kv.onnx", "query_cached.onnx"}
    assert child.manifest.parent["path"] == str(parent.root.absolute())
    rep = child.manifest.extra["personalization"]
    assert rep["pairs_train"] > 0 and rep["votes"] == sum(min(8, 12) for _ in demo.queries)
    after, in_use = _rankings(folder, demo)
    assert in_use == res.bundle.absolute()  # activated
    assert after != before  # the new query graph ranks differently
    with Library.open(folder) as lib:
        st = lib.status().to_json()
        assert st["indexed"] == encoded  # nothing re-encoded, nothing lost
        lib.index()  # and indexing again finds nothing to encode
        assert lib.status().to_json()["indexed"] == encoded
    assert rollback(folder) == parent.root
    restored, in_use = _rankings(folder, demo)
    assert restored == before and in_use == parent_root


def test_a_second_personalization_starts_from_the_base(voted_library, tmp_path):
    folder, _, _ = voted_library
    first = personalize_library(folder, tmp_path / "c1", PersonalizeConfig(max_epochs=1))
    second = personalize_library(folder, tmp_path / "c2", PersonalizeConfig(max_epochs=1))
    assert second.base == first.base  # not stacked on the first child
    assert load_bundle(second.bundle).manifest.parent["path"] == str(first.base.absolute())


def test_cli_json_and_errors(voted_library, tmp_path, capsys):
    folder, _, _ = voted_library
    assert not (folder / "models").exists()  # the default output goes to LIBRARY/models/, made on demand
    assert main(["personalize", "--library", str(folder), "--epochs", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bundle"].startswith(str(folder / "models"))
    assert out["activated"] and out["pairs_train"] > 0 and 0.0 <= out["train_after"] <= 1.0
    assert main(["personalize", "--library", str(folder), "--rollback"]) == 0
    assert main(["personalize", "--library", str(folder), "--rollback"]) == 1
    assert "not a personalized one" in capsys.readouterr().err


def test_no_votes_is_a_clear_error(tmp_path, tiny_bundle):
    demo = render_demo_library(tmp_path / "photos", n=30, seed=1, queries=0)
    with Library.open(tmp_path / "lib", bundle=tiny_bundle) as lib:
        lib.add_root(demo.root)
        lib.index()
    with pytest.raises(PersonalizeError, match="no usable preference pairs"):
        personalize_library(tmp_path / "lib")
