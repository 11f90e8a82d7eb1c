"""``cirsearch-train mine``: the negatives table of a run's model over a training split,
as its own step (the training loop runs the same code on QuRe's schedule)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.text import Tokenizer
from trainer.commands._common import (
    add_data,
    add_device,
    add_mining,
    categories,
    mining_config,
    report_errors,
    threads_and_device,
    with_default,
)
from trainer.data.images import make_pixel_bank
from trainer.data.queries import build_queries
from trainer.data.splits import load_split
from trainer.mining import MiningConfig, mine
from trainer.run import RunError, load_model

NAME = "mine"
HELP = "mine hard negatives (QuRe steep drops or TRNS mid-zone) with a run's model; write a negatives table (.npz)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--which", choices=["best", "last"], default="last")
    add_data(p)
    p.add_argument("--split", default="train")
    p.add_argument("--corpus", choices=["split", "targets"], default="split")
    p.add_argument("--method", choices=["qure", "trns", "above"], help=with_default("", MiningConfig, "method"))
    p.add_argument("--out", type=Path, required=True, help="the table to write (.npz)")
    p.add_argument(
        "--batch-size", type=int, help=with_default("images/queries encoded at once", MiningConfig, "batch_size")
    )
    p.add_argument("--num-workers", type=int, default=0)
    add_mining(p)
    add_device(p)


def run(args: argparse.Namespace) -> int:
    return report_errors(_run, args)


def _run(args: argparse.Namespace) -> int:
    device = threads_and_device(args)
    try:
        cfg = mining_config(args, args.method, batch_size=args.batch_size)
    except ValueError as e:
        raise RunError(str(e)) from None
    model, vocab, _ = load_model(args.run, args.which)
    model.to(device)
    split = load_split(args.dataset, args.data_root, args.split, categories(args.categories), corpus=args.corpus)
    names = split.image_names()
    size = model.cfg.image.size
    bank = make_pixel_bank(split.paths, names, model.cfg.image, in_memory=len(names) * 3 * size * size * 4 < (2 << 30))
    queries = build_queries(split, bank, Tokenizer(vocab, model.cfg.text_spec()))
    table = mine(
        model,
        bank,
        queries,
        cfg,
        device,
        amp=device.type == "cuda",
        num_workers=args.num_workers,
        meta={"run": str(args.run), "split": args.split},
    )
    table.save(args.out)
    print(json.dumps({"out": str(args.out), **table.stats(), "seconds": table.meta["seconds"]}, indent=2))
    return 0
