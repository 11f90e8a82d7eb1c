"""tools/demo_model/linear_probe.py: the classifier reads what is there and only that, and
the tool runs end to end on a run and a world."""

from __future__ import annotations

import json

import pytest
import torch

from tests.world.conftest import demo_model_tool
from trainer.cli import main as train_main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tool():
    return demo_model_tool("linear_probe")


def test_a_separable_label_is_read_and_a_random_one_is_not(tool):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1400, 10, generator=g)
    y = (x[:, 3] + 0.5 * x[:, 7] > 0).long()  # linear in two of the 10 features
    tr, ev = tool.fit_linear(x[:1000], y[:1000], x[1000:], y[1000:], 2, epochs=300)
    assert tr > 88 and ev > 88
    noise = torch.randint(0, 2, (1400,), generator=g)  # no relation to x
    tr, ev = tool.fit_linear(x[:1000], noise[:1000], x[1000:], noise[1000:], 2, epochs=300)
    assert ev < 60, "a label the features do not carry is near chance on held-out images"


def test_the_tool_probes_every_stage_of_a_run(tool, tool_world, tmp_path, capsys):
    run = tmp_path / "pre"
    assert train_main(["pretrain", "--data-root", str(tool_world), "--out", str(run), "--epochs", "1",
                       "--batch-size", "8", "--max-steps-per-epoch", "1", "--threads", "1",
                       "--vocab-size", "400"]) == 0
    out = tmp_path / "probe.json"
    assert tool.main([str(run), str(tool_world), "--attributes", "neckline,colour", "--epochs", "5",
                      "--threads", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    from engine.world import read_world

    world = read_world(tool_world)
    val = [n for (c, s), names in world.splits.items() if s == "val" for n in names]
    necked = sum("neckline" in world.attributes[n].attributes for n in val)
    row = result["attributes"]["neckline"]
    assert row["eval_images"] == necked < len(val), "only garments with a neckline"
    assert result["attributes"]["colour"]["eval_images"] == len(val)
    for stage, dims in (("pixels", 3 * 96 * 96), ("target tokens", 8 * 128)):
        assert row[stage]["dims"] == dims
    for r in result["attributes"].values():
        assert 0 < r["majority"] <= 100
        assert all(0 <= r[k][w] <= 100 for k in tool.STAGES for w in ("train", "eval"))
    assert "vision tokens" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no attribute 'hat'"):
        tool.main([str(run), str(tool_world), "--attributes", "hat", "--threads", "1"])
    assert tool.main([str(tmp_path / "nothing"), str(tool_world), "--threads", "1"]) == 2
    assert "not a run directory" in capsys.readouterr().err
