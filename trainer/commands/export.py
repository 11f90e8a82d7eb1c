"""``cirsearch-train export``: a training run -> a model bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.bundle import ModelInfo
from trainer.commands.quantize import add_int8, add_int8_arguments
from trainer.export import ExportError, ExportOptions, export_bundle, manifest_summary
from trainer.run import load_model

NAME = "export"
HELP = "export a training run's model to a model bundle (ONNX graphs + manifest), checked against PyTorch"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", type=Path, required=True, help="training run folder")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write (replaced if it exists)")
    p.add_argument("--which", choices=["best", "last"], default="best", help="which checkpoint of the run")
    p.add_argument("--name", help="model name in the manifest (default: the run folder's name)")
    p.add_argument("--version", default=None, help="model version in the manifest (default: checkpoint hash)")
    p.add_argument("--description", default="", help="one line shown in the app")
    p.add_argument("--demo", action="store_true", help="mark as a demo model trained on generated images")
    p.add_argument("--fp16", action="store_true", help="also write half-precision graphs for GPUs")
    p.add_argument("--no-text", action="store_true", help="skip the text-only graph")
    p.add_argument("--int8", action="store_true",
                   help="also write int8 graphs for CPUs if they pass their check (see cirsearch-train quantize)")
    add_int8_arguments(p)


def run(args: argparse.Namespace) -> int:
    try:
        model, vocab, meta = load_model(args.run, which=args.which)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        print(f"error: cannot load run {args.run}: {e}", file=sys.stderr)
        return 1
    info = ModelInfo(
        name=args.name or args.run.resolve().name,
        version=args.version or str(meta.get("checkpoint_sha256", "unknown"))[:12],
        architecture=model.cfg.name,
        description=args.description,
        demo=args.demo,
    )
    extra = {"run": {k: meta[k] for k in ("method", "epoch", "seed", "dataset", "split", "metrics")
                     if meta.get(k) is not None}}
    try:
        bundle = export_bundle(model, vocab, args.out, info,
                               ExportOptions(text_graph=not args.no_text, fp16=args.fp16), extra=extra)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(manifest_summary(bundle))
    return add_int8(bundle, args) if args.int8 else 0
