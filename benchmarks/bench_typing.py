"""As-you-type latency: one text edit -> ranked results, with the reference cached.

Builds a library of ``--photos`` synthetic photos (random unit target tokens written
straight into the catalog and token store, so no photos need encoding), drops in one
real reference photo, then types a sentence one character at a time. Each keystroke is a
full ``Library.search``: tokenize, query graph, FAISS, max per photo, catalog lookup of
the hits. The first search (which runs the vision graph for the reference) is reported
apart as the cold start.

A bundle with the cached query pair (``query_kv`` + ``query_cached``) is measured both
ways, keystroke by keystroke in alternation so both see the same machine load: "full"
runs the whole query graph on the text padded to 32 tokens (as bundles without the pair
do), "cached" runs only ``query_cached`` on the reference's kept cross-attention keys and
values, at the text's real length. Both answers are compared (max abs score difference).

    python benchmarks/bench_typing.py --bundle resources/demo-bundle --photos 10000
    python benchmarks/bench_typing.py --bundle /path/to/vitl-bundle --photos 10000 100000

A real-size (vitl) bundle with random weights, as ``bench_personalize_vitl.py`` makes it
(a random LAVIS-layout checkpoint, imported and exported; about 3 minutes, 7 GB)::

    python -c "import sys; sys.path[:0] = ['.', 'benchmarks']; from pathlib import Path; \
        from bench_personalize_vitl import make_bundle; make_bundle(Path('/tmp/vitl/bundle'))"
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
from engine.library import Library, LibraryConfig  # noqa: E402
from engine.runtime import Encoders, RuntimeConfig  # noqa: E402
from engine.scanner import diff  # noqa: E402

SENTENCE = "same dress but in dark red with long sleeves"
CHUNK = 4096


def synthetic_library(folder: Path, bundle: Path, n: int, runtime: RuntimeConfig, seed: int = 0) -> Library:
    """A library of ``n`` photos with random unit tokens and made-up paths."""
    shutil.rmtree(folder, ignore_errors=True)
    lib = Library.open(folder, bundle=bundle, cfg=LibraryConfig(runtime=runtime))
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


class _FullQuery(Encoders):
    """The bundle's encoders with the cached pair ignored: the whole query graph per keystroke."""

    cached_query = False


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ms(values: list[float], q: float) -> float:
    return round(1e3 * float(np.percentile(values, q)), 1)


def type_sentence(lib: Library, ref: Path, k: int, modes: dict[str, Encoders]) -> dict[str, dict]:
    """Type SENTENCE into ``lib`` once per mode, the modes alternating keystroke by keystroke
    (each keystroke's first mode alternates too). -> per mode: latencies and their parts."""
    out = {m: {"lat": [], "query": [], "search": [], "scores": []} for m in modes}
    names = list(modes)
    for i in range(1, len(SENTENCE) + 1):
        for m in names if i % 2 else names[::-1]:
            lib.encoders = modes[m]
            t0 = time.perf_counter()
            res = lib.search(SENTENCE[:i], image=ref, k=k)
            out[m]["lat"].append(time.perf_counter() - t0)
            out[m]["query"].append(res.seconds.get("query", 0.0))
            out[m]["search"].append(res.seconds.get("search", 0.0))
            out[m]["scores"].append([h.score for h in res.hits])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--photos", type=int, nargs="+", default=[10_000])
    p.add_argument("-k", type=int, default=50)
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: all cores)")
    p.add_argument("--precision", default="fp32", choices=("auto", "fp32", "int8", "fp16"),
                   help="which of the bundle's graphs run (default fp32)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/cirsearch-bench-typing"))
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    ref = args.workdir / "reference.jpg"
    rng = np.random.default_rng(3)
    Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8)).resize((1600, 1200)).save(ref, quality=90)
    runtime = RuntimeConfig(threads=args.threads, precision=args.precision)
    rows = []
    for n in args.photos:
        lib = synthetic_library(args.workdir / f"library-{n}", args.bundle, n, runtime)
        modes: dict[str, Encoders] = {"full": _FullQuery(lib.bundle, runtime)}
        if lib.encoders.cached_query:
            modes["cached"] = lib.encoders
        cold = {}
        for m, enc in modes.items():  # the cold start of each: vision graph (+ query_kv), sessions loaded before
            enc.load_all()
            lib.encoders = enc
            lib.features.clear()
            lib.query_kv.clear()
            t0 = time.perf_counter()
            lib.search("", image=ref, k=args.k)
            cold[m] = round(1e3 * (time.perf_counter() - t0), 1)
        load_before = os.getloadavg()[0]
        got = type_sentence(lib, ref, args.k, modes)
        row = {
            "machine": f"{_cpu()}, {os.cpu_count()} CPUs", "bundle": lib.bundle.label, "photos": n,
            "index_kind": lib.vectors.kind, "device": lib.encoders.device, "precision": args.precision,
            "threads": args.threads or "all",
            "k": args.k, "keystrokes": len(SENTENCE),
            "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        for m, r in got.items():
            row[m] = {"cold_first_search_ms": cold[m], "p50_ms": _ms(r["lat"], 50), "p95_ms": _ms(r["lat"], 95),
                      "query_p50_ms": _ms(r["query"], 50), "faiss_and_ranking_p50_ms": _ms(r["search"], 50)}
        if "cached" in got:
            row["speedup_p50"] = round(row["full"]["p50_ms"] / row["cached"]["p50_ms"], 2)
            diffs = [np.abs(np.subtract(a, b)).max() for a, b in zip(got["full"]["scores"], got["cached"]["scores"])
                     if len(a) == len(b) and a]
            row["max_abs_score_diff"] = float(max(diffs)) if diffs else None
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
