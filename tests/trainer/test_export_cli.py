"""``cirsearch-train export``: a run folder -> a bundle that matches the run's model."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import torch

from engine.bundle import load_bundle
from trainer.cli import main
from trainer.run import save_initial_run


def test_export_run_to_bundle(tiny_model, tiny_vocab, tmp_path, capsys):
    run = save_initial_run(tmp_path / "run", tiny_model, tiny_vocab, {"note": "test"})
    out = tmp_path / "bundle"
    assert main(["export", "--run", str(run), "--out", str(out), "--demo", "--description", "for tests"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"]["demo"] is True and summary["model"]["name"] == "run"
    b = load_bundle(out)
    feats = np.random.default_rng(0).standard_normal((2, 37, 128)).astype(np.float32)
    ids, mask = b.tokenizer().encode(["make it blue and striped", "same shirt"])
    got = ort.InferenceSession(str(b.graph_path("query")), providers=["CPUExecutionProvider"]).run(
        None, {"vision_feats": feats, "input_ids": ids, "attention_mask": mask})[0]
    with torch.no_grad():
        want = tiny_model.query_from_features(torch.from_numpy(feats), torch.from_numpy(ids), torch.from_numpy(mask))
    np.testing.assert_allclose(got, want.numpy(), atol=1e-4)


def test_export_of_a_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["export", "--run", str(tmp_path / "nope"), "--out", str(tmp_path / "b")]) == 1
    assert "cannot load run" in capsys.readouterr().err
