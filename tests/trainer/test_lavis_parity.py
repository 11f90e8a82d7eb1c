"""Our model against LAVIS 1.0.2 itself, on golden files LAVIS wrote
(tools/lavis_golden). LAVIS is not needed to run this test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.bundle import ModelInfo, load_bundle
from engine.text import Tokenizer
from trainer.export import export_bundle
from trainer.model import QFormerConfig, VisionConfig, score
from trainer.model.checkpoint import import_files
from trainer.model.config import VITL

GOLDEN = Path(__file__).parent / "golden"
TOL = 1e-4


@pytest.fixture(scope="module")
def golden():
    cfg = json.loads((GOLDEN / "config.json").read_text())["model"]
    base = VITL.replace(
        vision=VisionConfig(**cfg["vision"]),
        qformer=QFormerConfig(**cfg["qformer"]),
        embed_dim=cfg["embed_dim"],
    )
    base = base.replace(image=base.image.__class__(size=cfg["vision"]["image_size"]))
    model, report = import_files(blip2=GOLDEN / "tiny_lavis.pth", base=base)
    return model, report, np.load(GOLDEN / "inputs.npz"), np.load(GOLDEN / "outputs.npz")


def test_import_accounts_for_every_key(golden):
    model, report, _, _ = golden
    assert report.ok
    assert len(report.mapped) == len(model.state_dict())
    assert model.cfg.vision.layers == 3  # read off the checkpoint (LAVIS 1.0.2 built layers-1)
    assert abs(float(model.temp.detach()) - 0.0517) < 1e-6


def test_tokenizer_matches_lavis(golden):
    _, _, inputs, _ = golden
    tok = Tokenizer(GOLDEN / "vocab.txt")
    ids, mask = tok.encode(list(inputs["texts"]))
    np.testing.assert_array_equal(ids, inputs["input_ids"])
    np.testing.assert_array_equal(mask, inputs["attention_mask"])


def test_every_path_matches_lavis(golden):
    model, _, inputs, out = golden
    px = torch.from_numpy(inputs["pixels"])
    ids, mask = torch.from_numpy(inputs["input_ids"]), torch.from_numpy(inputs["attention_mask"])
    with torch.no_grad():
        feats = model.vision_features(px)
        tokens = model.target_from_features(feats)
        q = model.query_from_features(feats, ids, mask)
        t = model.encode_text(ids, mask)
        s = score(q, tokens)
    for name, got in [("vision_feats", feats), ("target_tokens", tokens), ("query_embed", q),
                      ("text_embed", t), ("scores", s)]:
        diff = np.abs(got.numpy() - out[name]).max()
        assert diff <= TOL, f"{name} differs from LAVIS by {diff:.2e}"


def test_exported_bundle_matches_lavis(golden, tmp_path):
    """The ONNX graphs, fed by the engine's own tokenizer, reproduce LAVIS's numbers."""
    import onnxruntime as ort

    model, _, inputs, out = golden
    b = load_bundle(export_bundle(model, GOLDEN / "vocab.txt", tmp_path / "b", ModelInfo("golden", "0", "vitl")).root)

    def run(g, feed):
        return ort.InferenceSession(str(b.graph_path(g)), providers=["CPUExecutionProvider"]).run(None, feed)[0]

    ids, mask = b.tokenizer().encode(list(inputs["texts"]))
    feats = run("vision", {"pixels": inputs["pixels"]})
    q = run("query", {"vision_feats": feats, "input_ids": ids, "attention_mask": mask})
    tokens = run("target", {"vision_feats": feats})
    np.testing.assert_allclose(q, out["query_embed"], atol=TOL)
    np.testing.assert_allclose(tokens, out["target_tokens"], atol=TOL)
    np.testing.assert_allclose(run("text", {"input_ids": ids, "attention_mask": mask}), out["text_embed"], atol=TOL)
