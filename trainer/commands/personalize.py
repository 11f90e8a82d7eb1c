"""``cirsearch-train personalize``: learn from a library's thumbs-up/down."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.errors import CirsearchError
from engine.resources import default_library_dir
from trainer.personalize.run import PersonalizeError, personalize_library, rollback
from trainer.personalize.train import PersonalizeConfig

NAME = "personalize"
HELP = ("fine-tune the query side of a library's model on its votes (Bradley-Terry), write a child bundle "
        "whose only new file is query.onnx, and switch the library to it (no re-indexing)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--library", type=Path, default=None, help="library folder (default: the user data dir)")
    p.add_argument("--out", type=Path, help="child bundle folder (default: LIBRARY/models/<name>-personal-<time>)")
    p.add_argument("--no-activate", action="store_true", help="write the child bundle but keep using the current model")
    p.add_argument("--rollback", action="store_true", help="switch back to the model the personalized one came from")
    p.add_argument("--epochs", type=int, default=30, help="at most this many epochs (early stopping on held-out votes)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 1e-4 small models, 1e-5 ViT-L)")
    p.add_argument("--anchor", type=float, default=None,
                   help="L2 pull towards the starting weights, so the model keeps following the text "
                        "(default: PersonalizeConfig's, 1.0; 0 = off)")
    p.add_argument("--held-out", type=float, default=0.25, help="share of votes set aside to measure the effect")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--progress-jsonl", action="store_true",
                   help="print one JSON object per epoch to stderr (for programs that show progress)")


def progress_record(epoch: int, total: int, rec: dict) -> dict:
    """One epoch as a JSON-safe object: ``{"event": "epoch", "epoch", "epochs", ...}``;
    a measure that does not exist (no held-out votes: NaN) is null."""
    out: dict = {"event": "epoch", "epoch": epoch, "epochs": total}
    for k, v in rec.items():
        if k != "epoch":
            out[k] = None if isinstance(v, float) and v != v else v
    return out


def _library_dir(arg: Path | None) -> Path:
    return arg if arg is not None else default_library_dir()


def run(args: argparse.Namespace) -> int:
    folder = _library_dir(args.library)
    try:
        if args.rollback:
            base = rollback(folder)
            print(json.dumps({"rolled_back_to": str(base)}) if args.json else f"now using {base}")
            return 0

        def progress(epoch: int, total: int, rec: dict) -> None:
            if args.progress_jsonl:
                print(json.dumps(progress_record(epoch, total, rec)), file=sys.stderr, flush=True)
            elif not args.json:
                held = "-" if rec["held_acc"] != rec["held_acc"] else f"{rec['held_acc']:.3f}"
                print(f"epoch {epoch:>2}/{total}  loss {rec['train_loss']:.4f}  train acc {rec['train_acc']:.3f}  "
                      f"held-out acc {held}", file=sys.stderr)

        cfg = PersonalizeConfig(lr=args.lr, max_epochs=args.epochs, held_out=args.held_out, seed=args.seed,
                                **({} if args.anchor is None else {"anchor": args.anchor}))
        res = personalize_library(folder, args.out, cfg, activate=not args.no_activate, progress=progress)
    except (PersonalizeError, CirsearchError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    r = res.report
    if args.json:
        print(json.dumps({"bundle": str(res.bundle), "base": str(res.base), "activated": res.activated,
                          "int8": res.int8, **res.info.__dict__, **r.to_json()}))
        return 0
    fmt = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
    print(f"{res.info.votes} votes -> {r.pairs_train} training pairs, {r.pairs_held_out} held out "
          f"({res.info.dropped_pairs} dropped: photo or reference gone)")
    print(f"held-out pairwise accuracy: before {fmt(r.before)}, after {fmt(r.after)} (epoch {r.best_epoch} of "
          f"{r.epochs_run}, {r.seconds:.1f} s)")
    if res.int8:
        print(res.int8)
    print(f"wrote {res.bundle}" + ("; the library now uses it (no re-indexing)" if res.activated else ""))
    return 0
