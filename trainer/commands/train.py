"""``cirsearch-train train``: train a model on FashionIQ or CIRR (or the demo world, which
is in FashionIQ layout) into a run directory. Runs under ``torchrun`` for DDP."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trainer.commands._common import (
    add_data,
    add_device,
    add_mining,
    categories,
    given,
    mining_config,
    pick_device,
    report_errors,
    set_threads,
    with_default,
)
from trainer.config import DataConfig, TrainConfig, default_of

NAME = "train"
HELP = "train a composed-retrieval model (QuRe, contrastive, TRNS or SPN stage 2) into a run folder"

# Overrides of TrainConfig's defaults (which are QuRe's, for FashionIQ) per model family
# and dataset, applied between the dataclass and the flags. For the tiny model trained
# from scratch on CPU: what the trial found to work.
DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("vitl", "fashioniq"): {},
    ("vitl", "cirr"): {"epochs": 50, "lr": 1e-5},
    ("tiny", "fashioniq"): {"epochs": 12, "lr": 1e-3, "batch_size": 64, "lr_warmup_steps": 50},
    ("tiny", "cirr"): {"epochs": 12, "lr": 1e-3, "batch_size": 64, "lr_warmup_steps": 50},
}
SPN_DEFAULTS: dict[str, dict[str, Any]] = {"vitl": {"epochs": 3, "lr": 1e-5}, "tiny": {"epochs": 3, "lr": 1e-4}}

# The TrainConfig and DataConfig fields the flags fill (each flag's dest is the field's
# name); method, mining, dataset, root and categories are filled by hand.
TRAIN_FLAGS = ("epochs", "batch_size", "lr", "weight_decay", "lr_warmup_steps", "seed", "amp", "n_def", "warmup",
               "spn_temp", "temp_floor", "num_workers", "eval_every", "log_every", "max_steps_per_epoch")
DATA_FLAGS = ("val_split", "corpus", "images", "feature_cache")


def family_defaults(family: str, dataset: str, method: str) -> dict[str, Any]:
    """The TrainConfig overrides of a model family ("tiny" or "vitl") on a dataset."""
    out = dict(DEFAULTS[(family, dataset)])
    if method == "spn":
        out.update(SPN_DEFAULTS[family])
    return out


def _per_family(name: str) -> str:
    """Help text: a field's default where DEFAULTS changes it."""
    base = default_of(TrainConfig, name)
    cases = [f"{fam} on {ds}: {o.get(name, base)}" for (fam, ds), o in DEFAULTS.items()]
    spn = [f"{fam} {o[name]}" for fam, o in SPN_DEFAULTS.items() if name in o]
    return "default: " + "; ".join(cases) + (f"; with --method spn: {', '.join(spn)}" if spn else "")


