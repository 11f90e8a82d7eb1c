"""``cirsearch-train eval``: metrics of a run on a split, ranking dumps, CIRR server files,
HP-FashionIQ preference rate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trainer.commands._common import add_device, categories, pick_device, report_errors, set_threads

NAME = "eval"
HELP = "evaluate a run: FashionIQ/CIRR recall (and world relevance), ranking dumps, CIRR test files, HP-FashionIQ"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--which", choices=["best", "last"], default="best")
    p.add_argument("--dataset", choices=["fashioniq", "cirr", "hpfiq"], required=True)
    p.add_argument("--data-root", type=Path, required=True,
                   help="dataset root (hpfiq: the FashionIQ root the file's '/-/' stands for)")
    p.add_argument("--split", default="val", help="val, test1 (CIRR) ...")
    p.add_argument("--categories", default=None, help="FashionIQ categories, comma-separated")
    p.add_argument("--hpfiq-file", type=Path, default=None, help="hpfiq.json (with --dataset hpfiq)")
    p.add_argument("--dump-rankings", type=Path, default=None, metavar="OUTDIR",
                   help="write OUTDIR/<category>.json: top-50 image names per query, aligned with the captions file")
    p.add_argument("--cirr-submission", type=Path, default=None, metavar="OUTDIR",
                   help="CIRR: write the recall and recall_subset files for the evaluation server")
    p.add_argument("--json", type=Path, default=None, help="also write the metrics here")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers decoding images (large sets)")
    add_device(p)


def run(args: argparse.Namespace) -> int:
    return report_errors(_run, args)


def _run(args: argparse.Namespace) -> int:
    from engine.text import Tokenizer
    from trainer.evaluate import EvalOptions
    from trainer.run import RunError, load_model

    set_threads(args.threads)
    try:
        device = pick_device(args.device)
    except ValueError as e:
        raise RunError(str(e)) from None
    model, vocab, meta = load_model(args.run, args.which)
    model.to(device)
    tok = Tokenizer(vocab, model.cfg.text_spec())
    opt = EvalOptions(device=device, batch_size=args.batch_size, amp=device.type == "cuda", num_workers=args.num_workers)
    if args.dataset == "hpfiq":
        from trainer.hpfiq import evaluate_hpfiq, load_hpfiq

        if args.hpfiq_file is None:
            raise RunError("--dataset hpfiq needs --hpfiq-file")
        metrics = evaluate_hpfiq(model, load_hpfiq(args.hpfiq_file, args.data_root), tok, opt)
    else:
        metrics = _eval_split(args, model, tok, opt)
    for k, v in metrics.items():
        print(f"{k:>16}  {v:.2f}" if isinstance(v, float) else f"{k:>16}  {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"run": str(args.run), "split": args.split, "metrics": metrics}, indent=2))
    return 0


def _eval_split(args, model, tok, opt) -> dict:
    from trainer.data.images import make_pixel_bank
    from trainer.data.queries import build_queries
    from trainer.data.splits import load_split
    from trainer.evaluate import cirr_submission, dump_rankings, evaluate_split, metrics_of, rank_split
    from trainer.run import RunError

    split = load_split(args.dataset, args.data_root, args.split, categories(args.categories))
    names = split.image_names()
    size = model.cfg.image.size
    bank = make_pixel_bank(split.paths, names, model.cfg.image, in_memory=len(names) * 3 * size * size * 4 < (2 << 30))
    queries = build_queries(split, bank, tok)
    if queries.labelled:
        metrics, rankings = evaluate_split(model, split, bank, queries, opt)
    else:
        rankings = rank_split(model, split, bank, queries, opt)
        metrics = metrics_of(split, rankings)
        print(f"{args.split}: no targets, so no metrics", file=sys.stderr)
    if args.dump_rankings:
        for path in dump_rankings(args.dump_rankings, bank, rankings):
            print(f"wrote {path}", file=sys.stderr)
    if args.cirr_submission:
        if split.dataset != "cirr":
            raise RunError("--cirr-submission needs --dataset cirr")
        recall, subset = cirr_submission(split, bank, rankings)
        out = args.cirr_submission
        out.mkdir(parents=True, exist_ok=True)
        (out / f"recall_submission_{args.split}.json").write_text(json.dumps(recall))
        (out / f"recall_subset_submission_{args.split}.json").write_text(json.dumps(subset))
        print(f"wrote {out}/recall[_subset]_submission_{args.split}.json", file=sys.stderr)
    return metrics
