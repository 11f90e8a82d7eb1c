"""As-you-type latency: one text edit -> ranked results, with the reference's features cached.

Builds a library of ``--photos`` synthetic photos (random unit target tokens written
straight into the catalog and token store, so no photos need encoding), drops in one
real reference photo, then types a sentence one character at a time. Each keystroke is a
full ``Library.search``: tokenize, query graph, FAISS, max per photo, catalog lookup of
the hits. The first search (which runs the vision graph for the reference) is reported
apart as the cold start.

    python benchmarks/bench_typing.py --bundle resources/demo-bundle --photos 10000
    python benchmarks/bench_typing.py --bundle /path/to/vitl-bundle --photos 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.catalog import Encoded  # noqa: E402
from engine.library import Library  # noqa: E402
from engine.scanner import diff  # noqa: E402

SENTENCE = "same dress but in dark red with long sleeves"
CHUNK = 4096


def synthetic_library(folder: Path, bundle: Path, n: int, seed: int = 0) -> Library:
    """A library of ``n`` photos with random unit tokens and made-up paths."""
    shutil.rmtree(folder, ignore_errors=True)
    lib = Library.open(folder, bundle=bundle)
    s = lib.bundle.manifest.sizes
    photos = folder.parent / "synthetic-photos"
    photos.mkdir(exist_ok=True)
    root = lib.catalog.add_root(str(photos))
    paths = {str(photos / f"IMG_{i:07d}.jpg"): (1000 + i, i) for i in range(n)}
    lib.catalog.apply_scan(root.id, diff({}, paths), paths, [])
    pending = lib.catalog.pending()
    rng = np.random.default_rng(seed)
    for start in range(0, n, CHUNK):
        part = pending[start : start + CHUNK]
        t = rng.standard_normal((len(part), s.num_query_tokens, s.embed_dim), dtype=np.float32)
        t /= np.linalg.norm(t, axis=-1, keepdims=True)
        enc = [Encoded(f.id, f"{seed:04d}{i + start:060d}", 1000, 4000, 3000, None) for i, f in enumerate(part)]
        ids = lib.catalog.record(enc, t, lib.vectors.store, [], [])
        lib.vectors.add(np.asarray(ids), t)
    lib.vectors.save()
    return lib


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--photos", type=int, nargs="+", default=[10_000])
    p.add_argument("-k", type=int, default=50)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/cirsearch-bench-typing"))
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    ref = args.workdir / "reference.jpg"
    rng = np.random.default_rng(3)
    Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8)).resize((1600, 1200)).save(ref, quality=90)
    rows = []
    for n in args.photos:
        load_before = os.getloadavg()[0]
        lib = synthetic_library(args.workdir / f"library-{n}", args.bundle, n)
        lib.encoders.load_all()
        t0 = time.perf_counter()
        lib.search("", image=ref, k=args.k)
        cold = time.perf_counter() - t0
        lat, parts = [], {"query": [], "search": []}
        for i in range(1, len(SENTENCE) + 1):
            t0 = time.perf_counter()
            res = lib.search(SENTENCE[:i], image=ref, k=args.k)
            lat.append(time.perf_counter() - t0)
            for key in parts:
                parts[key].append(res.seconds.get(key, 0.0))
        row = {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "bundle": lib.bundle.label,
            "photos": n, "index_kind": lib.vectors.kind, "device": lib.encoders.device, "k": args.k,
            "cold_first_search_ms": round(1e3 * cold, 1), "keystrokes": len(lat),
            "p50_ms": round(1e3 * float(np.percentile(lat, 50)), 1),
            "p95_ms": round(1e3 * float(np.percentile(lat, 95)), 1),
            "query_graph_p50_ms": round(1e3 * float(np.median(parts["query"])), 1),
            "faiss_and_ranking_p50_ms": round(1e3 * float(np.median(parts["search"])), 1),
            "vision_cache_hits": lib.features.hits,
            "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        lib.close()
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    text = "\n".join(json.dumps(r) for r in rows)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
