"""``cirsearch-train eval``: metrics of a run or of a model bundle on a split, ranking
dumps, CIRR and CIRCO server files, HP-FashionIQ preference rate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.text import Tokenizer
from trainer.commands._common import add_device, categories, report_errors, threads_and_device
from trainer.data.images import make_pixel_bank
from trainer.data.queries import build_queries
from trainer.data.splits import load_split
from trainer.evaluate import (
    EvalOptions,
    ModelEncoder,
    circo_submission,
    cirr_submission,
    dump_rankings,
    evaluate_with,
    metrics_of,
    rank_with,
)
from trainer.hpfiq import hpfiq_with, load_hpfiq
from trainer.run import RunError, load_model

NAME = "eval"
HELP = ("evaluate a run or a model bundle: FashionIQ/CIRR recall, CIRCO mAP@K (and world relevance), ranking dumps, "
        "CIRR/CIRCO test files, HP-FashionIQ")


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=Path, help="training run folder")
    src.add_argument("--bundle", type=Path, help="model bundle folder (ONNX graphs + manifest), run with ONNX Runtime")
    p.add_argument("--which", choices=["best", "last"], default="best", help="with --run: which checkpoint")
    p.add_argument("--dataset", choices=["fashioniq", "cirr", "circo", "hpfiq"], required=True)
    p.add_argument("--data-root", type=Path, required=True,
                   help="dataset root (hpfiq: the FashionIQ root the file's '/-/' stands for)")
    p.add_argument("--split", default="val", help="val, test1 (CIRR), test (CIRCO) ...")
    p.add_argument("--categories", default=None, help="FashionIQ categories, comma-separated")
    p.add_argument("--hpfiq-file", type=Path, default=None, help="hpfiq.json (with --dataset hpfiq)")
    p.add_argument("--dump-rankings", type=Path, default=None, metavar="OUTDIR",
                   help="write OUTDIR/<category>.json: top-50 image names per query, aligned with the captions file")
    p.add_argument("--cirr-submission", type=Path, default=None, metavar="OUTDIR",
                   help="CIRR: write the recall and recall_subset files for the evaluation server")
    p.add_argument("--circo-submission", type=Path, default=None, metavar="OUTDIR",
                   help="CIRCO: write OUTDIR/circo_submission_<split>.json for the evaluation server")
    p.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    p.add_argument("--precision", choices=("auto", "fp32", "int8", "fp16"), default="auto",
                   help="with --bundle: which graphs run (auto: int8 on the CPU, fp16 on CUDA, where the bundle "
                        "has them, as the app does)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers decoding images (large sets)")
    add_device(p)


def run(args: argparse.Namespace) -> int:
    return report_errors(_run, args)


def _run(args: argparse.Namespace) -> int:
    _check_options(args)
    device = threads_and_device(args)
    encoder, tok, spec, opt = _open_bundle(args) if args.bundle else _open_run(args, device)
    if args.dataset == "hpfiq":
        metrics = hpfiq_with(encoder, spec, load_hpfiq(args.hpfiq_file, args.data_root), tok)
    else:
        metrics = _eval_split(args, encoder, tok, spec, opt)
    for k, v in metrics.items():
        print(f"{k:>16}  {v:.2f}" if isinstance(v, float) else f"{k:>16}  {v}")
    if args.json:
        source = {"bundle": str(args.bundle)} if args.bundle else {"run": str(args.run)}
        args.json.write_text(json.dumps({**source, "split": args.split, "metrics": metrics}, indent=2))
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """Options that cannot go together fail before anything is loaded."""
    if args.dataset == "hpfiq" and args.hpfiq_file is None:
        raise RunError("--dataset hpfiq needs --hpfiq-file")
    if args.cirr_submission and args.dataset != "cirr":
        raise RunError("--cirr-submission needs --dataset cirr")
    if args.circo_submission and args.dataset != "circo":
        raise RunError("--circo-submission needs --dataset circo")
    _prepare_outputs(args)


def _prepare_outputs(args: argparse.Namespace) -> None:
    """Make the output folders now: a path that cannot be written fails before the evaluation, not after it."""
    folders = [("--dump-rankings", args.dump_rankings), ("--cirr-submission", args.cirr_submission),
               ("--circo-submission", args.circo_submission)]
    if args.json is not None:
        if args.json.is_dir():
            raise RunError(f"--json {args.json} is a folder: give a file name")
        folders.append(("--json", args.json.parent))
    for flag, folder in folders:
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise RunError(f"{flag}: {folder} is a file, not a folder") from None
        except OSError as e:
            raise RunError(f"{flag}: cannot create the folder {folder}: {e.strerror or e}") from None


def _open_run(args: argparse.Namespace, device) -> tuple[Any, Any, Any, Any]:
    """(encoder, tokenizer, image spec, options) of a training run's PyTorch model."""
    model, vocab, _meta = load_model(args.run, args.which)
    model.to(device)
    opt = EvalOptions(device=device, batch_size=args.batch_size, amp=device.type == "cuda",
                      num_workers=args.num_workers)
    return ModelEncoder(model, opt), Tokenizer(vocab, model.cfg.text_spec()), model.cfg.image, opt


def _open_bundle(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    """(encoder, tokenizer, image spec, options) of a bundle's ONNX graphs (scores on the CPU)."""
    from trainer.bundle_eval import open_bundle  # loads ONNX Runtime: only for --bundle

    enc = open_bundle(args.bundle, args.device, args.threads or 0, args.batch_size, args.num_workers, args.precision)
    print(f"bundle graphs: {enc.encoders.precision} on {enc.encoders.device}", file=sys.stderr)
    opt = EvalOptions(batch_size=args.batch_size, num_workers=args.num_workers)
    return enc, enc.bundle.tokenizer(), enc.bundle.manifest.image, opt


def _eval_split(args, encoder, tok, spec, opt) -> dict:
    split = load_split(args.dataset, args.data_root, args.split, categories(args.categories))
    names = split.image_names()
    bank = make_pixel_bank(split.paths, names, spec, in_memory=len(names) * 3 * spec.size * spec.size * 4 < (2 << 30))
    queries = build_queries(split, bank, tok)
    if queries.labelled:
        metrics, rankings = evaluate_with(encoder, split, bank, queries, opt)
    else:
        rankings = rank_with(encoder, split, bank, queries, opt)
        metrics = metrics_of(split, rankings, bank)
        print(f"{args.split}: no targets, so no metrics", file=sys.stderr)
    if args.dump_rankings:
        for path in dump_rankings(args.dump_rankings, bank, rankings):
            print(f"wrote {path}", file=sys.stderr)
    _write_submissions(args, split, bank, rankings)
    return metrics


def _write_submissions(args, split, bank, rankings) -> None:
    if args.cirr_submission:
        recall, subset = cirr_submission(split, bank, rankings)
        out = args.cirr_submission
        out.mkdir(parents=True, exist_ok=True)
        (out / f"recall_submission_{args.split}.json").write_text(json.dumps(recall))
        (out / f"recall_subset_submission_{args.split}.json").write_text(json.dumps(subset))
        print(f"wrote {out}/recall[_subset]_submission_{args.split}.json", file=sys.stderr)
    if args.circo_submission:
        path = args.circo_submission / f"circo_submission_{args.split}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(circo_submission(split, bank, rankings)))
        print(f"wrote {path}", file=sys.stderr)
