"""Which attributes does a model get wrong in its top 5, and when?

Reads the rankings that ``cirsearch-train eval ... --dump-rankings DIR`` writes for a
generated world and, for every query, compares each of the top 5 images with the target
attribute by attribute. An attribute the captions do not mention must be carried over from
the reference photo ("kept"); one they mention must be changed ("asked"). The tables: the
share of top-5 images that agree with the target per attribute, kept and asked apart, and
the same for neckline by the target's pattern (the demo's example query keeps a v-neck on
a checked dress).

    cirsearch-train eval --bundle resources/demo-bundle --dataset fashioniq --data-root WORLD \\
        --split test --dump-rankings out/rank
    python tools/demo_model/attribute_errors.py WORLD out/rank [--split test] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from engine.world.errors import WorldError
from engine.world.layout import read_world


def attribute_errors(root: str | Path, rankings: str | Path, split: str = "test", k: int = 5) -> dict:
    world = read_world(root)
    agree: dict[tuple[str, str], list[float]] = {}  # (attribute, "kept" | "asked") -> per-query shares
    by_pattern: dict[tuple[str, str], list[float]] = {}  # (target pattern, kept | asked) -> neckline shares
    exact: dict[str, list[float]] = {}  # target pattern -> P@k
    for category in world.meta["categories"]:
        path = Path(rankings) / f"{category}.json"
        if not path.is_file():
            raise WorldError(f"{path}: no rankings for {category} (run eval with --dump-rankings)")
        tops = json.loads(path.read_text(encoding="utf-8"))
        triplets = world.triplets[(category, split)]
        if len(tops) != len(triplets):
            raise WorldError(f"{path}: {len(tops)} rankings for {len(triplets)} {split} queries")
        for t, top in zip(triplets, tops):
            target = world.attributes[t.target]
            asked = {s.attribute for c in t.captions for s in c.statements if s.relation != "same"}
            hits = [world.attributes[n] for n in top[:k]]
            exact.setdefault(target.pattern, []).append(sum(h == target for h in hits) / k)
            for a in target.attributes:
                share = sum(h.get(a) == target.get(a) for h in hits) / k
                how = "asked" if a in asked else "kept"
                agree.setdefault((a, how), []).append(share)
                if a == "neckline":
                    by_pattern.setdefault((target.pattern, how), []).append(share)

    def table(d):
        return {f"{a} {b}": {"queries": len(v), "agree": 100 * float(np.mean(v))} for (a, b), v in sorted(d.items())}

    return {"k": k, "split": split, "attributes": table(agree), "neckline_by_pattern": table(by_pattern),
            "p@k_by_pattern": {p: {"queries": len(v), "p@k": 100 * float(np.mean(v))} for p, v in sorted(exact.items())}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("world")
    p.add_argument("rankings", help="the folder eval --dump-rankings wrote")
    p.add_argument("--split", default="test")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    try:
        out = attribute_errors(args.world, args.rankings, args.split)
    except (WorldError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for title, rows, key in (("attribute, kept from the reference or asked by the captions", out["attributes"], "agree"),
                             ("neckline by the target's pattern", out["neckline_by_pattern"], "agree"),
                             ("P@5 by the target's pattern", out["p@k_by_pattern"], "p@k")):
        print(f"{title}:")
        for name, r in rows.items():
            print(f"  {name:24s} {r[key]:5.1f} %  ({r['queries']} queries)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
