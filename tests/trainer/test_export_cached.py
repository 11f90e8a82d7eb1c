"""The cached query path (query_kv + query_cached) equals the full query path, in PyTorch
and in the exported graphs, at the text's real length as padded to 32."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.bundle import ModelInfo, load_bundle
from trainer import export_cached
from trainer.export import ExportError, ExportOptions, export_bundle
from trainer.model.query_side import QuerySide

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _text(batch: int, lengths: list[int], vocab: int, L: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mask = (torch.arange(L)[None] < torch.tensor(lengths)[:, None]).long()  # (B, L)
    return torch.randint(1, vocab, (batch, L), generator=g) * mask, mask


def _inputs(model, lengths, seed=0):
    cfg = model.cfg
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(len(lengths), cfg.vision.num_tokens, cfg.vision.width, generator=gen)  # (B, T, Dv)
    return (feats, *_text(len(lengths), lengths, cfg.qformer.vocab_size, seed=seed))


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_cross_kv_path_equals_the_full_query_in_pytorch(tiny_model):
    feats, ids, mask = _inputs(tiny_model, [2, 9, 17, 32])
    with torch.no_grad():
        full = tiny_model.query_from_features(feats, ids, mask)  # (4, E)
        kv = tiny_model.query_cross_kv(feats)
        cached = tiny_model.query_from_cross_kv(kv, ids, mask)
    q = tiny_model.cfg.qformer
    assert kv.shape == (4, q.layers // q.cross_attention_freq, 2, q.heads, 37, q.hidden // q.heads)
    assert float((cached - full).abs().max()) < 1e-6


def test_real_length_text_equals_padded_text(tiny_model):
    feats, ids, mask = _inputs(tiny_model, [3, 7, 11])
    short_ids, short_mask = export_cached.trimmed(ids, mask)
    assert short_ids.shape == (3, 11)
    with torch.no_grad():
        padded = tiny_model.query_from_features(feats, ids, mask)
        kv = tiny_model.query_cross_kv(feats)
        short = tiny_model.query_from_cross_kv(kv, short_ids, short_mask)
        alone = torch.cat([tiny_model.query_from_cross_kv(kv[i : i + 1], ids[i : i + 1, :n], mask[i : i + 1, :n])
                           for i, n in enumerate([3, 7, 11])])
    assert float((short - padded).abs().max()) < 1e-6
    assert float((alone - padded).abs().max()) < 1e-6


def test_split_query_side_keys_and_values_come_from_the_query_copy(tiny_model):
    """The K/V projections are Q-Former weights: a personalized query side has its own."""
    import copy

    model = copy.deepcopy(tiny_model)
    model.split_query_side()
    with torch.no_grad():
        for layer in model.qformer_query.layers:
            layer.cross_attn.k.weight.add_(0.05)
    feats, ids, mask = _inputs(model, [5, 12])
    side = QuerySide.from_model(model)
    with torch.no_grad():
        kv = model.query_cross_kv(feats)
        assert not torch.allclose(kv, tiny_model.query_cross_kv(feats))
        torch.testing.assert_close(side.query_cross_kv(feats), kv)
        full = model.query_from_features(feats, ids, mask)
        assert float((model.query_from_cross_kv(kv, ids, mask) - full).abs().max()) < 1e-6
        assert float((side.query_from_cross_kv(kv, ids, mask) - full).abs().max()) < 1e-6


def test_exported_chain_equals_the_query_graph_at_real_length(tiny_bundle):
    b = load_bundle(tiny_bundle)
    m = b.manifest
    assert m.graphs["query_kv"] == "query_kv.onnx" and m.graphs["query_cached"] == "query_cached.onnx"
    assert m.parity["query_kv"] <= 1e-3 and m.parity["query_cached"] <= 1e-4
    assert m.parity["query_cached_trimmed"] <= 1e-4
    cached = _session(b.graph_path("query_cached"))
    shapes = {i.name: i.shape for i in cached.get_inputs()}
    assert isinstance(shapes["input_ids"][1], str) and isinstance(shapes["attention_mask"][1], str)  # dynamic
    texts = ["red", "is red and has short sleeves", "same shirt but green with long sleeves", ""]
    ids, mask = b.tokenizer().encode(texts)  # (4, 32)
    feats = np.random.default_rng(1).standard_normal((4, 37, 128)).astype(np.float32)
    feed = {"vision_feats": feats, "input_ids": ids, "attention_mask": mask}
    full = _session(b.graph_path("query")).run(None, feed)[0]
    kv = _session(b.graph_path("query_kv")).run(None, {"vision_feats": feats})[0]
    n = int(mask.sum(1).max())
    assert n < 32
    short = cached.run(None, {"cross_kv": kv, "input_ids": ids[:, :n], "attention_mask": mask[:, :n]})[0]
    padded = cached.run(None, {"cross_kv": kv, "input_ids": ids, "attention_mask": mask})[0]
    assert np.abs(short - full).max() < 1e-5
    assert np.abs(padded - full).max() < 1e-5
    for i, length in enumerate(mask.sum(1)):  # each text alone at its own length
        one = cached.run(None, {"cross_kv": kv[i : i + 1], "input_ids": ids[i : i + 1, :length],
                                "attention_mask": mask[i : i + 1, :length]})[0]
        assert np.abs(one - full[i : i + 1]).max() < 1e-5


def test_a_personalized_child_carries_its_own_cached_pair(tiny_bundle, tiny_vocab, tmp_path):
    parent = load_bundle(tiny_bundle)
    side = QuerySide.load_npz(parent.path(parent.manifest.query_weights))
    with torch.no_grad():
        for layer in side.qformer.layers:
            layer.cross_attn.v.weight.mul_(1.5)
    child = export_bundle(side, tiny_vocab, tmp_path / "child", ModelInfo("tiny-test", "0+me", "tiny"),
                          reuse_from=parent)
    pm, cm = parent.manifest, child.manifest
    for g in ("query_kv", "query_cached"):
        assert cm.files[cm.graphs[g]]["sha256"] != pm.files[pm.graphs[g]]["sha256"], g
    assert child.target_side == parent.target_side
    feats, ids, mask = _inputs(side, [4, 10])
    kv = _session(child.graph_path("query_kv")).run(None, {"vision_feats": feats.numpy()})[0]
    got = _session(child.graph_path("query_cached")).run(
        None, {"cross_kv": kv, "input_ids": ids[:, :10].numpy(), "attention_mask": mask[:, :10].numpy()})[0]
    with torch.no_grad():
        want = side.query_from_features(feats, ids, mask).numpy()
    assert np.abs(got - want).max() < 1e-5


def test_export_refuses_a_cached_graph_that_lets_padding_in(tiny_model, tiny_vocab, tmp_path, monkeypatch):
    """The chain check runs at a trimmed length against the padded full query: a cached
    graph that attends padding differs there, and the export fails naming it."""
    real = type(tiny_model).query_from_cross_kv

    def unmasked(self, kv, ids, mask):
        return real(self, kv, ids, torch.ones_like(mask))

    monkeypatch.setattr(type(tiny_model), "query_from_cross_kv", unmasked)
    with pytest.raises(ExportError, match="query_kv \\+ query_cached on trimmed text"):
        export_bundle(tiny_model, tiny_vocab, tmp_path / "b", ModelInfo("t", "0", "tiny"),
                      ExportOptions(text_graph=False, query_weights=False))
    assert not (tmp_path / "b").exists()


def test_cached_graphs_can_be_left_out(tiny_model, tiny_vocab, tmp_path):
    b = export_bundle(tiny_model, tiny_vocab, tmp_path / "b", ModelInfo("t", "0", "tiny"),
                      ExportOptions(text_graph=False, query_weights=False, cached_query=False))
    assert set(b.manifest.graphs) == {"vision", "target", "query"}
