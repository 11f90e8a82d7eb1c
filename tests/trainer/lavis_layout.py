"""Random checkpoints in LAVIS's BLIP-2 state-dict layout, for import tests.

The key names and shapes are written out here from LAVIS's module structure
(clip_vit.VisionTransformer, Qformer.BertLMHeadModel, Blip2Qformer), independently
of the importer's key map, so that a wrong map cannot agree with itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LavisSizes:
    image: int = 224
    patch: int = 14
    vit_width: int = 1024
    vit_blocks: int = 23
    hidden: int = 768
    layers: int = 12
    intermediate: int = 3072
    cross_freq: int = 2
    vocab: int = 30523
    positions: int = 512
    queries: int = 32
    embed: int = 256


def lavis_shapes(s: LavisSizes, heads: bool = True, vit: bool = True) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    W = s.vit_width
    if vit:
        out["visual_encoder.conv1.weight"] = (W, 3, s.patch, s.patch)
        out["visual_encoder.class_embedding"] = (W,)
        out["visual_encoder.positional_embedding"] = ((s.image // s.patch) ** 2 + 1, W)
        out["visual_encoder.ln_pre.weight"] = (W,)
        out["visual_encoder.ln_pre.bias"] = (W,)
        for i in range(s.vit_blocks):
            p = f"visual_encoder.transformer.resblocks.{i}."
            out[p + "attn.in_proj_weight"] = (3 * W, W)
            out[p + "attn.in_proj_bias"] = (3 * W,)
            out[p + "attn.out_proj.weight"] = (W, W)
            out[p + "attn.out_proj.bias"] = (W,)
            for ln in ("ln_1", "ln_2"):
                out[p + ln + ".weight"] = (W,)
                out[p + ln + ".bias"] = (W,)
            out[p + "mlp.c_fc.weight"] = (4 * W, W)
            out[p + "mlp.c_fc.bias"] = (4 * W,)
            out[p + "mlp.c_proj.weight"] = (W, 4 * W)
            out[p + "mlp.c_proj.bias"] = (W,)
    out["ln_vision.weight"] = (W,)
    out["ln_vision.bias"] = (W,)
    H, F = s.hidden, s.intermediate
    out["query_tokens"] = (1, s.queries, H)
    e = "Qformer.bert.embeddings."
    out[e + "word_embeddings.weight"] = (s.vocab, H)
    out[e + "position_embeddings.weight"] = (s.positions, H)
    out[e + "LayerNorm.weight"] = (H,)
    out[e + "LayerNorm.bias"] = (H,)
    for i in range(s.layers):
        p = f"Qformer.bert.encoder.layer.{i}."
        blocks = ["attention"] + (["crossattention"] if i % s.cross_freq == 0 else [])
        for a in blocks:
            kv = W if a == "crossattention" else H
            out[p + a + ".self.query.weight"] = (H, H)
            out[p + a + ".self.query.bias"] = (H,)
            out[p + a + ".self.key.weight"] = (H, kv)
            out[p + a + ".self.key.bias"] = (H,)
            out[p + a + ".self.value.weight"] = (H, kv)
            out[p + a + ".self.value.bias"] = (H,)
            out[p + a + ".output.dense.weight"] = (H, H)
            out[p + a + ".output.dense.bias"] = (H,)
            out[p + a + ".output.LayerNorm.weight"] = (H,)
            out[p + a + ".output.LayerNorm.bias"] = (H,)
        for suffix in ("", "_query"):
            out[p + f"intermediate{suffix}.dense.weight"] = (F, H)
            out[p + f"intermediate{suffix}.dense.bias"] = (F,)
            out[p + f"output{suffix}.dense.weight"] = (H, F)
            out[p + f"output{suffix}.dense.bias"] = (H,)
            out[p + f"output{suffix}.LayerNorm.weight"] = (H,)
            out[p + f"output{suffix}.LayerNorm.bias"] = (H,)
    if heads:
        c = "Qformer.cls.predictions."
        out[c + "bias"] = (s.vocab,)
        out[c + "transform.dense.weight"] = (H, H)
        out[c + "transform.dense.bias"] = (H,)
        out[c + "transform.LayerNorm.weight"] = (H,)
        out[c + "transform.LayerNorm.bias"] = (H,)
        out[c + "decoder.weight"] = (s.vocab, H)
        out[c + "decoder.bias"] = (s.vocab,)
        out["itm_head.weight"] = (2, H)
        out["itm_head.bias"] = (2,)
    out["vision_proj.weight"] = (s.embed, H)
    out["vision_proj.bias"] = (s.embed,)
    out["text_proj.weight"] = (s.embed, H)
    out["text_proj.bias"] = (s.embed,)
    out["temp"] = ()
    return out


def random_lavis_state_dict(
    s: LavisSizes, seed: int = 0, heads: bool = True, vit: bool = True, vit_dtype: torch.dtype = torch.float16
) -> dict[str, torch.Tensor]:
    """Random weights in LAVIS layout; the frozen ViT in fp16 as QuRe's checkpoints hold it."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in lavis_shapes(s, heads=heads, vit=vit).items():
        t = torch.randn(shape, generator=g) * 0.02
        if (
            k.endswith("LayerNorm.weight")
            or k.endswith("ln_1.weight")
            or k.endswith("ln_2.weight")
            or "ln_pre.weight" in k
            or "ln_vision.weight" in k
        ):
            t = t + 1.0
        if k == "temp":
            t = torch.tensor(0.07)
        if k.startswith("visual_encoder."):
            t = t.to(vit_dtype)
        sd[k] = t
    if heads:
        sd["Qformer.bert.embeddings.position_ids"] = torch.arange(s.positions).expand(1, -1)
    return sd
