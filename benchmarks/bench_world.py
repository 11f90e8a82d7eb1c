"""Demo-world speed: render time per image, and a whole default world written to disk.

    .venv/bin/python benchmarks/bench_world.py [--out /tmp/world-bench] [--images 3000] [--workers 1]

Prints ms per render (256 px, no disk), ms per image written (render + PNG), the time to
plan and to write the whole world (3,000 train images and 4,500 train triplets by
default, plus 720 images / 600 triplets each for val and test), and its size on disk.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import time
from pathlib import Path

from engine.world import CATEGORIES, WorldConfig, all_garments, plan_world, render_seeded, write_world


def render_ms(count: int = 150) -> tuple[float, float]:
    """(wall, CPU) milliseconds per 256 px render; CPU time is steadier on a shared machine."""
    garments = [g for c in CATEGORIES for g in list(all_garments(c))[::7]][:count]
    start, cpu = time.perf_counter(), time.process_time()
    for i, g in enumerate(garments):
        render_seeded(g, (0, i))
    n = len(garments)
    return (time.perf_counter() - start) / n * 1000, (time.process_time() - cpu) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/world-bench"))
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--triplets", type=int, default=4500)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    wall, cpu = render_ms()
    print(f"render only (256 px): {wall:.1f} ms/image wall, {cpu:.1f} ms CPU")

    config = WorldConfig(train_images=args.images, train_triplets=args.triplets)
    t0 = time.perf_counter()
    plan = plan_world(config)
    t1, c1 = time.perf_counter(), time.process_time()
    if args.out.exists():
        shutil.rmtree(args.out)
    write_world(plan, args.out, workers=args.workers)
    t2, c2 = time.perf_counter(), time.process_time()
    n = len(plan.images)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"plan: {t1 - t0:.1f} s; write {n} images with {args.workers} worker(s): {t2 - t1:.1f} s "
          f"({(t2 - t1) / n * 1000:.1f} ms/image written, {(c2 - c1) / n * 1000:.1f} ms CPU in this process); "
          f"{size / 2**20:.0f} MiB on disk")


if __name__ == "__main__":
    main()
