"""Bundles exported from the PyTorch model load in ONNX Runtime and match PyTorch."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.bundle import ModelInfo, load_bundle
from engine.errors import BundleError
from engine.preprocess import preprocess
from trainer.export import ExportError, ExportOptions, _Query, check_parity, export_bundle
from trainer.model import score


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_tiny_bundle_matches_pytorch_end_to_end(tiny_bundle, tiny_model):
    """Real preprocessing + tokenizing, the three graphs chained in ORT, against PyTorch."""
    from PIL import Image

    b = load_bundle(tiny_bundle)
    rng = np.random.default_rng(1)
    images = [
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in [(120, 80), (64, 64), (50, 200)]
    ]
    pixels = np.stack([preprocess(im, b.manifest.image) for im in images])  # (3, 3, 96, 96)
    ids, mask = b.tokenizer().encode(["is red and has short sleeves", "make it blue!", "same shirt but green"])

    feats = _session(b.graph_path("vision")).run(None, {"pixels": pixels})[0]
    tokens = _session(b.graph_path("target")).run(None, {"vision_feats": feats})[0]
    q = _session(b.graph_path("query")).run(None, {"vision_feats": feats, "input_ids": ids, "attention_mask": mask})[0]
    t = _session(b.graph_path("text")).run(None, {"input_ids": ids, "attention_mask": mask})[0]

    with torch.no_grad():
        P = torch.from_numpy(pixels)
        want_tokens = tiny_model.encode_target(P)
        want_q = tiny_model.encode_query(P, torch.from_numpy(ids), torch.from_numpy(mask))
        want_t = tiny_model.encode_text(torch.from_numpy(ids), torch.from_numpy(mask))
    assert tokens.shape == (3, 8, 128) and q.shape == (3, 128)
    np.testing.assert_allclose(tokens, want_tokens.numpy(), atol=1e-4)
    np.testing.assert_allclose(q, want_q.numpy(), atol=1e-4)
    np.testing.assert_allclose(t, want_t.numpy(), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-5)
    s = np.einsum("be,nqe->bnq", q, tokens).max(-1)
    np.testing.assert_allclose(s, score(want_q, want_tokens).numpy(), atol=1e-4)


def test_manifest_records_contract(tiny_bundle, tiny_vocab):
    m = json.loads((tiny_bundle / "manifest.json").read_text())
    assert m["format"] == "cirsearch-bundle" and m["format_version"] == 1
    assert m["sizes"] == {"embed_dim": 128, "num_query_tokens": 8, "vision_tokens": 37, "vision_width": 128}
    assert m["image"]["size"] == 96 and m["image"]["pad_ratio"] == 1.25 and m["image"]["resize"] == "bicubic"
    assert m["text"]["max_tokens"] == 32 and m["text"]["vocab"] == "vocab.txt"
    assert set(m["graphs"]) == {"vision", "target", "query", "text", "query_kv", "query_cached"}
    assert set(m["files"]) == {
        "vision.onnx",
        "target.onnx",
        "query.onnx",
        "text.onnx",
        "query_kv.onnx",
        "query_cached.onnx",
        "vocab.txt",
        "weights/query_side.npz",
    }
    assert m["query_weights"] == "weights/query_side.npz"
    for rel, meta in m["files"].items():
        assert meta["bytes"] == (tiny_bundle / rel).stat().st_size
    assert all(v <= 1e-3 for v in m["parity"].values())
    assert (tiny_bundle / "vocab.txt").read_bytes() == tiny_vocab.read_bytes()


def test_dynamic_batch_axis(tiny_bundle):
    b = load_bundle(tiny_bundle)
    sess = _session(b.graph_path("target"))
    for batch in (1, 5):
        out = sess.run(
            None, {"vision_feats": np.random.default_rng(batch).standard_normal((batch, 37, 128), np.float32)}
        )[0]
        assert out.shape == (batch, 8, 128)


def test_tampered_or_missing_file_is_refused_by_name(tiny_bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(tiny_bundle, b)
    with open(b / "query.onnx", "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(BundleError) as e:
        load_bundle(b)
    assert e.value.file == "query.onnx" and "SHA-256" in str(e.value)
    (b / "vocab.txt").unlink()
    shutil.copy2(tiny_bundle / "query.onnx", b / "query.onnx")
    with pytest.raises(BundleError) as e:
        load_bundle(b)
    assert e.value.file == "vocab.txt" and "missing" in str(e.value)


def test_external_data_in_own_folder_and_fp16(tiny_model, tiny_vocab, tmp_path):
    """Graphs over the threshold go to their own folder with ONE data file; the fp16
    variant loads and stays within its tolerance."""
    out = tmp_path / "ext"
    b = export_bundle(
        tiny_model,
        tiny_vocab,
        out,
        ModelInfo("t", "0", "tiny"),
        ExportOptions(external_threshold=0, fp16=True, text_graph=False),
    )
    assert b.manifest.graphs["vision"] == "vision/vision.onnx"
    assert sorted(p.name for p in (out / "vision").iterdir()) == ["vision.onnx", "vision.onnx.data"]
    assert set(b.manifest.fp16_graphs) == {"vision", "target", "query", "query_kv", "query_cached"}
    assert "vision/vision.onnx.data" in b.manifest.files
    feats = np.random.default_rng(0).standard_normal((2, 37, 128)).astype(np.float32)
    full = _session(b.graph_path("target")).run(None, {"vision_feats": feats})[0]
    half = _session(b.graph_path("target", fp16=True)).run(None, {"vision_feats": feats})[0]
    assert half.dtype == np.float32
    assert 0 < np.abs(full - half).max() < 2e-2  # really half precision, and close
    load_bundle(out)  # hashes of the data files verified too


def test_parity_check_catches_a_wrong_graph(tiny_model, tiny_bundle):
    """The check that guards every export fails when the graph is not the model's."""
    other = type(tiny_model)(tiny_model.cfg).eval()  # different random weights
    inputs = (torch.randn(2, 37, 128), torch.randint(1, 50, (2, 32)), torch.ones(2, 32, dtype=torch.long))
    assert check_parity(_Query(tiny_model), "query", tiny_bundle / "query.onnx", inputs) < 1e-4
    assert check_parity(_Query(other), "query", tiny_bundle / "query.onnx", inputs) > 1e-2