def add_arguments(p: argparse.ArgumentParser) -> None:
    def d(text: str, name: str, cls: type = TrainConfig) -> str:
        return with_default(text, cls, name)

    add_data(p, required=False)
    p.add_argument("--method", choices=["qure", "contrastive", "trns", "above", "spn"])
    p.add_argument("--model", choices=["tiny", "vitl"], help="architecture (default with --init: the init run's)")
    p.add_argument("--epochs", type=int, help=_per_family("epochs"))
    p.add_argument("--out", type=Path, required=True, help="run folder to create (or to continue with --resume)")
    p.add_argument("--init", type=Path, default=None, help="start from this run's best weights (optimizer fresh)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--pause-after", type=int, default=None, help="stop after this many epochs (resume later)")
    p.add_argument("--vocab", type=Path, default=None,
                   help="WordPiece vocab.txt (vitl: bert-base-uncased's; tiny: built from the captions if absent)")
    p.add_argument("--vocab-size", type=int, default=1000, help="tiny: size of the vocabulary built from captions")
    p.add_argument("--freeze-vision", action="store_true",
                   help="keep the vision tower (and so every image's ViT tokens) fixed, as QuRe keeps BLIP-2's; "
                        "the tokens are computed once and cached (after pretrain: several times faster)")
    p.add_argument("--scratch-init-std", type=float, default=None,
                   help="fresh models: re-draw the Q-Former's Linear weights from N(0, STD) "
                        "(default 0.1 for tiny, where BERT's 0.02 stalls training; 0 keeps BERT's)")
    g = p.add_argument_group("optimization")
    g.add_argument("--batch-size", type=int, help=_per_family("batch_size"))
    g.add_argument("--lr", type=float, help=_per_family("lr"))
    g.add_argument("--weight-decay", type=float, help=d("", "weight_decay"))
    g.add_argument("--lr-warmup-steps", type=int, help=_per_family("lr_warmup_steps"))
    g.add_argument("--seed", type=int, help=d("", "seed"))
    g.add_argument("--no-amp", dest="amp", action="store_false", default=None, help="no fp16 autocast on CUDA")
    g.add_argument("--temp-floor", type=float, help=d("lower bound on the learned temperature (0: none)", "temp_floor"))
    g = p.add_argument_group("negatives schedule (qure, trns, above) and SPN")
    g.add_argument("--n-def", type=int, help=d("sets recomputed every floor(epochs / n_def) epochs", "n_def"))
    g.add_argument("--no-warmup", dest="warmup", action="store_false", default=None,
                   help="mine at epoch 0 too (e.g. after --init)")
    g.add_argument("--spn-temp", type=float, help=d("SPN stage-2 temperature", "spn_temp"))
    add_mining(p)
    g = p.add_argument_group("data and evaluation")
    g.add_argument("--val-split", help=d("validation split, or 'none'", "val_split", DataConfig))
    g.add_argument("--corpus", choices=["split", "targets"],
                   help=d("FashionIQ training corpus: the split's image list, or the triplets' targets (QuRe's code)",
                          "corpus", DataConfig))
    g.add_argument("--images", choices=["auto", "memory", "lazy"],
                   help=d("keep decoded images in memory, or decode them in DataLoader workers", "images", DataConfig))
    g.add_argument("--feature-cache", help="folder for cached frozen-ViT tokens (vitl)")
    g.add_argument("--num-workers", type=int, help=d("", "num_workers"))
    g.add_argument("--eval-every", type=int, help=d("", "eval_every"))
    g.add_argument("--log-every", type=int, help=d("", "log_every"))
    g.add_argument("--max-steps-per-epoch", type=int, help="cap steps per epoch (smoke runs)")
    add_device(p)


def run(args: argparse.Namespace) -> int:
    return report_errors(_run, args)


def _run(args: argparse.Namespace) -> int:
    import torch

    from trainer import distributed, run
    from trainer.train import Trainer

    set_threads(args.threads)
    if args.resume:
        cfg_json = run.read_config(args.out)
        if "training" not in cfg_json:
            raise run.RunError(
                f"{args.out} holds imported weights, not a training run; start one with --init {args.out}"
            )
        from trainer.config import data_from_json

        data, cfg = data_from_json(cfg_json["data"]), TrainConfig.from_json(cfg_json["training"])
        payload = run.load_checkpoint(args.out / run.CHECKPOINT)
        model = run.model_from_payload(payload)
        d = distributed.setup(pick_device(args.device).type)
        device = pick_device(args.device, d.local_rank)
        trainer = Trainer(args.out, model, data, cfg, device, d, _logger(d))
        trainer.resume_from(payload)
        trainer.fit(args.pause_after)
        del trainer  # drop the DDP wrapper (and its gloo work) before the group goes
        distributed.teardown(d)
        return 0

    missing = [f for f in ("dataset", "data_root", "method") if getattr(args, f) is None]
    if missing:
        print(f"error: a new run needs --{', --'.join(m.replace('_', '-') for m in missing)}", file=sys.stderr)
        return 2
    try:
        d = distributed.setup(pick_device(args.device).type)
        device = pick_device(args.device, d.local_rank)
    except ValueError as e:
        raise run.RunError(str(e)) from None
    torch.manual_seed(_seed(args))  # before the model is drawn; the same seed goes into the config
    model, vocab, init_meta = _initial_model(args, d)
    data, cfg = _configs(args, model.cfg.name)
    if d.main:
        from trainer.train import start_run

        extra = {
            "init": str(args.init.resolve()) if args.init else None,
            "init_meta": init_meta,
            "scratch_init_std": scratch_std(args, model.cfg.name),
        }
        start_run(args.out, model, vocab, data, cfg, extra)
    d.barrier()
    trainer = Trainer(args.out, model, data, cfg, device, d, _logger(d))
    trainer.fit(args.pause_after)
    del trainer  # drop the DDP wrapper (and its gloo work) before the group goes
    distributed.teardown(d)
    return 0


