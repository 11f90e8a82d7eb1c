"""``cirsearch-train pretrain``: image-text pretraining of the tiny model on a generated
world (BLIP-2's first stage), into a run folder that ``train --init`` starts from."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainer.commands._common import add_device, categories, report_errors, threads_and_device

NAME = "pretrain"
HELP = "pretrain the tiny model with image-text contrastive learning on a generated world (then train --init RUN)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", type=Path, help="a world written by 'python -m engine.world generate'")
    p.add_argument("--model", choices=["tiny"], default="tiny",
                   help="architecture (vitl starts from BLIP-2's own pretraining: see import-qure)")
    p.add_argument("--out", type=Path, required=True, help="run folder to create (or to continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    p.add_argument("--init", type=Path, default=None,
                   help="start from this run's best weights (a pretraining or training run; fresh optimizer and "
                        "schedule), e.g. to continue a pretraining with --itm")
    p.add_argument("--pause-after", type=int, default=None, help="stop after this many epochs (resume later)")
    p.add_argument("--vocab", type=Path, default=None,
                   help="WordPiece vocab.txt (default: built from the world's texts, --vocab-size tokens)")
    p.add_argument("--vocab-size", type=int, default=1000)
    p.add_argument("--categories", default=None, help="world categories, comma-separated (default: all)")
    p.add_argument("--split", default="train", help="the split whose images are pretrained on")
    p.add_argument("--probe-split", default="val", help="split probed after each epoch, or 'none'")
    g = p.add_argument_group("architecture (from scratch, so any size trains; train --init and export follow the run)")
    g.add_argument("--image-size", type=int, default=None,
                   help="input resolution in pixels, a multiple of the patch size (tiny: 96)")
    g.add_argument("--patch-size", type=int, default=None,
                   help="vision patch side in pixels (tiny: 16; 12 at 96 px gives 8x8 patches, as 128 px at 16)")
    g.add_argument("--vision-width", type=int, default=None, help="vision tower width, a multiple of 4 (tiny: 128)")
    g.add_argument("--vision-layers", type=int, default=None, help="vision tower depth (tiny: 4)")
    g.add_argument("--vision-stem", choices=("patch", "conv"), default=None,
                   help="how pixels become tokens: patch (tiny: one linear map per patch, as CLIP) or conv "
                        "(stride-2 3x3 convolutions down to the same grid; sees the small attributes better)")
    p.add_argument("--scratch-init-std", type=float, default=0.1,
                   help="re-draw the Q-Former's Linear weights from N(0, STD) (0 keeps BERT's 0.02)")
    g = p.add_argument_group("optimization")
    g.add_argument("--epochs", type=int, default=12)
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--weight-decay", type=float, default=0.05)
    g.add_argument("--lr-warmup-steps", type=int, default=50)
    g.add_argument("--omit", type=float, default=0.3, help="chance each attribute is left out of a description")
    g.add_argument("--near-misses", type=float, default=0.0,
                   help="chance each image adds a description false in one attribute as a hard negative text "
                        "(NegCLIP's hard negative captions; 0 = none)")
    g.add_argument("--paired", action="store_true",
                   help="fill half of each batch with images one attribute away from the other half's (hard "
                        "negative images)")
    g.add_argument("--itm", type=float, default=0.0, metavar="WEIGHT",
                   help="add image-text matching with ITC-mined hard negatives (BLIP-2's ITM), this weight "
                        "against ITC's 1 (0 = ITC alone); trains the path a composed query takes")
    g.add_argument("--itm-hard", type=float, default=1.0, metavar="SHARE",
                   help="share of ITM negatives drawn by ITC similarity (BLIP-2's hard negatives: 1); the rest "
                        "uniformly among the false pairs (easier, for continuing a run whose ITC is sharp)")
    g.add_argument("--itg", type=float, default=0.0, metavar="WEIGHT",
                   help="add image-grounded text generation (BLIP-2's ITG: the queries, seeing the image, let a "
                        "causal text decoder write the description), this weight against ITC's 1 (0 = none)")
    g.add_argument("--attributes", type=float, default=0.0, metavar="WEIGHT",
                   help="add a classifier per attribute on the target path's query outputs, trained on the world's "
                        "labels, this weight against ITC's 1 (0 = none): every attribute weighs the same each step")
    g.add_argument("--attribute-input", choices=("target", "vision"), default="target",
                   help="what the attribute heads read: the target path's query outputs (default) or the vision "
                        "tower's tokens ([CLS] and the patch mean)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--log-every", type=int, default=20)
    g.add_argument("--max-steps-per-epoch", type=int, default=None, help="cap steps per epoch (smoke runs)")
    add_device(p)


def run(args: argparse.Namespace) -> int:
    return report_errors(_run, args)


def _run(args: argparse.Namespace) -> int:
    import torch

    from engine.text import Tokenizer
    from trainer import run as runs
    from trainer.pretrain import PretrainConfig, Pretrainer, load_world_images, start_pretrain_run

    device = threads_and_device(args)
    log = lambda s: print(s, flush=True)  # noqa: E731
    if args.resume:
        meta = runs.read_config(args.out)
        if meta.get("method") != "pretrain":
            raise runs.RunError(f"{args.out} is not a pretraining run")
        cfg = PretrainConfig.from_json(meta["pretraining"])
        payload = runs.load_checkpoint(args.out / runs.CHECKPOINT)
        model = runs.model_from_payload(payload)
        data = meta["data"]
        vocab = args.out / runs.VOCAB
    else:
        if args.data_root is None:
            print("error: a new run needs --data-root", flush=True)
            return 2
        try:
            cfg = PretrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                 weight_decay=args.weight_decay, warmup_steps=args.lr_warmup_steps, omit=args.omit,
                                 near_misses=args.near_misses, paired=args.paired, itm=args.itm,
                                 itm_hard=args.itm_hard, itg=args.itg,
                                 attributes=args.attributes, attribute_input=args.attribute_input, seed=args.seed,
                                 log_every=args.log_every, max_steps_per_epoch=args.max_steps_per_epoch)
        except ValueError as e:
            raise runs.RunError(str(e)) from None
        if (args.out / runs.CONFIG).exists():
            raise runs.RunError(f"{args.out} already holds a run; pass --resume to continue it or choose another --out")
        torch.manual_seed(cfg.seed)
        if args.init is not None:
            model, vocab, init_meta = _init_model(args)
        else:
            model, vocab = _fresh_model(args)
            init_meta = None
        data = {"dataset": "world", "root": str(args.data_root.resolve()), "split": args.split,
                "probe_split": None if args.probe_split == "none" else args.probe_split,
                "categories": list(categories(args.categories) or []) or None}
        payload = None
    Tokenizer(vocab, model.cfg.text_spec())  # loads the vocabulary now: a bad one fails before any image is read
    train = load_world_images(data["root"], data["split"], model, data["categories"])
    probe_images = load_world_images(data["root"], data["probe_split"], model, data["categories"]) \
        if data["probe_split"] else None
    log(f"pretraining on {len(train.names)} images ({data['split']}), probing on "
        f"{len(probe_images.names) if probe_images else 0} ({data['probe_split']})")
    if payload is None:
        start_pretrain_run(args.out, model, vocab, cfg, data,
                           {"scratch_init_std": None if args.init else args.scratch_init_std,
                            "model_name": args.model, "init": str(args.init.resolve()) if args.init else None,
                            "init_meta": init_meta})
    trainer = Pretrainer(args.out, model, Tokenizer(args.out / runs.VOCAB, model.cfg.text_spec()), train,
                         probe_images, cfg, log, device)
    if payload is not None:
        trainer.resume_from(payload)
    trainer.fit(args.pause_after)
    log(f"wrote {args.out} (best.pt: the epoch with the best probe P@5); next: "
        f"cirsearch-train train --init {args.out} --method contrastive ...")
    return 0


def _init_model(args):
    """(model, vocab path, the init run's meta) from --init RUN's best weights."""
    from trainer import run as runs

    given = [f for f, v in (("--image-size", args.image_size), ("--patch-size", args.patch_size),
                            ("--vision-width", args.vision_width), ("--vision-layers", args.vision_layers),
                            ("--vision-stem", args.vision_stem),
                            ("--vocab", args.vocab)) if v is not None]
    if given:
        raise runs.RunError(f"--init takes the architecture and vocabulary of {args.init}; drop {', '.join(given)}")
    model, vocab, meta = runs.load_model(args.init, which="best")
    if model.cfg.name != args.model:
        raise runs.RunError(f"--init {args.init} holds a {model.cfg.name} model, not {args.model}")
    if model.has_split_query_side:
        raise runs.RunError(f"--init {args.init} has a split query side (SPN's second stage); pretrain one without")
    keep = ("method", "epoch", "step", "metrics", "checkpoint_sha256", "seed")
    return model, vocab, {k: meta.get(k) for k in keep}


def _fresh_model(args):
    from engine.text import Tokenizer
    from trainer import run as runs
    from trainer.model import build_model, get_config
    from trainer.model.config import resized

    try:
        cfg = resized(get_config(args.model), args.image_size, args.vision_width, args.vision_layers,
                      args.patch_size, args.vision_stem)
    except ValueError as e:
        raise runs.RunError(str(e)) from None
    vocab = args.vocab
    if vocab is None:
        from engine.world import vocabulary_corpus
        from trainer.vocab import build_wordpiece_vocab

        args.out.mkdir(parents=True, exist_ok=True)
        vocab = build_wordpiece_vocab(vocabulary_corpus(), args.out / "vocab.txt", args.vocab_size)
    model = build_model(cfg, vocab_size=Tokenizer(vocab, cfg.text_spec()).vocab_size)
    if args.scratch_init_std > 0:
        from trainer.scratch import widen_qformer_init

        widen_qformer_init(model, args.scratch_init_std)
    return model, Path(vocab)
