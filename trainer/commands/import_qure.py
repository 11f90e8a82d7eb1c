"""``cirsearch-train import-qure``: an official QuRe (or BLIP-2) checkpoint -> a model bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.bundle import ModelInfo, sha256_file
from engine.text import Tokenizer
from trainer.download import BERT_VOCAB, BLIP2_VITL, CLIP_VITL, DownloadError, RemoteFile, download
from trainer.export import ExportError, ExportOptions, export_bundle, manifest_summary
from trainer.model import get_config
from trainer.model.checkpoint import CheckpointError, clip_vit_to_lavis, import_lavis, read_state_dict
from trainer.run import save_initial_run

NAME = "import-qure"
HELP = "import an official QuRe model.pth (LAVIS Blip2QuRe keys) and write a model bundle"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="QuRe's model.pth (LAVIS Blip2QuRe state dict)")
    p.add_argument("--blip2", type=Path, help="BLIP-2 blip2_pretrained_vitL.pth; downloaded if needed and omitted")
    p.add_argument("--clip-vit", type=Path, help="LAVIS clip_vit_L.pth; only needed if no other file has the ViT")
    p.add_argument("--vocab", type=Path, help="bert-base-uncased vocab.txt; downloaded if omitted")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write (replaced if it exists)")
    p.add_argument("--name", default="qure-blip2-vitl", help="model name recorded in the manifest")
    p.add_argument("--fp16", action="store_true", help="also write half-precision graphs for GPUs")
    p.add_argument("--no-text", action="store_true", help="skip the text-only graph")
    p.add_argument("--offline", action="store_true", help="never download; fail if a file is missing")
    p.add_argument("--cache-dir", type=Path, help="where downloads go (default: the user cache dir)")
    p.add_argument(
        "--mirror", help=argparse.SUPPRESS
    )  # base URL serving the same file names (tests, air-gapped mirrors)
    p.add_argument("--base-config", default="vitl", help=argparse.SUPPRESS)  # head counts for non-standard sizes
    p.add_argument("--out-run", type=Path, help="also write a training run dir (to fine-tune with train --init)")
    p.add_argument(
        "--vit-blocks",
        type=int,
        default=None,
        help="blocks of a raw CLIP tower to use (default 23, BLIP-2's penultimate layer; "
        "LAVIS 1.0.2 builds 21). Ignored when a BLIP-2/QuRe file holds the tower: its own count wins",
    )


def _fetch(remote, args) -> Path:
    if args.offline:
        raise SystemExit(f"error: {remote.description} is needed; pass it explicitly (offline mode)")
    if args.mirror:
        remote = RemoteFile(
            args.mirror.rstrip("/") + "/" + remote.filename,
            remote.filename,
            remote.sha256,
            remote.size,
            remote.description,
        )
    print(f"downloading {remote.description} from {remote.url}", file=sys.stderr)
    return download(remote, args.cache_dir)


def run(args: argparse.Namespace) -> int:
    def has_vit(sd) -> bool:
        return any(k.startswith("visual_encoder.") for k in sd)

    try:
        base = get_config(args.base_config)
        sources = []
        if args.checkpoint:
            sources.append(("qure", read_state_dict(args.checkpoint)))
        blip2 = args.blip2
        if blip2 is None and (not sources or not has_vit(sources[0][1])):
            blip2 = _fetch(BLIP2_VITL, args)
        if blip2 is not None:
            sources.append(("blip2", read_state_dict(blip2)))
        vit_blocks = None
        clip = args.clip_vit
        if clip is None and not any(has_vit(sd) for _, sd in sources):
            clip = _fetch(CLIP_VITL, args)
        if clip is not None:
            sources.append(("clip_vit", clip_vit_to_lavis(read_state_dict(clip))))
            if not any(has_vit(sd) for _, sd in sources[:-1]):
                vit_blocks = args.vit_blocks or base.vision.layers
        vocab = args.vocab or _fetch(BERT_VOCAB, args)

        model, report = import_lavis(sources, base, vit_blocks)
        print(report.summary())
        if not args.checkpoint:
            print(
                "note: no QuRe checkpoint given: this is pretrained BLIP-2, not fine-tuned for composed retrieval",
                file=sys.stderr,
            )
        n_vocab = Tokenizer(vocab).vocab_size
        if n_vocab != model.cfg.qformer.vocab_size:
            raise ExportError(
                f"{vocab} gives {n_vocab} token ids with [DEC], the checkpoint has "
                f"{model.cfg.qformer.vocab_size} word embeddings: wrong vocabulary"
            )
        origin = args.checkpoint or blip2 or clip
        digest = sha256_file(origin)[:12]
        info = ModelInfo(
            name=args.name,
            version=digest,
            architecture=model.cfg.name,
            description="QuRe (BLIP-2 ViT-L Q-Former) imported from "
            + ", ".join(str(p) for p in (args.checkpoint, blip2, clip) if p),
        )
        extra = {"import": {"sources": {label: len(sd) for label, sd in sources}, "report": report.summary()}}
        del sources
        if args.out_run:
            save_initial_run(args.out_run, model, vocab, {"imported_from": info.description})
            print(f"wrote run {args.out_run}")
        bundle = export_bundle(
            model, vocab, args.out, info, ExportOptions(text_graph=not args.no_text, fp16=args.fp16), extra=extra
        )
    except (CheckpointError, DownloadError, ExportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(manifest_summary(bundle))
    return 0
