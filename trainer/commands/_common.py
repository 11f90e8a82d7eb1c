"""Pieces shared by the train / eval / mine commands (argument groups, device choice)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import torch

from trainer.data.errors import DataError
from trainer.mining import MiningConfig
from trainer.run import RunError


def report_errors(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; bad data or a bad run folder is one line on stderr and exit code 2."""
    try:
        return fn(args)
    except (DataError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for but CUDA is not available")
        if dev.index is None:
            dev = torch.device("cuda", local_rank)
    return dev


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)
    elif int(os.environ.get("WORLD_SIZE", "1")) > 1 and "OMP_NUM_THREADS" not in os.environ:
        # torchrun sets OMP_NUM_THREADS=1 unless told otherwise; share the cores instead
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["WORLD_SIZE"])))


def add_data(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--dataset", choices=["fashioniq", "cirr"], required=required)
    p.add_argument("--data-root", required=required, help="dataset root (captions/, image_splits/, images)")
    p.add_argument("--categories", default=None, help="FashionIQ categories, comma-separated (default: all found)")


def categories(arg: str | None) -> tuple[str, ...] | None:
    return tuple(c.strip() for c in arg.split(",") if c.strip()) if arg else None


def add_mining(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("negative mining (qure, trns)")
    g.add_argument("--consecutive-threshold", type=int, default=1, help="QuRe: the two drops must be > this apart")
    g.add_argument("--window", type=int, default=None,
                   help="QuRe: search the drops only among the first W images after the target (default: all, as the paper)")
    g.add_argument("--fallback-k", type=int, default=10,
                   help="when no hard set exists: the first K images after the target")
    g.add_argument("--trns-lo", type=float, default=5, help="TRNS mid-zone start (rank after the target, or delta)")
    g.add_argument("--trns-hi", type=float, default=30, help="TRNS mid-zone end (inclusive)")
    g.add_argument("--trns-mode", choices=["rank", "delta"], default="rank")
    g.add_argument("--fn-sim", type=float, default=0.9,
                   help="above: keep out images the model finds at least this alike to the target (likely right answers)")
    g.add_argument("--mine-chunk", type=int, default=256, help="queries scored at once while mining")


def mining_config(args: argparse.Namespace, method: str) -> MiningConfig:
    return MiningConfig(
        method=method if method in ("qure", "trns", "above") else "qure",
        consecutive_threshold=args.consecutive_threshold,
        window=args.window,
        fallback_k=args.fallback_k,
        trns_lo=args.trns_lo,
        trns_hi=args.trns_hi,
        trns_mode=args.trns_mode,
        fn_sim=args.fn_sim,
        chunk=args.mine_chunk,
    )
