"""Attribute heads in pretraining (``pretrain --attributes``): labels, the loss against a
naive implementation, and the command end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.world.attributes import CATEGORIES, VALUES, all_garments
from trainer.cli import main
from trainer.pretrain import ATTRIBUTES, attribute_labels, attribute_loss
from trainer.run import CHECKPOINT, load_checkpoint, read_config, read_log

from .pretrain_runs import short_pretrain as _pretrain
from .pretrain_runs import small_world

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_labels_name_each_value_and_skip_attributes_a_garment_lacks():
    garments = [g for c in CATEGORIES for g in list(all_garments(c))[:5]]
    labels = attribute_labels(garments)
    assert set(labels) == set(ATTRIBUTES) == {"category", *VALUES}
    for i, g in enumerate(garments):
        assert CATEGORIES[int(labels["category"][i])] == g.category
        for a in VALUES:
            y = int(labels[a][i])
            if a in g.attributes:
                assert VALUES[a][y] == g.get(a)
            else:
                assert y == -100


def naive_attribute_loss(logits: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> float:
    per_attribute = []
    for a, y in labels.items():
        terms = []
        for i, v in enumerate(y):
            if v < 0:
                continue
            row = logits[a][i]
            terms.append(math.log(sum(math.exp(x) for x in row)) - row[v])
        if terms:
            per_attribute.append(sum(terms) / len(terms))
    return sum(per_attribute) / len(per_attribute)


@pytest.mark.parametrize("seed", [0, 1])
def test_attribute_loss_matches_a_naive_implementation(seed):
    rng = np.random.default_rng(seed)
    b = 6
    labels = {"category": rng.integers(0, 3, b), "colour": rng.integers(0, 5, b),
              "neckline": np.where(rng.random(b) < 0.5, -100, rng.integers(0, 2, b)),
              "sleeves": np.full(b, -100)}  # no image has it: left out of the mean, not a NaN
    logits = {a: rng.normal(size=(b, 5 if a == "colour" else 3 if a != "neckline" else 2)) for a in labels}
    got = attribute_loss({a: torch.tensor(v) for a, v in logits.items()},
                         {a: torch.tensor(v) for a, v in labels.items()})
    assert float(got) == pytest.approx(naive_attribute_loss(logits, labels), rel=1e-9)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return small_world(tmp_path_factory.mktemp("pwa"), seed=5)


def test_an_attribute_run_trains_probes_and_resumes(tmp_path, world, capsys):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert _pretrain(world, whole, "--attributes", "1.0") == 0
    assert read_config(whole)["pretraining"]["attributes"] == 1.0
    steps = [r for r in read_log(whole) if r["kind"] == "step"]
    assert len(steps) == 6 and all(r["loss"] > r["attribute_loss"] > 0 for r in steps)
    for r in (r for r in read_log(whole) if r["kind"] == "epoch"):
        shares = {k: v for k, v in r["val"].items() if k.startswith("probe_head_")}
        assert {"probe_head_category", "probe_head_neckline", "probe_head_sleeves"} <= set(shares)
        assert all(0.0 <= v <= 100.0 for v in shares.values())
    check = load_checkpoint(whole / CHECKPOINT)
    assert "heads.neckline.weight" in check["attribute_heads"]
    assert check["attribute_heads"]["heads.neckline.weight"].shape[0] == len(VALUES["neckline"])
    assert "attribute_heads" not in load_checkpoint(whole / "best.pt")

    assert _pretrain(world, parts, "--attributes", "1.0", "--pause-after", "1") == 0
    assert main(["pretrain", "--out", str(parts), "--resume", "--threads", "1"]) == 0
    other = load_checkpoint(parts / CHECKPOINT)
    assert all(torch.equal(check["model"][k], other["model"][k]) for k in check["model"])
    assert all(torch.equal(check["attribute_heads"][k], other["attribute_heads"][k])
               for k in check["attribute_heads"])

    # the heads may read the vision tower's tokens instead: [CLS] and the patch mean side by side
    vision = tmp_path / "vision"
    assert _pretrain(world, vision, "--attributes", "1.0", "--attribute-input", "vision") == 0
    heads = load_checkpoint(vision / CHECKPOINT)["attribute_heads"]
    width = read_config(vision)["model"]["vision"]["width"]
    assert heads["heads.neckline.weight"].shape == (len(VALUES["neckline"]), 2 * width)
    hidden = read_config(whole)["model"]["qformer"]["hidden"]
    assert check["attribute_heads"]["heads.neckline.weight"].shape[1] == hidden

    plain = tmp_path / "plain"
    assert _pretrain(world, plain) == 0
    a = load_checkpoint(plain / CHECKPOINT)
    assert "attribute_heads" not in a
    assert any(not torch.equal(a["model"][k], check["model"][k]) for k in a["model"])
    capsys.readouterr()
    assert main(["pretrain", "--data-root", str(world), "--out", str(tmp_path / "bad"), "--attributes", "nan",
                 "--threads", "1"]) == 2
    assert "attributes must be a weight >= 0" in capsys.readouterr().err
