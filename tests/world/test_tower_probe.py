"""tools/demo_model/tower_probe.py: it fine-tunes the tower it is asked to (the run's own, a
fresh one, a fresh conv stem), on labelled images only, and reports every epoch."""

from __future__ import annotations

import json

import pytest
import torch

from tests.world.conftest import demo_model_tool
from trainer.cli import main as train_main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tool():
    return demo_model_tool("tower_probe")


@pytest.fixture(scope="module")
def run(tool_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("tower") / "pre"
    assert train_main(["pretrain", "--data-root", str(tool_world), "--out", str(out), "--epochs", "1",
                       "--batch-size", "8", "--max-steps-per-epoch", "1", "--threads", "1",
                       "--vocab-size", "400"]) == 0
    return out


def test_each_start_builds_the_tower_it_names(tool, run):
    from trainer import run as runs
    from trainer.model.layers import ConvStem

    own, _, _ = runs.load_model(run)
    same = tool._model(run, "run", 0)
    fresh = tool._model(run, "scratch", 0)
    conv = tool._model(run, "conv", 0)
    w = own.vision.blocks[0].attn.qkv.weight
    assert torch.equal(same.vision.blocks[0].attn.qkv.weight, w)
    assert not torch.equal(fresh.vision.blocks[0].attn.qkv.weight, w)
    assert fresh.vision.patch_embed.weight.shape == own.vision.patch_embed.weight.shape
    assert isinstance(conv.vision.patch_embed, ConvStem) and not isinstance(own.vision.patch_embed, ConvStem)


def test_the_tool_fine_tunes_on_labelled_garments_and_reports_each_epoch(tool, run, tool_world, tmp_path, capsys):
    from engine.world import read_world

    out = tmp_path / "tower.json"
    assert tool.main([str(run), str(tool_world), "--start", "conv", "--epochs", "2", "--batch-size", "8",
                      "--threads", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    world = read_world(tool_world)
    necked = {s: sum("neckline" in world.attributes[n].attributes for (c, sp), names in world.splits.items()
                     if sp == s for n in names) for s in ("train", "val")}
    assert (result["train_images"], result["eval_images"]) == (necked["train"], necked["val"])
    assert result["stem"] == "conv" and [r["epoch"] for r in result["epochs"]] == [0, 1]
    assert all(0 <= r[k] <= 100 for r in result["epochs"] for k in ("train", "eval"))
    assert "epoch 1:" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no attribute 'hat'"):
        tool.main([str(run), str(tool_world), "--attribute", "hat", "--threads", "1"])
    assert tool.main([str(tmp_path / "nothing"), str(tool_world), "--threads", "1"]) == 2
    assert "not a run directory" in capsys.readouterr().err
