"""A simulated user with a hidden taste votes; does personalization learn the taste?

    .venv/bin/python benchmarks/bench_personalize.py --bundle resources/demo-bundle \
        --votes 20,50,100 --seeds 0,1,2

The library: shirts from the demo world's renderer, every colour x pattern x sleeve
length, ``--renders`` photos each (450 photos by default). A query takes a reference
shirt and asks for another colour and/or sleeve length in plain English (never a
pattern). The user's hidden taste: they only really like *striped* shirts. A result is
*good* for them when it has the asked colour and sleeves AND is striped.

For each seed and N: a fresh copy of the indexed library; the user runs fresh queries
and votes on the first ``--shown`` results (20: a screenful of the grid): thumbs-up on
the good ones, thumbs-down on the bad ones ranked above the last good one, or on the top
few when nothing good is in sight; at most ``--per-query`` votes a query, until N votes;
``personalize_library`` fine-tunes the query side (a quarter of the votes held out) and
switches to the child bundle. Measured on 60 other queries, before and after:

- taste P@5: share of the top 5 (reference excluded) that are good for this user;
- query P@5: share of the top 5 with the asked colour and sleeves, any pattern (does
  the model still follow the sentence?);
- striped share: share of the top 5 that are striped, whatever else (has the taste
  itself been learned?);
- exact P@R (R = ``--renders``, 3 by default): share of the top R that have the asked
  colour and sleeves AND the reference's pattern, the one thing the sentence leaves as
  it was. The library holds exactly R such photos a query, so a model that keeps what the
  sentence does not mention scores 100 here, and then fills the rest of its top 5 with
  near misses of the same pattern rather than other patterns: query P@5 counts those two
  choices differently, exact P@R does not;
- held-out pairwise accuracy of the votes set aside.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.library import Library
from engine.world.attributes import COLOURS, PATTERNS, SLEEVES, Garment
from engine.world.captions import compose
from engine.world.render import render_seeded

TASTE = ("pattern", "striped")


@dataclass(frozen=True)
class Query:
    reference: Path
    text: str
    target: Garment


def build_photos(folder: Path, renders: int) -> dict[str, Garment]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    i = 0
    for colour in COLOURS:
        for pattern in PATTERNS:
            for sleeves in SLEEVES:
                g = Garment("shirt", colour, pattern, sleeves)
                for r in range(renders):
                    p = folder / f"shirt_{i:04d}.jpg"
                    render_seeded(g, (7, i, r), (256, 256)).save(p, quality=90)
                    out[str(p.resolve())] = g
                    i += 1
    return out


def make_queries(photos: dict[str, Garment], n: int, rng: np.random.Generator) -> list[Query]:
    paths = sorted(photos)
    out = []
    while len(out) < n:
        ref_path = paths[int(rng.integers(len(paths)))]
        ref = photos[ref_path]
        change = [["colour"], ["sleeves"], ["colour", "sleeves"]][int(rng.integers(3))]
        colour = ref.colour if "colour" not in change else [c for c in COLOURS if c != ref.colour][int(rng.integers(9))]
        sleeves = ref.sleeves if "sleeves" not in change else [s for s in SLEEVES if s != ref.sleeves][int(rng.integers(2))]
        target = Garment("shirt", colour, ref.pattern, sleeves)
        style = ["pred", "imp", "want"][int(rng.integers(3))]
        cap = compose(ref, target, change, rng, style=style, vague=0.0, keep=0.0, casual=False)
        out.append(Query(Path(ref_path), cap.text, target))
    return out


def good(g: Garment, q: Query) -> bool:
    return g.colour == q.target.colour and g.sleeves == q.target.sleeves and getattr(g, TASTE[0]) == TASTE[1]


def asked(g: Garment, q: Query) -> bool:
    return g.colour == q.target.colour and g.sleeves == q.target.sleeves


def exact(g: Garment, q: Query) -> bool:
    """Asked colour and sleeves, and the pattern the sentence leaves as it was."""
    return asked(g, q) and g.pattern == q.target.pattern


def measure(lib: Library, photos: dict[str, Garment], queries: list[Query],
            renders: int) -> tuple[float, float, float, float]:
    """(taste P@5, query P@5, share of the top 5 with the liked pattern whatever the query,
    exact P@renders)."""
    taste, query, liked, kept = [], [], [], []
    k = max(5, renders)
    for q in queries:
        hits = lib.search(text=q.text, image=q.reference, k=k).hits
        gs = [photos[str(Path(h.path).resolve())] for h in hits[:k]]
        taste.append(sum(good(g, q) for g in gs[:5]) / 5)
        query.append(sum(asked(g, q) for g in gs[:5]) / 5)
        liked.append(sum(getattr(g, TASTE[0]) == TASTE[1] for g in gs[:5]) / 5)
        kept.append(sum(exact(g, q) for g in gs[:renders]) / renders)
    return float(np.mean(taste)), float(np.mean(query)), float(np.mean(liked)), float(np.mean(kept))


def vote(lib: Library, photos: dict[str, Garment], queries: list[Query], n_votes: int, per_query: int,
         shown: int) -> int:
    """The user looks at the first ``shown`` results of each query, likes the good ones
    and dislikes the bad ones ranked above the last good one (what got in the way);
    with no good one in sight they dislike the top few. At most ``per_query`` votes."""
    cast = 0
    for q in queries:
        res = lib.search(text=q.text, image=q.reference, k=shown)
        hits = res.hits[:shown]
        is_good = [good(photos[str(Path(h.path).resolve())], q) for h in hits]
        ups = [h for h, g in zip(hits, is_good) if g][: max(1, per_query // 2)]
        last = max((i for i, g in enumerate(is_good) if g), default=len(hits))
        downs = [h for h, g in zip(hits[:last], is_good[:last]) if not g]
        for h, up in ([(h, True) for h in ups] + [(h, False) for h in downs])[:per_query]:
            if cast >= n_votes:
                break
            lib.vote(res, h.photo_id, up)
            cast += 1
        if cast >= n_votes:
            break
    return cast


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--votes", default="20,50,100")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--renders", type=int, default=3)
    ap.add_argument("--per-query", type=int, default=6)
    ap.add_argument("--shown", type=int, default=20, help="results the user looks at per query")
    ap.add_argument("--test-queries", type=int, default=60)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--anchor", type=float, default=None,
                    help="L2 pull of the fine-tuned query side towards its start (default: PersonalizeConfig's)")
    args = ap.parse_args()

    from trainer.personalize.run import PersonalizeError, personalize_library
    from trainer.personalize.train import PersonalizeConfig

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-personalize-"))
    photos = build_photos(work / "photos", args.renders)
    template = work / "library"
    with Library.open(template, bundle=args.bundle) as lib:
        lib.add_root(work / "photos")
        lib.index()
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        rng = np.random.default_rng(1000 + seed)
        test = make_queries(photos, args.test_queries, rng)
        train_queries = make_queries(photos, 200, rng)
        with Library.open(template) as lib:
            base_taste, base_query, base_liked, base_exact = measure(lib, photos, test, args.renders)
        for n in [int(v) for v in args.votes.split(",")]:
            folder = work / f"lib-s{seed}-n{n}"
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(template, folder)
            with Library.open(folder) as lib:
                cast = vote(lib, photos, train_queries, n, args.per_query, args.shown)
            t = time.perf_counter()
            try:
                res = personalize_library(folder, folder / "child", PersonalizeConfig(seed=seed, **({} if args.anchor is None else {"anchor": args.anchor})))
            except PersonalizeError as e:  # e.g. no good result was ever shown: nothing to learn from
                print(f"seed {seed}, {cast} votes: {e}", flush=True)
                rows.append({"seed": seed, "votes": cast, "taste_before": base_taste, "taste_after": base_taste,
                             "query_before": base_query, "query_after": base_query, "liked_before": base_liked,
                             "liked_after": base_liked, "exact_before": base_exact,
                             "exact_after": base_exact, "held_before": None,
                             "held_after": None, "pairs_train": 0, "pairs_held": 0, "seconds": 0.0})
                continue
            secs = time.perf_counter() - t
            with Library.open(folder) as lib:
                taste, query, liked, kept = measure(lib, photos, test, args.renders)
            r = res.report
            rows.append({"seed": seed, "votes": cast, "taste_before": base_taste, "taste_after": taste,
                         "query_before": base_query, "query_after": query, "liked_before": base_liked,
                         "liked_after": liked, "exact_before": base_exact, "exact_after": kept,
                         "held_before": r.before,
                         "held_after": r.after, "pairs_train": r.pairs_train, "pairs_held": r.pairs_held_out,
                         "seconds": secs})
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    print("\n| votes | taste P@5 before | after | query P@5 before | after | striped share of top 5 before | after | "
          f"exact P@{args.renders} before | after | held-out pair acc. before | after | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in sorted({r["votes"] for r in rows}):
        rs = [r for r in rows if r["votes"] == n]

        def ms(k: str, scale: float = 100.0) -> str:
            vals = [r[k] * scale for r in rs if r[k] is not None]
            if not vals:
                return "-"
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            return f"{statistics.mean(vals):.1f} ± {sd:.1f}"

        print(f"| {n} | {ms('taste_before')} | {ms('taste_after')} | {ms('query_before')} | {ms('query_after')} | "
              f"{ms('liked_before')} | {ms('liked_after')} | {ms('exact_before')} | {ms('exact_after')} | "
              f"{ms('held_before')} | {ms('held_after')} | "
              f"{ms('seconds', 1.0)} |")


if __name__ == "__main__":
    main()