def test_vocab_must_match_embeddings(tiny_model, tmp_path):
    v = tmp_path / "v.txt"
    v.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n")
    with pytest.raises(ExportError, match="word embeddings"):
        export_bundle(tiny_model, v, tmp_path / "x", ModelInfo("t", "0", "tiny"))
    assert not (tmp_path / "x").exists()


def test_query_side_weights_reproduce_the_query_graph(tiny_bundle, tiny_model):
    from trainer.model.query_side import QuerySide

    b = load_bundle(tiny_bundle)
    side = QuerySide.load_npz(b.path(b.manifest.query_weights))
    feats, ids = torch.randn(3, 37, 128), torch.randint(1, 60, (3, 32))
    mask = torch.ones(3, 32, dtype=torch.long)
    mask[1, 7:] = 0
    with torch.no_grad():
        torch.testing.assert_close(
            side.query_from_features(feats, ids, mask), tiny_model.query_from_features(feats, ids, mask)
        )
    assert abs(float(side.temp) - float(tiny_model.temp.detach())) < 1e-7


def test_child_bundle_replaces_only_the_query_graph(tiny_bundle, tiny_vocab, tmp_path):
    """A personalized child: new query.onnx, every other file byte-identical, same target side."""
    from trainer.model.query_side import QuerySide

    parent = load_bundle(tiny_bundle)
    side = QuerySide.load_npz(parent.path(parent.manifest.query_weights))
    with torch.no_grad():
        side.text_proj.weight.add_(0.05 * torch.randn_like(side.text_proj.weight))
    child = export_bundle(
        side,
        tiny_vocab,
        tmp_path / "child",
        ModelInfo("tiny-test", "0+me", "tiny"),
        parent={"name": "tiny-test", "query_sha256": parent.query_sha256},
        reuse_from=parent,
    )
    pm, cm = parent.manifest, child.manifest
    assert child.target_side == parent.target_side
    changed = {f for f in pm.files if pm.files[f]["sha256"] != cm.files[f]["sha256"]}
    assert changed == {"query.onnx", "query_kv.onnx", "query_cached.onnx"} and set(cm.files) == set(pm.files)
    assert cm.parent["query_sha256"] == parent.query_sha256
    assert cm.parity["query"] < 1e-4
