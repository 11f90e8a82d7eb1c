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


def attribute_errors(root: str | Path, rankings: str | Path, split: str = "test", k: int = 5,
                     visibility: dict[str, dict[str, int]] | None = None) -> dict:
    """``visibility``: image name -> attribute -> input pixels that attribute moves (the
    ``per_image`` of ``attribute_visibility.py --json`` on the same split) adds each
    attribute's agreement by how visible it is in the target, in quartiles."""
    world = read_world(root)
    seen: dict[str, list[tuple[int, float]]] = {}  # attribute -> (target's pixels, share), kept ones
    measured = {a for v in (visibility or {}).values() for a in v}
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
                if visibility is not None and how == "kept" and a in measured:
                    if a not in visibility.get(t.target, {}):
                        raise WorldError(f"the visibility file has no {a} for {t.target} (measure the same split)")
                    seen.setdefault(a, []).append((visibility[t.target][a], share))
                if a == "neckline":
                    by_pattern.setdefault((target.pattern, how), []).append(share)

    def table(d):
        return {f"{a} {b}": {"queries": len(v), "agree": 100 * float(np.mean(v))} for (a, b), v in sorted(d.items())}

    out = {"k": k, "split": split, "attributes": table(agree), "neckline_by_pattern": table(by_pattern),
           "p@k_by_pattern": {p: {"queries": len(v), "p@k": 100 * float(np.mean(v))} for p, v in sorted(exact.items())}}
    if visibility is not None:
        out["kept_by_visibility"] = {}
        for a, rows in sorted(seen.items()):
            rows.sort()
            for q in range(4):
                part = rows[q * len(rows) // 4:(q + 1) * len(rows) // 4]
                if part:
                    name = f"{a} q{q + 1} ({part[0][0]}-{part[-1][0]} px)"
                    out["kept_by_visibility"][name] = {"queries": len(part),
                                                       "agree": 100 * float(np.mean([x for _, x in part]))}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("world")
    p.add_argument("rankings", help="the folder eval --dump-rankings wrote")
    p.add_argument("--split", default="test")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--visibility", type=Path, default=None,
                   help="attribute_visibility.py --json of the same split: agreement by how visible the attribute is")
    args = p.parse_args(argv)
    vis = None
    if args.visibility:
        try:
            vis = json.loads(args.visibility.read_text(encoding="utf-8"))["per_image"]
            if not isinstance(vis, dict) or not all(isinstance(v, dict) for v in vis.values()):
                raise TypeError("per_image is not a table of images")
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"error: {args.visibility} is not attribute_visibility.py --json output ({e})", file=sys.stderr)
            return 2
    try:
        out = attribute_errors(args.world, args.rankings, args.split, visibility=vis)
    except (WorldError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for title, rows, key in (("attribute, kept from the reference or asked by the captions", out["attributes"], "agree"),
                             ("neckline by the target's pattern", out["neckline_by_pattern"], "agree"),
                             ("P@5 by the target's pattern", out["p@k_by_pattern"], "p@k"),
                             ("kept attribute by the input pixels it moves in the target",
                              out.get("kept_by_visibility", {}), "agree")):
        if not rows:
            continue
        print(f"{title}:")
        for name, r in rows.items():
            print(f"  {name:24s} {r[key]:5.1f} %  ({r['queries']} queries)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
