"""Where in the model does an attribute get lost? A linear probe at each stage.

For a run (pretraining or composed) and a generated world, fits a linear classifier
(softmax regression on standardized features, Adam, L2) for each attribute on three
inputs of the train split's images, and reports its accuracy on another split:

- ``pixels``: the model's input (3 x S x S, after the engine's preprocessing);
- ``vision tokens``: the vision tower's output after ln_vision (T x Dv, flattened);
- ``target tokens``: the Q-Former's target tokens, what the index stores (Q x E, flattened).

An attribute the vision tokens carry and the target tokens do not is lost in the
Q-Former; one the vision tokens do not carry is lost in the vision tower. Only images
whose garment has the attribute take part (shirts have no neckline). ``majority`` is the
share of the most common value on the evaluated split (the accuracy of always guessing it).

    python tools/demo_model/linear_probe.py RUN WORLD [--attributes neckline,sleeves]
        [--train-images 6000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

STAGES = ("pixels", "vision tokens", "target tokens")


def fit_linear(x, y, x_eval, y_eval, classes: int, epochs: int = 300, seed: int = 0,
               weight_decay: float = 1e-4) -> tuple[float, float]:
    """Softmax regression on standardized features -> (train accuracy, eval accuracy), in percent."""
    import torch

    g = torch.Generator().manual_seed(seed)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    x, x_eval = (x - mu) / sd, (x_eval - mu) / sd
    w = torch.zeros(x.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=1e-3)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for s in range(0, len(x), 512):
            j = perm[s:s + 512]
            loss = torch.nn.functional.cross_entropy(x[j] @ w + b, y[j]) + weight_decay * (w ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        train = float(((x @ w + b).argmax(1) == y).float().mean())
        held = float(((x_eval @ w + b).argmax(1) == y_eval).float().mean())
    return 100.0 * train, 100.0 * held


def stage_features(model, images, ids: np.ndarray, batch: int = 256) -> dict:
    import torch

    out: dict[str, list] = {k: [] for k in STAGES}
    with torch.no_grad():
        for s in range(0, len(ids), batch):
            pix = images.bank.batch(ids[s:s + batch])
            feats = model.vision_features(pix)
            out["pixels"].append(pix.flatten(1))
            out["vision tokens"].append(feats.flatten(1))
            out["target tokens"].append(model.target_from_features(feats).flatten(1))
    return {k: torch.cat(v) for k, v in out.items()}


def probe(run_dir, world, attributes, train_split="train", eval_split="val", train_images=6000,
          epochs=300, seed=0) -> dict:
    import torch

    from engine.world.attributes import VALUES
    from trainer import run as runs
    from trainer.pretrain import load_world_images

    unknown = [a for a in attributes if a not in VALUES]
    if unknown:
        raise SystemExit(f"error: no attribute {', '.join(map(repr, unknown))} (there are {', '.join(VALUES)})")
    torch.manual_seed(seed)
    model, _, _ = runs.load_model(run_dir)
    model.eval()
    train = load_world_images(world, train_split, model)
    held = load_world_images(world, eval_split, model)
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(len(train.names), min(train_images, len(train.names)), replace=False))
    held_ids = np.arange(len(held.names))
    f_train, f_held = stage_features(model, train, ids), stage_features(model, held, held_ids)
    result: dict = {"run": str(run_dir), "world": str(world), "train_split": train_split, "eval_split": eval_split,
                    "attributes": {}}
    for a in attributes:
        has = np.asarray([a in train.garments[int(i)].attributes for i in ids])
        has_held = np.asarray([a in held.garments[int(i)].attributes for i in held_ids])
        if has.sum() < 2 or has_held.sum() < 1:
            result["attributes"][a] = {"error": "too few images with this attribute"}
            continue
        y = torch.tensor([VALUES[a].index(train.garments[int(i)].get(a)) for i in ids[has]])
        y_held = torch.tensor([VALUES[a].index(held.garments[int(i)].get(a)) for i in held_ids[has_held]])
        row = {"train_images": int(has.sum()), "eval_images": int(has_held.sum()),
               "majority": 100.0 * float(torch.bincount(y_held).max()) / len(y_held)}
        for k in STAGES:
            tr, ev = fit_linear(f_train[k][torch.from_numpy(has)], y, f_held[k][torch.from_numpy(has_held)], y_held,
                                len(VALUES[a]), epochs, seed)
            row[k] = {"dims": int(f_train[k].shape[1]), "train": tr, "eval": ev}
        result["attributes"][a] = row
    return result


def add_common_arguments(p: argparse.ArgumentParser, run_help: str) -> None:
    """The arguments every probe tool here takes (tower_probe.py shares them)."""
    p.add_argument("run", type=Path, help=run_help)
    p.add_argument("world", type=Path, help="a generated world")
    p.add_argument("--train-split", default="train")
    p.add_argument("--eval-split", default="val")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, default=None)


def run_on_threads(threads: int, fn, *args):
    """``fn(*args)`` on ``threads`` torch threads (restored afterwards); a run or data error
    is printed as one line and gives None."""
    import torch

    from trainer.data.errors import DataError
    from trainer.run import RunError

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn(*args)
    except (RunError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return None
    finally:
        torch.set_num_threads(before)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(p, "a run folder (its best.pt)")
    p.add_argument("--attributes", default="neckline,sleeves")
    p.add_argument("--train-images", type=int, default=6000)
    p.add_argument("--epochs", type=int, default=300)
    args = p.parse_args(argv)
    result = run_on_threads(args.threads, probe, args.run, args.world, [a for a in args.attributes.split(",") if a],
                            args.train_split, args.eval_split, args.train_images, args.epochs, args.seed)
    if result is None:
        return 2
    for a, row in result["attributes"].items():
        if "error" in row:
            print(f"{a}: {row['error']}")
            continue
        print(f"{a}: {row['train_images']} train images, {row['eval_images']} {args.eval_split}, "
              f"majority {row['majority']:.1f} %")
        for k in STAGES:
            print(f"  {k:14s} {row[k]['dims']:6d} dims   train {row[k]['train']:5.1f} %   "
                  f"{args.eval_split} {row[k]['eval']:5.1f} %")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
