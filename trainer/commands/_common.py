"""Pieces shared by the train / eval / mine commands (argument groups, device choice)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import torch

from engine.text import VocabError
from trainer.config import default_of
from trainer.data.errors import DataError
from trainer.mining import METHODS as MINING_METHODS
from trainer.mining import MiningConfig
from trainer.run import RunError


def report_errors(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; bad data, a bad vocabulary or a bad run folder is one line on stderr and exit code 2."""
    try:
        return fn(args)
    except (DataError, RunError, VocabError) as e:
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


def threads_and_device(args: argparse.Namespace) -> torch.device:
    """Apply ``--threads`` and resolve ``--device``; a device that cannot be had is a RunError."""
    set_threads(args.threads)
    try:
        return pick_device(args.device)
    except ValueError as e:
        raise RunError(str(e)) from None


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


def given(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """The flags among ``names`` given on the command line, by name.

    Flags that fill a config field have no argparse default: None means "not given", so
    the field keeps its dataclass default (the one place defaults are written)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def with_default(text: str, cls: type, name: str) -> str:
    """A help text ending in the dataclass field's default."""
    return f"{text} (default: {default_of(cls, name)})".lstrip()


# The MiningConfig fields add_mining's flags fill (each flag's dest is the field's name).
MINING_FLAGS = ("consecutive_threshold", "window", "fallback_k", "trns_lo", "trns_hi", "trns_mode", "fn_sim", "chunk")


def add_mining(p: argparse.ArgumentParser) -> None:
    def d(text: str, name: str) -> str:
        return with_default(text, MiningConfig, name)

    g = p.add_argument_group("negative mining (qure, trns)")
    g.add_argument("--consecutive-threshold", type=int,
                   help=d("QuRe: the two drops must be > this apart", "consecutive_threshold"))
    g.add_argument(
        "--window",
        type=int,
        help="QuRe: search the drops only among the first W images after the target (default: all, as the paper)",
    )
    g.add_argument(
        "--fallback-k", type=int, help=d("when no hard set exists: the first K images after the target", "fallback_k")
    )
    g.add_argument("--trns-lo", type=float, help=d("TRNS mid-zone start (rank after the target, or delta)", "trns_lo"))
    g.add_argument("--trns-hi", type=float, help=d("TRNS mid-zone end (inclusive)", "trns_hi"))
    g.add_argument("--trns-mode", choices=["rank", "delta"], help=d("", "trns_mode"))
    g.add_argument(
        "--fn-sim",
        type=float,
        help=d(
            "above: keep out images the model finds at least this alike to the target (likely right answers)", "fn_sim"
        ),
    )
    g.add_argument(
        "--mine-chunk",
        dest="chunk",
        metavar="MINE_CHUNK",
        type=int,
        help=d("queries scored at once while mining", "chunk"),
    )


def mining_config(args: argparse.Namespace, method: str | None, batch_size: int | None = None) -> MiningConfig:
    """The given mining flags over MiningConfig's defaults. ``method`` is used only when it
    is a mining method (contrastive and SPN runs do not mine; their config keeps the default)."""
    kw = given(args, MINING_FLAGS)
    if method in MINING_METHODS:
        kw["method"] = method
    if batch_size is not None:
        kw["batch_size"] = batch_size
    return MiningConfig(**kw)
