"""Writes the LAVIS golden files: a tiny random-weight BLIP-2 in LAVIS's checkpoint
layout, inputs, and what LAVIS 1.0.2's own modules compute from them (QuRe's paths).

Runs only in the LAVIS environment that ``run.sh`` builds; see README.md.
    .cache/lavis-venv/bin/python tools/lavis_golden/make_golden.py --out tests/trainer/golden
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lavis_shim
import numpy as np
import torch
import torch.nn.functional as F
from texts import MODEL_TEXTS, TOKENIZER_CASES, corpus
from tiny_vocab import build_vocab
from torch import nn


@dataclass(frozen=True)
class TinySizes:
    image_size: int = 56
    patch_size: int = 14
    vit_width: int = 64
    vit_blocks: int = 3  # resblocks really built (LAVIS is passed vit_blocks + 1)
    vit_heads: int = 2
    hidden: int = 64
    qformer_layers: int = 4
    qformer_heads: int = 2
    intermediate: int = 128
    cross_attention_freq: int = 2
    max_positions: int = 64
    num_query_tokens: int = 8
    embed_dim: int = 32
    max_txt_len: int = 32
    max_words: int = 50
    vocab_size: int = 600  # the vocab.txt lines; the Q-Former has one more row ([DEC])
    batch: int = 4
    temp: float = 0.0517  # any value but LAVIS's 0.07 default


BERT_KEYS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
    "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id", "position_embedding_type",
    "encoder_width", "add_cross_attention", "cross_attention_freq", "query_length",
    "tie_word_embeddings", "chunk_size_feed_forward",
)


# ------------------------------------------------------------------ model
def tiny_model_class(lav: lavis_shim.Lavis, s: TinySizes, vocab_path: Path) -> type:
    """``Blip2Qformer`` with its three downloading constructors replaced by local builds."""

    class TinyBlip2Qformer(lav.Blip2Qformer):
        @classmethod
        def init_tokenizer(cls):
            tokenizer = lav.BertTokenizer(vocab_file=str(vocab_path))
            tokenizer.add_special_tokens({"bos_token": "[DEC]"})
            return tokenizer

        @classmethod
        def init_Qformer(cls, num_query_token, vision_width, cross_attention_freq=2):
            config = lav.BertConfig(
                vocab_size=s.vocab_size,
                hidden_size=s.hidden,
                num_hidden_layers=s.qformer_layers,
                num_attention_heads=s.qformer_heads,
                intermediate_size=s.intermediate,
                max_position_embeddings=s.max_positions,
                hidden_act="gelu",
                layer_norm_eps=1e-12,
            )
            config.encoder_width = vision_width
            config.add_cross_attention = True
            config.cross_attention_freq = cross_attention_freq
            config.query_length = num_query_token
            qformer = lav.BertLMHeadModel(config)
            query_tokens = nn.Parameter(torch.zeros(1, num_query_token, config.hidden_size))
            query_tokens.data.normal_(mean=0.0, std=config.initializer_range)
            return qformer, query_tokens

        @classmethod
        def init_vision_encoder(cls, model_name, img_size, drop_path_rate, use_grad_checkpoint, precision):
            if model_name != "clip_L" or precision != "fp32":
                raise ValueError("the tiny golden model is a clip_L-style ViT in fp32")
            vit = lav.VisionTransformer(
                input_resolution=img_size,
                patch_size=s.patch_size,
                width=s.vit_width,
                layers=s.vit_blocks + 1,  # LAVIS 1.0.2 builds Transformer(width, layers - 1)
                heads=s.vit_heads,
                use_grad_checkpointing=False,
            )
            return vit, lav.LayerNorm(vit.num_features)

    return TinyBlip2Qformer


def build_model(lav: lavis_shim.Lavis, s: TinySizes, vocab_path: Path) -> nn.Module:
    cls = tiny_model_class(lav, s, vocab_path)
    model = cls(
        vit_model="clip_L",
        img_size=s.image_size,
        drop_path_rate=0,
        use_grad_checkpoint=False,
        vit_precision="fp32",
        freeze_vit=True,
        num_query_token=s.num_query_tokens,
        cross_attention_freq=s.cross_attention_freq,
        embed_dim=s.embed_dim,
        max_txt_len=s.max_txt_len,
    )
    return model.eval()


def _layer_norm_names(model: nn.Module) -> set[str]:
    return {name for name, m in model.named_modules() if isinstance(m, nn.LayerNorm)}


def randomize(model: nn.Module, s: TinySizes, gen: torch.Generator) -> dict[str, float]:
    """Overwrites every parameter and buffer but ``position_ids`` with seeded noise, so that a
    wrong key mapping cannot reproduce the outputs. Tied tensors (the LM head's decoder and
    the word embeddings) are drawn once. Returns the std drawn per key."""

    def u(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=gen))

    norms = _layer_norm_names(model)
    embeddings = ("query_tokens", "class_embedding", "positional_embedding", "_embeddings.weight")
    seen: set[int] = set()
    stds: dict[str, float] = {}
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            if name.endswith("position_ids") or t.data_ptr() in seen:
                continue
            seen.add(t.data_ptr())
            owner, _, leaf = name.rpartition(".")
            if name == "temp":
                t.fill_(s.temp)
                continue
            if owner in norms and leaf == "weight":
                std = u(0.05, 0.3)
                t.copy_(1.0 + std * torch.randn(t.shape, generator=gen))
            elif name.endswith(embeddings):
                std = u(0.2, 0.5)
                t.copy_(std * torch.randn(t.shape, generator=gen))
            elif t.dim() >= 2:
                fan_in = math.prod(t.shape[1:])
                std = min(0.5, max(0.02, u(0.6, 1.4) / math.sqrt(fan_in)))
                t.copy_(std * torch.randn(t.shape, generator=gen))
            else:  # biases
                std = u(0.02, 0.2)
                t.copy_(std * torch.randn(t.shape, generator=gen))
            stds[name] = std
    return stds


# ------------------------------------------------------------------ QuRe's paths, on LAVIS's modules
@torch.no_grad()
def qure_outputs(
    model: nn.Module, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    b = pixels.shape[0]
    feats = model.ln_vision(model.visual_encoder(pixels)).float()  # (B, T, Dv)
    feat_atts = torch.ones(feats.shape[:-1], dtype=torch.long)  # (B, T)
    queries = model.query_tokens.expand(b, -1, -1)  # (B, Q, H)
    nq = queries.shape[1]

    image_only = model.Qformer.bert(
        query_embeds=queries, encoder_hidden_states=feats, encoder_attention_mask=feat_atts, return_dict=True
    )
    target = F.normalize(model.vision_proj(image_only.last_hidden_state), dim=-1)  # (B, Q, E)

    fused_mask = torch.cat([torch.ones(b, nq, dtype=torch.long), mask], dim=1)  # (B, Q + L)
    fused = model.Qformer.bert(
        ids,
        query_embeds=queries,
        attention_mask=fused_mask,
        encoder_hidden_states=feats,
        encoder_attention_mask=feat_atts,
        return_dict=True,
    )
    query = F.normalize(model.text_proj(fused.last_hidden_state[:, :nq]).mean(dim=1), dim=-1)  # (B, E)

    text_only = model.Qformer.bert(ids, attention_mask=mask, return_dict=True)
    text = F.normalize(model.text_proj(text_only.last_hidden_state[:, 0]), dim=-1)  # (B, E)

    scores = torch.einsum("ik,jlk->ijl", query, target).max(dim=-1).values  # (B, B)
    return {
        "vision_feats": feats,
        "target_tokens": target,
        "query_embed": query,
        "text_embed": text,
        "scores": scores,
        "multimodal_hidden": fused.last_hidden_state[:, :nq],  # for the cross-check only
    }


@torch.no_grad()
def cross_check_with_extract_features(model: nn.Module, pixels: torch.Tensor, cleaned: list[str], out: dict) -> dict:
    """LAVIS's own ``extract_features`` must agree with the calls above (it pads to the
    longest text instead of 32, so only texts that were not truncated are compared)."""
    keep = [i for i, t in enumerate(cleaned) if len(model.tokenizer(t).input_ids) <= model.max_txt_len]
    img = model.extract_features({"image": pixels}, mode="image")
    txt = model.extract_features({"text_input": [cleaned[i] for i in keep]}, mode="text")
    mm = model.extract_features({"image": pixels[keep], "text_input": [cleaned[i] for i in keep]}, mode="multimodal")
    diffs = {
        "target_tokens": (img.image_embeds_proj - out["target_tokens"]).abs().max().item(),
        "text_embed": (txt.text_embeds_proj[:, 0] - out["text_embed"][keep]).abs().max().item(),
        "multimodal_hidden": (mm.multimodal_embeds - out["multimodal_hidden"][keep]).abs().max().item(),
    }
    for k, v in diffs.items():
        if not v < 1e-5:
            raise AssertionError(f"extract_features disagrees on {k}: max abs diff {v}")
    return {"compared_rows": keep, "max_abs_diff": diffs}


def check_not_degenerate(out: dict[str, torch.Tensor], model: nn.Module, pixels, ids, mask) -> dict[str, float]:
    """Fails when random weights made the outputs (nearly) constant across inputs."""
    q, t, s = out["query_embed"], out["target_tokens"], out["scores"]
    b = q.shape[0]
    off = ~torch.eye(b, dtype=torch.bool)
    stats = {
        "query_min_pair_dist": torch.cdist(q, q)[off].min().item(),
        "text_min_pair_dist": torch.cdist(out["text_embed"], out["text_embed"])[off].min().item(),
        "target_min_pair_dist": torch.cdist(t.flatten(1), t.flatten(1))[off].min().item() / math.sqrt(t.shape[1]),
        "target_min_token_dist": min(
            torch.cdist(t[i], t[i])[~torch.eye(t.shape[1], dtype=torch.bool)].min().item() for i in range(b)
        ),
        "score_std": s.std().item(),
        "feats_std": out["vision_feats"].std().item(),
    }
    # The text must matter with the image held fixed, and the image with the text fixed.
    same_img = qure_outputs(model, pixels[[0, 0]], ids[[0, 1]], mask[[0, 1]])["query_embed"]
    same_txt = qure_outputs(model, pixels[[0, 1]], ids[[0, 0]], mask[[0, 0]])["query_embed"]
    stats["query_text_effect"] = (same_img[0] - same_img[1]).norm().item()
    stats["query_image_effect"] = (same_txt[0] - same_txt[1]).norm().item()
    for k, v in stats.items():
        if not v > 0.05:
            raise AssertionError(f"degenerate golden outputs: {k} = {v:.4g}")
    return stats


# ------------------------------------------------------------------ tokenizer
def tokenize(tokenizer, texts: list[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=max_len, return_tensors="np")
    return enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)


def tokenizer_cases(tokenizer, processor, max_len: int) -> list[dict[str, Any]]:
    cases = []
    for text in TOKENIZER_CASES:
        cleaned = processor(text)
        ids, mask = tokenize(tokenizer, [cleaned], max_len)
        raw_ids, raw_mask = tokenize(tokenizer, [text], max_len)
        n = int(mask.sum())
        cases.append(
            {
                "text": text,
                "cleaned": cleaned,
                "input_ids": ids[0].tolist(),
                "attention_mask": mask[0].tolist(),
                "tokens": tokenizer.convert_ids_to_tokens(ids[0, :n].tolist()),
                "raw_input_ids": raw_ids[0].tolist(),
                "raw_attention_mask": raw_mask[0].tolist(),
            }
        )
    return cases


# ------------------------------------------------------------------ files
def vit_l_block_count(lav: lavis_shim.Lavis) -> int:
    """Resblocks LAVIS 1.0.2's ``create_clip_vit_L`` builds (its arguments, on the meta
    device, without its weight download)."""
    with torch.device("meta"):
        vit = lav.VisionTransformer(
            input_resolution=224, patch_size=14, width=1024, layers=22, heads=16, use_grad_checkpointing=False
        )
    return len(vit.transformer.resblocks)


def network_interfaces() -> list[str]:
    """The interfaces this process's network namespace has (["lo"] under ``unshare -n``)."""
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_config(path: Path, s: TinySizes, model: nn.Module, extra: dict[str, Any]) -> None:
    qcfg = model.Qformer.config
    blocks = len(model.visual_encoder.transformer.resblocks)
    cfg = {
        "what": "tiny random-weight BLIP-2 (Blip2Qformer, clip_L-style ViT) written by LAVIS 1.0.2; "
        "see tools/lavis_golden/README.md",
        "sizes": asdict(s),
        # The project's trainer.model.config field names, for building the same model.
        "model": {
            "vision": {
                "image_size": s.image_size,
                "patch_size": s.patch_size,
                "width": s.vit_width,
                "layers": blocks,
                "heads": s.vit_heads,
                "mlp_ratio": 4,
                "eps": model.visual_encoder.ln_pre.eps,
            },
            "qformer": {
                "hidden": qcfg.hidden_size,
                "layers": qcfg.num_hidden_layers,
                "heads": qcfg.num_attention_heads,
                "intermediate": qcfg.intermediate_size,
                "cross_attention_freq": qcfg.cross_attention_freq,
                "vocab_size": qcfg.vocab_size,
                "max_positions": qcfg.max_position_embeddings,
                "num_query_tokens": model.query_tokens.shape[1],
                "eps": qcfg.layer_norm_eps,
                "dropout": qcfg.hidden_dropout_prob,
                "pad_token_id": qcfg.pad_token_id,
            },
            "embed_dim": s.embed_dim,
            "max_txt_len": s.max_txt_len,
            "ln_vision_eps": model.ln_vision.eps,
            "temp": float(model.temp.item()),
        },
        "vit_blocks": blocks,
        "vit_layers_argument": blocks + 1,
        "cross_attention_layers": [
            i
            for i, layer in enumerate(model.Qformer.bert.encoder.layer)
            if getattr(layer, "has_cross_attention", False)
        ],
        "lavis_bert_config": {k: qcfg.to_dict()[k] for k in BERT_KEYS},
        **extra,
    }
    path.write_text(json.dumps(cfg, indent=1, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=20250607)
    args = ap.parse_args()
    torch.set_num_threads(1)  # the same reductions on every machine
    torch.manual_seed(args.seed)
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)

    lav = lavis_shim.load()
    from importlib.metadata import version

    import transformers

    vocab = build_vocab(corpus(args.seed), TinySizes.vocab_size)
    vocab_path = out_dir / "vocab.txt"
    vocab_path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    s = TinySizes(vocab_size=len(vocab))

    model = build_model(lav, s, vocab_path)
    blocks = len(model.visual_encoder.transformer.resblocks)
    if blocks != s.vit_blocks:
        raise AssertionError(f"LAVIS built {blocks} ViT blocks, expected {s.vit_blocks}")
    gen = torch.Generator().manual_seed(args.seed)
    stds = randomize(model, s, gen)
    tokenizer = model.tokenizer
    if len(tokenizer) != len(vocab) + 1 or tokenizer.bos_token_id != len(vocab):
        raise AssertionError(f"unexpected LAVIS tokenizer size {len(tokenizer)} / [DEC] id {tokenizer.bos_token_id}")

    processor = lav.BlipCaptionProcessor(max_words=s.max_words)
    cleaned = [processor(t) for t in MODEL_TEXTS]
    ids, mask = tokenize(tokenizer, cleaned, s.max_txt_len)
    rng = np.random.default_rng(args.seed)
    pixels = rng.standard_normal((s.batch, 3, s.image_size, s.image_size)).astype(np.float32)

    out = qure_outputs(model, torch.from_numpy(pixels), torch.from_numpy(ids), torch.from_numpy(mask))
    cross = cross_check_with_extract_features(model, torch.from_numpy(pixels), cleaned, out)
    stats = check_not_degenerate(out, model, torch.from_numpy(pixels), torch.from_numpy(ids), torch.from_numpy(mask))

    ckpt = out_dir / "tiny_lavis.pth"
    torch.save({"model": model.state_dict()}, ckpt)
    np.savez(
        out_dir / "inputs.npz",
        pixels=pixels,
        texts=np.array(MODEL_TEXTS),
        cleaned=np.array(cleaned),
        input_ids=ids,
        attention_mask=mask,
    )
    np.savez(
        out_dir / "outputs.npz",
        **{k: v.numpy().astype(np.float32) for k, v in out.items() if k != "multimodal_hidden"},
    )
    cases = tokenizer_cases(tokenizer, processor, s.max_txt_len)
    lines = ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases)
    (out_dir / "tokenizer_cases.json").write_text(
        f'{{"max_length": {s.max_txt_len}, "max_words": {s.max_words}, "cases": [\n{lines}\n]}}\n',
        encoding="utf-8",
    )
    write_config(
        out_dir / "config.json",
        s,
        model,
        {
            "seed": args.seed,
            "versions": {
                "salesforce-lavis": version("salesforce-lavis"),
                "transformers": transformers.__version__,
                "tokenizers": version("tokenizers"),
                "torch": torch.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
            "shim_stubbed_modules": list(lav.stubbed),
            "offline": {
                "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", ""),
                "network_interfaces": network_interfaces(),
            },
            "lavis_create_clip_vit_L_blocks": vit_l_block_count(lav),
            "lavis_tokenizer": {"len": len(tokenizer), "dec_token_id": tokenizer.bos_token_id},
            "randomization": "every tensor but position_ids: LayerNorm weight 1 + N(0, 0.05..0.3), "
            "embeddings/query tokens N(0, 0.2..0.5), matrices N(0, (0.6..1.4)/sqrt(fan_in)), "
            "biases N(0, 0.02..0.2), temp fixed; std per tensor drawn from the seed",
            "randomized_tensors": len(stds),
            "state_dict_keys": len(model.state_dict()),
            "extract_features_cross_check": cross,
            "non_degeneracy": stats,
            "sha256": {
                p.name: sha256(out_dir / p)
                for p in map(Path, ("tiny_lavis.pth", "vocab.txt", "inputs.npz", "outputs.npz", "tokenizer_cases.json"))
            },
        },
    )
    for p in sorted(out_dir.iterdir()):
        print(f"make_golden: {p.name:22s} {p.stat().st_size:>9,d} bytes")
    print("make_golden: non-degeneracy", json.dumps({k: round(v, 4) for k, v in stats.items()}))
    print("make_golden: extract_features max abs diff", cross["max_abs_diff"])


if __name__ == "__main__":
    main()