def _seed(args) -> int:
    return args.seed if args.seed is not None else default_of(TrainConfig, "seed")


def _logger(d):
    return (lambda s: print(s, flush=True)) if d.main else (lambda s: None)


def _initial_model(args, d):
    """(model, vocab path, meta of the init run or None)."""
    from engine.text import Tokenizer
    from trainer import run
    from trainer.model import build_model, get_config

    if args.init is not None:
        model, vocab, meta = run.load_model(args.init, which="best")
        if args.model and args.model != model.cfg.name:
            raise run.RunError(f"--init {args.init} holds a {model.cfg.name} model, not {args.model}")
        if args.freeze_vision:
            freeze_vision(model)
        model.train()
        return model, vocab, {k: meta.get(k) for k in ("method", "epoch", "metrics", "seed")}
    name = args.model or "tiny"
    cfg = get_config(name)
    vocab = args.vocab
    if vocab is None:
        if name != "tiny":
            raise run.RunError("--model vitl needs --vocab (bert-base-uncased's vocab.txt) or --init RUN")
        vocab = _build_vocab(args, d)
    tok = Tokenizer(vocab, cfg.text_spec())
    model = build_model(cfg, vocab_size=tok.vocab_size)
    std = scratch_std(args, name)
    if std > 0:
        from trainer.scratch import widen_qformer_init

        widen_qformer_init(model, std)
    if args.freeze_vision:
        freeze_vision(model)
    return model, Path(vocab), None


def freeze_vision(model) -> None:
    """Fix the vision tower (recorded in the model's config, so export and reload agree)."""
    model.cfg = model.cfg.replace(freeze_vision=True)
    model.vision.requires_grad_(False)


def scratch_std(args, model_name: str) -> float:
    """--scratch-init-std, defaulting to 0.1 for a fresh tiny model and 0 (BERT's 0.02 kept) otherwise."""
    if args.init is not None:
        return 0.0
    if args.scratch_init_std is not None:
        return args.scratch_init_std
    return 0.1 if model_name == "tiny" else 0.0


def _build_vocab(args, d) -> Path:
    from trainer.data.splits import load_split
    from trainer.vocab import build_wordpiece_vocab

    path = args.out / "vocab.txt"
    if d.main:
        if (args.out / "config.json").exists():
            from trainer.run import RunError

            raise RunError(f"{args.out} already holds a run; pass --resume to continue it or choose another --out")
        split = load_split(args.dataset, args.data_root, "train", categories(args.categories))
        build_wordpiece_vocab([t.caption for t in split.triplets], path, args.vocab_size)
    d.barrier()
    return path


def _configs(args, model_name: str) -> tuple[DataConfig, TrainConfig]:
    """The run's configs: dataclass defaults, then the family's DEFAULTS, then the flags given."""
    family = "tiny" if model_name == "tiny" else "vitl"  # imported real-size models: QuRe's values
    try:
        data_flags = given(args, DATA_FLAGS)
        if data_flags.get("val_split") == "none":
            data_flags["val_split"] = None
        data = DataConfig(
            dataset=args.dataset,
            root=str(Path(args.data_root).resolve()),
            categories=categories(args.categories),
            **data_flags,
        )
        cfg = TrainConfig(
            **{**family_defaults(family, args.dataset, args.method), **given(args, TRAIN_FLAGS)},
            method=args.method,
            mining=mining_config(args, args.method),
        )
    except ValueError as e:
        from trainer.run import RunError

        raise RunError(str(e)) from None
    return data, cfg
