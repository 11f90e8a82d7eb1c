"""LAVIS-layout checkpoints load into our model with every key accounted for."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from trainer.export import TOLERANCE, ExportOptions
from trainer.model import TINY, VITL
from trainer.model.checkpoint import (
    CheckpointError,
    import_files,
    import_lavis,
    map_lavis_key,
    read_state_dict,
)

from .lavis_layout import LavisSizes, lavis_shapes, random_lavis_state_dict

# TINY-like sizes in LAVIS layout: 4 Q-Former layers with cross-attention every 2,
# so both kinds of layer are exercised.
SMALL = LavisSizes(image=96, patch=16, vit_width=128, vit_blocks=3, hidden=128, layers=4, intermediate=256,
                   cross_freq=2, vocab=500, positions=64, queries=8, embed=64)
SMALL_BASE = TINY.replace(qformer=dataclasses.replace(TINY.qformer, heads=4), freeze_vision=True)


def test_every_lavis_key_maps_to_a_distinct_parameter():
    shapes = lavis_shapes(SMALL, heads=False)
    targets = [map_lavis_key(k) for k in shapes]
    assert None not in targets
    assert len(set(targets)) == len(targets)


def test_small_import_is_complete_and_exact(tmp_path):
    sd = random_lavis_state_dict(SMALL, seed=1)
    torch.save({"model": sd}, tmp_path / "blip2.pth")
    model, report = import_files(blip2=tmp_path / "blip2.pth", base=SMALL_BASE)
    assert report.ok and not report.missing and not report.unexpected
    assert model.cfg.vision.layers == 3 and model.cfg.qformer.cross_attention_freq == 2
    assert model.cfg.qformer.vocab_size == 500 and model.cfg.embed_dim == 64
    ours = model.state_dict()
    # every parameter filled, from the right key, converted from fp16 where needed
    assert len(report.mapped) == len(ours)
    torch.testing.assert_close(ours["vision.blocks.2.attn.qkv.weight"],
                               sd["visual_encoder.transformer.resblocks.2.attn.in_proj_weight"].float())
    torch.testing.assert_close(ours["qformer.layers.2.cross_attn.k.weight"],
                               sd["Qformer.bert.encoder.layer.2.crossattention.self.key.weight"])
    torch.testing.assert_close(ours["qformer.layers.1.ffn_query.norm.bias"],
                               sd["Qformer.bert.encoder.layer.1.output_query.LayerNorm.bias"])
    assert "qformer.layers.1.cross_attn.q.weight" not in ours
    # the heads CIR does not use are reported by name, with a reason
    assert any(k.endswith("Qformer.cls.predictions.decoder.weight") for k in report.unused)
    assert any(k.endswith("itm_head.weight") for k in report.unused)
    assert len(report.converted) == sum(1 for k in sd if k.startswith("visual_encoder."))


def test_unexpected_key_fails_loudly_by_name():
    sd = random_lavis_state_dict(SMALL)
    sd["Qformer.bert.encoder.layer.0.attention.self.rotary.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match="UNEXPECTED key: x:Qformer.bert.encoder.layer.0.attention.self.rotary"):
        import_lavis([("x", sd)], SMALL_BASE)


def test_missing_parameter_fails_loudly_by_name():
    sd = random_lavis_state_dict(SMALL)
    del sd["Qformer.bert.encoder.layer.3.output_query.dense.bias"]
    with pytest.raises(CheckpointError, match=r"MISSING parameter: qformer\.layers\.3\.ffn_query\.fc2\.bias"):
        import_lavis([("x", sd)], SMALL_BASE)


def test_shape_mismatch_fails():
    sd = random_lavis_state_dict(SMALL)
    sd["text_proj.weight"] = torch.zeros(64, 100)
    with pytest.raises(CheckpointError, match="SHAPE mismatch"):
        import_lavis([("x", sd)], SMALL_BASE)


def test_qure_file_without_vit_takes_it_from_blip2_and_wins_elsewhere():
    blip2 = random_lavis_state_dict(SMALL, seed=1)
    qure = random_lavis_state_dict(SMALL, seed=2, vit=False, heads=False)
    model, report = import_lavis([("qure", qure), ("blip2", blip2)], SMALL_BASE)
    sd = model.state_dict()
    torch.testing.assert_close(sd["vision.patch_embed.weight"], blip2["visual_encoder.conv1.weight"].float())
    torch.testing.assert_close(sd["text_proj.weight"], qure["text_proj.weight"])  # fine-tuned wins
    assert report.mapped["vision.pos_embed"].startswith("blip2:")
    assert report.mapped["qformer.embeddings.word.weight"].startswith("qure:")
    assert report.shadowed["blip2"] > 0


def test_vit_block_count_comes_from_the_checkpoint_never_mixed():
    """LAVIS 1.0.2 builds 21 blocks for ViT-L, LAVIS main 23: the file decides, and a
    tower is never assembled from two files."""
    few = random_lavis_state_dict(dataclasses.replace(SMALL, vit_blocks=2), seed=3)
    more = random_lavis_state_dict(dataclasses.replace(SMALL, vit_blocks=4), seed=4)
    model, _ = import_lavis([("a", few), ("b", more)], SMALL_BASE)
    assert model.cfg.vision.layers == 2


def test_raw_clip_tower_uses_the_penultimate_blocks(tmp_path):
    sizes = dataclasses.replace(SMALL, vit_blocks=4)  # "CLIP" with one block more than BLIP-2 uses
    full = random_lavis_state_dict(sizes, seed=5)
    clip = {k.removeprefix("visual_encoder."): v for k, v in full.items() if k.startswith("visual_encoder.")}
    clip["ln_post.weight"] = torch.ones(128)
    clip["proj"] = torch.zeros(128, 64)
    rest = {k: v for k, v in full.items() if not k.startswith("visual_encoder.")}
    torch.save(clip, tmp_path / "clip.pth")
    torch.save(rest, tmp_path / "model.pth")
    base = SMALL_BASE.replace(vision=dataclasses.replace(SMALL_BASE.vision, layers=3))
    model, report = import_files(checkpoint=tmp_path / "model.pth", clip_vit=tmp_path / "clip.pth", base=base)
    assert model.cfg.vision.layers == 3
    assert any("resblocks.3." in k and "beyond" in why for k, why in report.unused.items())
    assert any(k.endswith("ln_post.weight") for k in report.unused)


def test_checkpoint_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"model": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="weights-only"):
        read_state_dict(tmp_path / "evil.pth")


@pytest.mark.slow
def test_real_size_vitl_checkpoint_imports_and_exports(tmp_path):
    """A real-size ViT-L BLIP-2/QuRe checkpoint in LAVIS layout (random weights):
    every key accounted for, and the exported bundle matches PyTorch in ONNX Runtime
    (export_bundle's parity check runs each graph on fresh inputs)."""
    from engine.bundle import ModelInfo, load_bundle
    from trainer.export import export_bundle

    sd = random_lavis_state_dict(LavisSizes(), seed=0)
    path = tmp_path / "model.pth"
    torch.save(sd, path)  # QuRe's model.pth: a bare state dict, ViT in fp16
    n_keys = len(sd)
    del sd
    model, report = import_files(checkpoint=path, base=VITL)
    path.unlink()
    assert report.ok
    assert model.cfg == VITL  # every size read off the weights agrees with the real config
    assert len(report.mapped) + len(report.unused) == n_keys
    assert len(report.mapped) == len(model.state_dict())
    assert sum(p.numel() for p in model.parameters()) == 473_123_073
    assert all(not p.requires_grad for p in model.vision.parameters())  # frozen ViT

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(30517)]) + "\n")
    bundle = load_bundle(export_bundle(model, vocab, tmp_path / "bundle", ModelInfo("vitl-random", "0", "vitl"),
                                       options=ExportOptions(text_graph=False)).root)
    m = bundle.manifest
    assert m.sizes.vision_tokens == 257 and m.sizes.vision_width == 1024 and m.sizes.num_query_tokens == 32
    assert all(m.parity[g] <= TOLERANCE[g] for g in ("vision", "target", "query"))
    # 1.2 GB of vision weights stays under the protobuf limit: one plain file per graph
    assert m.graphs["vision"] == "vision.onnx"
