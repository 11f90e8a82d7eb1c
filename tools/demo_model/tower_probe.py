"""Can a vision tower see an attribute at all, when it is told the answer?

The linear probe (``linear_probe.py``) reads what a trained tower *kept*; this tool asks what
the tower *can* learn. It fine-tunes the whole vision tower (and ln_vision) of a run, with a
linear head on the [CLS] token and the mean of the patch tokens, on one attribute's labels
of a world's train images, and reports held-out accuracy after every epoch. Three starts:

- ``run``: the run's own tower (its best.pt), as pretrained;
- ``scratch``: the same architecture, freshly initialised;
- ``conv``: the same tower with a conv stem (``--vision-stem conv``), freshly initialised.

An attribute the run's tower cannot learn under direct supervision, where another stem can,
is an architecture limit, not a training-signal one. The labels come from the world; nothing
here is part of a training recipe. Only garments that have the attribute take part.

    python tools/demo_model/tower_probe.py RUN WORLD [--attribute neckline] [--start run|scratch|conv] \\
        [--epochs 6] [--lr 3e-4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # linear_probe: the arguments and error handling shared

STARTS = ("run", "scratch", "conv")


def _model(run_dir, start: str, seed: int):
    import torch

    from trainer import run as runs
    from trainer.model import build_model
    from trainer.model.config import resized

    model, _, _ = runs.load_model(run_dir)
    if start == "run":
        return model
    torch.manual_seed(seed)
    cfg = resized(model.cfg, stem="conv") if start == "conv" else model.cfg
    return build_model(cfg, vocab_size=model.cfg.qformer.vocab_size)


def _labelled(images, attribute: str):
    import torch

    from engine.world.attributes import VALUES

    ids = np.asarray([i for i, g in enumerate(images.garments) if attribute in g.attributes], dtype=np.int64)
    y = torch.tensor([VALUES[attribute].index(images.garments[int(i)].get(attribute)) for i in ids])
    return ids, y


def fine_tune(run_dir, world, attribute="neckline", start="run", epochs=6, lr=3e-4, batch=64,
              train_split="train", eval_split="val", seed=0, train_images=None, log=print) -> dict:
    import torch

    from engine.world.attributes import VALUES
    from trainer.pretrain import load_world_images

    if attribute not in VALUES:
        raise SystemExit(f"error: no attribute {attribute!r} (there are {', '.join(VALUES)})")
    if start not in STARTS:
        raise SystemExit(f"error: --start is one of {', '.join(STARTS)}")
    model = _model(run_dir, start, seed)
    train = load_world_images(world, train_split, model)
    held = load_world_images(world, eval_split, model)
    tid, ty = _labelled(train, attribute)
    hid, hy = _labelled(held, attribute)
    if train_images:
        keep = np.sort(np.random.default_rng(seed).choice(len(tid), min(train_images, len(tid)), replace=False))
        tid, ty = tid[keep], ty[torch.from_numpy(keep)]
    if len(tid) < 2 or len(hid) < 1:
        raise SystemExit(f"error: too few images with a {attribute} in {train_split} / {eval_split}")
    torch.manual_seed(seed)
    width = model.cfg.vision.width
    head = torch.nn.Linear(2 * width, len(VALUES[attribute]))
    params = [*model.vision.parameters(), *model.ln_vision.parameters(), *head.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)

    def logits(ids, images):
        tokens = model.vision_features(images.bank.batch(ids))
        return head(torch.cat([tokens[:, 0], tokens[:, 1:].mean(1)], -1))

    def accuracy(ids, y):
        model.eval()
        right = 0
        with torch.no_grad():
            for s in range(0, len(ids), 256):
                right += int((logits(ids[s:s + 256], held).argmax(1) == y[s:s + 256]).sum())
        model.train()
        return 100.0 * right / len(ids)

    result = {"run": str(run_dir), "world": str(world), "attribute": attribute, "start": start,
              "stem": "conv" if start == "conv" else model.cfg.vision.stem, "train_images": len(tid),
              "eval_images": len(hid), "majority": 100.0 * float(torch.bincount(hy).max()) / len(hy),
              "lr": lr, "batch": batch, "epochs": []}
    rng = np.random.default_rng(seed)
    model.train()
    for epoch in range(epochs):
        t0, hits, seen = time.perf_counter(), 0, 0
        perm = rng.permutation(len(tid))
        for s in range(0, max(1, len(perm) - batch + 1), batch):  # whole batches (one if fewer images)
            j = perm[s:s + batch]
            out = logits(tid[j], train)
            loss = torch.nn.functional.cross_entropy(out, ty[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
            hits += int((out.argmax(1) == ty[j]).sum())
            seen += len(j)
        row = {"epoch": epoch, "train": 100.0 * hits / seen, "eval": accuracy(hid, hy),
               "seconds": round(time.perf_counter() - t0, 1)}
        result["epochs"].append(row)
        log(f"epoch {epoch}: train {row['train']:5.1f} %   {eval_split} {row['eval']:5.1f} %   ({row['seconds']} s)")
    return result


def main(argv=None) -> int:
    from linear_probe import add_common_arguments, run_on_threads

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(p, "a run folder (its best.pt and architecture)")
    p.add_argument("--attribute", default="neckline")
    p.add_argument("--start", default="run", choices=STARTS)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--train-images", type=int, default=None, help="use this many train images (default: all)")
    args = p.parse_args(argv)
    result = run_on_threads(args.threads, fine_tune, args.run, args.world, args.attribute, args.start, args.epochs,
                            args.lr, args.batch_size, args.train_split, args.eval_split, args.seed, args.train_images)
    if result is None:
        return 2
    print(f"{args.attribute}, start {args.start} ({result['stem']} stem): {result['train_images']} train images, "
          f"{result['eval_images']} {args.eval_split}, majority {result['majority']:.1f} %")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
