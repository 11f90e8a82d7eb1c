"""The steep-drop hypothesis, measured on a labelled world.

QuRe's sampler takes as negatives the images between the two steepest score drops below
the target, assuming they are hard *and* truly wrong. Only a world that knows every
image's attributes can check that. For a run and a split, this scores every query against
its category's corpus (the model's own ranking, as mining does) and, for each kind of
negative set, reports:

- ``size``: median images per set;
- ``false_neg``: the share of its images that are in fact right answers (the target's
  exact attribute combination: a look-alike render), mean over queries;
- ``distance``: their mean number of attributes that differ from the target's;

for QuRe's paper sampler (``qure``), the same with the drops searched within 30 images
after the target (``qure_w30``), DQE-CIR's mid-zone (ranks 5-30 after the target,
``trns``), and the images ranked *above* the target (``above``), which decide recall and
which no sampler of the papers draws from; plus ``above_filtered``: the images above
the target minus those the model's own target tokens put closest to the target image
(image-image similarity at least ``--fn-sim``), a label-free rule against false negatives.

    python tools/demo_model/hardsets.py --run RUN --world WORLD [--split train] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from engine.text import Tokenizer
from engine.world.layout import read_world
from trainer.data.images import make_pixel_bank
from trainer.data.queries import build_queries
from trainer.data.splits import load_split
from trainer.encode import encode_queries, encode_targets
from trainer.model import score
from trainer.negatives import qure_hard_set, rank_descending, trns_mid_zone
from trainer.run import load_model

KINDS = ("qure", "qure_w30", "trns", "above", "above_filtered")


def _image_similarity(tokens: torch.Tensor, target: int) -> np.ndarray:
    """Max over token pairs of <t_target,a, t_i,b>: how alike the model finds each image to the target."""
    return torch.einsum("ae,nbe->nab", tokens[target], tokens).flatten(1).amax(1).numpy()


def analyse(run: str, world_root: str, split_name: str, fn_sim: float, limit: int | None = None) -> dict:
    model, vocab, _ = load_model(run)
    world = read_world(world_root)
    split = load_split("fashioniq", world_root, split_name)
    names = split.image_names()
    bank = make_pixel_bank(split.paths, names, model.cfg.image, in_memory=True)
    queries = build_queries(split, bank, Tokenizer(vocab, model.cfg.text_spec()))
    dev = torch.device("cpu")
    with torch.no_grad():
        q = encode_queries(model, bank, queries.ref, queries.input_ids, queries.attention_mask, dev, 256)
    stats: dict[str, dict[str, list[float]]] = {k: {"size": [], "false_neg": [], "distance": []} for k in KINDS}
    ranks = []
    for g, corpus in enumerate(queries.corpus_ids):
        with torch.no_grad():
            tokens = encode_targets(model, bank, corpus, dev, 256)  # (N_g, Q, E)
        garments = [world.attributes[names[int(b)]] for b in corpus]
        rows = np.flatnonzero(queries.group == g)
        if limit:
            rows = rows[:limit]
        scores = score(q[torch.as_tensor(rows)], tokens).numpy()  # (M_g, N_g)
        ref_pos = {int(b): j for j, b in enumerate(corpus)}
        for j, row in enumerate(rows):
            t = int(queries.target_pos[row])
            ref = ref_pos.get(int(queries.ref[row]), -1)
            order = rank_descending(scores[j])
            rank = int(np.flatnonzero(order == t)[0])
            ranks.append(rank)
            above = order[:rank]
            sim = _image_similarity(tokens, t)
            sets = {
                "qure": qure_hard_set(scores[j], t).positions,
                "qure_w30": qure_hard_set(scores[j], t, window=30).positions,
                "trns": trns_mid_zone(scores[j], t).positions,
                "above": above,
                "above_filtered": above[sim[above] < fn_sim],
            }
            target = garments[t]
            for kind, pos in sets.items():
                pos = np.asarray([p for p in pos if p != ref and p != t], dtype=np.int64)
                if not len(pos):
                    continue
                st = stats[kind]
                st["size"].append(len(pos))
                st["false_neg"].append(float(np.mean([garments[p] == target for p in pos])))
                st["distance"].append(float(np.mean([len(garments[p].differences(target)) for p in pos])))
    out = {"run": run, "world": world_root, "split": split_name, "queries": len(ranks),
           "median_target_rank": float(np.median(ranks)), "fn_sim": fn_sim}
    for kind, st in stats.items():
        out[kind] = {"queries_with_a_set": len(st["size"]),
                     "size": float(np.median(st["size"])) if st["size"] else 0.0,
                     "false_neg": 100 * float(np.mean(st["false_neg"])) if st["false_neg"] else 0.0,
                     "distance": float(np.mean(st["distance"])) if st["distance"] else 0.0}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--world", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--fn-sim", type=float, default=0.9, help="above_filtered: drop images this alike to the target")
    p.add_argument("--limit", type=int, default=None, help="queries per category (a quicker look)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = analyse(args.run, args.world, args.split, args.fn_sim, args.limit)
    print(f"{out['queries']} queries, median target rank {out['median_target_rank']:.0f}")
    print(f"{'set':16s} {'queries':>8s} {'size':>6s} {'false neg %':>12s} {'attr. distance':>15s}")
    for kind in KINDS:
        r = out[kind]
        print(f"{kind:16s} {r['queries_with_a_set']:8d} {r['size']:6.0f} {r['false_neg']:12.1f} {r['distance']:15.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
