"""``cirsearch-train personalize --progress-jsonl``: one JSON object per epoch on stderr,
read back by the app's parser; the model in use is untouched with --no-activate."""

from __future__ import annotations

import json
import math

import pytest

from app.state.learn_report import parse_epoch, parse_outcome
from engine.library import Library
from tests.trainer.test_personalize_library import voted_library  # noqa: F401  (the fixture)
from trainer.cli import main
from trainer.commands.personalize import progress_record


@pytest.mark.parametrize("rec, want", [
    ({"epoch": 2, "train_loss": 0.5, "train_acc": 0.75, "held_acc": 0.5, "held_loss": 0.7},
     {"event": "epoch", "epoch": 2, "epochs": 9, "train_loss": 0.5, "train_acc": 0.75, "held_acc": 0.5,
      "held_loss": 0.7}),
    ({"epoch": 2, "train_loss": 0.5, "train_acc": 0.75, "held_acc": math.nan, "held_loss": math.nan},
     {"event": "epoch", "epoch": 2, "epochs": 9, "train_loss": 0.5, "train_acc": 0.75, "held_acc": None,
      "held_loss": None}),
])
def test_progress_record_is_strict_json(rec, want):
    out = progress_record(2, 9, rec)
    assert out == want
    assert json.loads(json.dumps(out, allow_nan=False)) == want  # no NaN: any JSON reader takes it


def test_one_json_line_per_epoch_on_stderr(voted_library, tmp_path, capsys):  # noqa: F811
    folder, _, _ = voted_library
    with Library.open(folder) as lib:
        model_before = lib.bundle.root
    code = main(["personalize", "--library", str(folder), "--out", str(tmp_path / "child"), "--epochs", "3",
                 "--lr", "1e-3", "--no-activate", "--json", "--progress-jsonl"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    records = [json.loads(ln) for ln in lines]  # every stderr line is one JSON object
    epochs = [parse_epoch(ln) for ln in lines]
    # epoch 0 is the starting point (the plot's baseline), then one line per epoch run
    assert [e.epoch for e in epochs] == list(range(len(lines))) and 2 <= len(lines) <= 4
    assert all(r["event"] == "epoch" and r["epochs"] == 3 for r in records)
    assert all(e.held_acc is not None and 0.0 <= e.held_acc <= 1.0 for e in epochs), "votes were set aside"
    outcome = parse_outcome(cap.out)
    assert [(e.epoch, e.train_loss, e.train_acc, e.held_acc) for e in epochs] == \
        [(e.epoch, e.train_loss, e.train_acc, e.held_acc) for e in outcome.curve], "the stream is the report's curve"
    assert outcome.bundle == str(tmp_path / "child") and (tmp_path / "child" / "manifest.json").is_file()
    with Library.open(folder) as lib:
        assert lib.bundle.root == model_before, "--no-activate keeps the model in use"
