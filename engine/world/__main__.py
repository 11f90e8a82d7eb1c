"""``python -m engine.world``: generate a world, a demo library, or a contact sheet."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from engine.errors import CirsearchError


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="write a demo world in FashionIQ layout")
    p.add_argument("--out", required=True, type=Path, help="folder to write (new or empty)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--images", type=int, default=3000, help="train images, over all categories")
    p.add_argument("--triplets", type=int, default=4500, help="train triplets, over all categories")
    p.add_argument("--eval-images", type=int, default=720, help="images in each of val and test")
    p.add_argument("--eval-triplets", type=int, default=600, help="triplets in each of val and test")
    p.add_argument("--renders", type=int, default=3, help="train images per attribute combination")
    p.add_argument("--eval-renders", type=int, default=5, help="val/test images per attribute combination")
    p.add_argument("--size", type=int, default=256, help="image side in pixels")
    p.add_argument("--workers", type=int, default=1, help="rendering processes")
    p.add_argument("--overwrite", action="store_true", help="replace a world already in --out")


def _generate(args: argparse.Namespace) -> int:
    from engine.world.layout import counts, write_world
    from engine.world.plan import WorldConfig, plan_world

    config = WorldConfig(seed=args.seed, train_images=args.images, train_triplets=args.triplets,
                         eval_images=args.eval_images, eval_triplets=args.eval_triplets,
                         train_renders=args.renders, eval_renders=args.eval_renders, image_size=args.size)
    start = time.perf_counter()
    plan = plan_world(config)

    def progress(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            print(f"  rendered {done}/{total}", file=sys.stderr, flush=True)

    write_world(plan, args.out, overwrite=args.overwrite, workers=args.workers, progress=progress)
    print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s (seed {args.seed}):")
    print(f"  {'split':18s} {'images':>7s} {'combos':>7s} {'triplets':>9s}")
    for key, c in counts(plan).items():
        print(f"  {key:18s} {c['images']:7d} {c['combinations']:7d} {c['triplets']:9d}")
    print("  images/<name>.png, image_splits/, captions/, statements/, attributes.json, world.json")
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo-library", help="write the demo photo library (JPEG + EXIF) and demo.json")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--n", type=int, default=300, help="number of photos")
    p.add_argument("--seed", type=int, default=0)


def _demo(args: argparse.Namespace) -> int:
    from engine.world.demo import render_demo_library

    start = time.perf_counter()
    lib = render_demo_library(args.out, args.n, args.seed)
    turned = sum(p.orientation != 1 for p in lib.photos)
    print(f"wrote {len(lib.photos)} photos ({turned} stored turned, with EXIF orientation) under {lib.root} "
          f"in {time.perf_counter() - start:.1f} s; {len(lib.queries)} example queries in demo.json:")
    for q in lib.queries:
        print(f"  {q.reference}: {q.text!r} ({len(q.relevant)} relevant)")
    return 0


def _add_sheet(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sheet", help="write a labelled contact sheet of renders (PNG)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--columns", type=int, default=6)
    p.add_argument("--rows", type=int, default=4)


def _sheet(args: argparse.Namespace) -> int:
    from engine.world.sheet import contact_sheet

    contact_sheet(args.seed, args.columns, args.rows).save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.world", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_generate(sub)
    _add_demo(sub)
    _add_sheet(sub)
    args = parser.parse_args(argv)
    run = {"generate": _generate, "demo-library": _demo, "sheet": _sheet}[args.command]
    try:
        return run(args)
    except CirsearchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
