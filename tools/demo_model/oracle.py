"""How well can any model do on a world's split, given only what the captions say?

A query's captions state some changes ("is not red", "darker", "has long sleeves"); the
attributes they do not mention stay as in the reference. A vague statement leaves several
attribute combinations possible, and no model can tell which of them the target is. This
tool counts, for each query, the corpus images (reference excluded) whose attributes are
consistent with the reference and every statement (the candidates, m), and reports what a
reader who knows exactly that, and ranks the candidates first in random order, scores in
expectation: P@5 = r / max(5, m) with r of the m candidates exact matches, R@10 =
min(1, 10 / m); and the share of queries whose captions pin the target down to its own
combination.

    python tools/demo_model/oracle.py WORLD [--split test]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from engine.world.errors import WorldError
from engine.world.layout import read_world


def consistent(reference, candidate, statements) -> bool:
    if candidate.category != reference.category:
        return False
    mentioned = {s.attribute for s in statements if s.relation != "same"}
    for a in reference.attributes:
        if a not in mentioned and candidate.get(a) != reference.get(a):
            return False
    return all(s.holds(reference, candidate) for s in statements)


def oracle(root: str, split: str) -> dict[str, float]:
    world = read_world(root)
    p5, r10, exact = [], [], []
    for category in world.meta["categories"]:
        corpus = world.splits[(category, split)]
        garments = [world.attributes[n] for n in corpus]
        for t in world.triplets[(category, split)]:
            ref, tgt = world.attributes[t.candidate], world.attributes[t.target]
            statements = [s for c in t.captions for s in c.statements]
            cand = [n for n, g in zip(corpus, garments) if n != t.candidate and consistent(ref, g, statements)]
            rel = sum(world.attributes[n] == tgt for n in cand)
            m = len(cand)
            p5.append(rel / max(m, 5) if m else 0.0)  # a random 5 of m: 5 * rel / m relevant, over 5
            r10.append(min(1.0, 10 / m) if m else 0.0)
            exact.append(len({world.attributes[n] for n in cand}) == 1)
    return {"queries": len(p5), "P@5": 100 * float(np.mean(p5)), "R@10": 100 * float(np.mean(r10)),
            "pinned": 100 * float(np.mean(exact))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("world")
    p.add_argument("--split", default="test")
    args = p.parse_args(argv)
    try:
        r = oracle(args.world, args.split)
    except WorldError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.split}: {r['queries']} queries; caption-limited oracle P@5 {r['P@5']:.1f}, R@10 {r['R@10']:.1f}; "
          f"captions pin the target's combination in {r['pinned']:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
