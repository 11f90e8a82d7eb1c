"""Search latency, memory and recall of each index kind on random unit token vectors.

For each library size N: N photos x Q tokens x E dims of random unit vectors (fp16 in a
TokenStore on disk, as the engine keeps them), 100 random unit queries, k = 50. Each
index kind is built from the store, then every query runs through ``top_photos`` (the
engine's search: token hits, max per photo, exact re-ranking from the store for the
compressed kinds). Recall@50 is measured against a brute-force numpy max-over-tokens
top-50. A kind whose index would not fit ``--memory-gb`` is reported, not run.

    python benchmarks/bench_search.py --sizes 10000 100000 --workdir /tmp/bench-search
    python benchmarks/bench_search.py --sizes 1000000 --kinds sq8 ivfpq --memory-gb 9
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.exact_topk import top_photos  # noqa: E402
from engine.faiss_index import IndexParams, TokenIndex  # noqa: E402
from engine.ranking import recall_at_k  # noqa: E402
from engine.token_file import TokenStore  # noqa: E402

CHUNK = 8192  # photos per generation / add / brute-force chunk


def rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def chunk_tokens(seed: int, start: int, n: int, q: int, e: int) -> np.ndarray:
    rng = np.random.default_rng([seed, start])
    t = rng.standard_normal((n, q, e), dtype=np.float32)
    t /= np.linalg.norm(t, axis=-1, keepdims=True)
    return t.astype(np.float16)


def make_store(path: Path, n: int, q: int, e: int, seed: int) -> TokenStore:
    store = TokenStore(path, q, e)
    if store.capacity >= n:
        return store
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        store.write(np.arange(start, start + m), chunk_tokens(seed, start, m, q, e))
    store.flush()
    return store


def exact_topk(store: TokenStore, n: int, queries: np.ndarray, k: int) -> np.ndarray:
    """(M, k) ids of the brute-force top-k by max over tokens."""
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for start in range(0, n, CHUNK):
        t = store.read_range(start, min(n, start + CHUNK))  # (C, Q, E)
        s = np.einsum("me,cqe->mcq", queries, t).max(axis=2)  # (M, C)
        ids = np.broadcast_to(np.arange(start, start + len(t)), s.shape)
        all_s, all_i = np.concatenate([best_s, s], 1), np.concatenate([best_i, ids], 1)
        order = np.lexsort((all_i, -all_s), axis=1)[:, :k]  # by score, then id
        best_s = np.take_along_axis(all_s, order, 1)
        best_i = np.take_along_axis(all_i, order, 1)
    return best_i


def index_bytes(kind: str, n: int, q: int, e: int, pq_bytes: int) -> int:
    per = {"flat": 4 * e, "fp16": 2 * e, "sq8": e, "ivfpq": pq_bytes}[kind] + 8  # + the id
    return n * q * per


def build(kind: str, store: TokenStore, n: int, q: int, e: int) -> TokenIndex:
    idx = TokenIndex(e, q, IndexParams(kind, nprobe=32))
    if not idx.is_trained:
        pick = np.linspace(0, n - 1, min(n, 262_144 // q)).astype(np.int64)
        idx.train(store.read(pick).reshape(-1, e))
    for start in range(0, n, CHUNK):
        ids = np.arange(start, min(n, start + CHUNK))
        idx.add(ids, store.read_range(start, ids[-1] + 1))
    return idx


def run(args: argparse.Namespace) -> list[dict]:
    rows = []
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((args.queries, args.e)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        t0 = time.perf_counter()
        store = make_store(args.workdir / f"tokens-{n}-{args.q}x{args.e}.f16", n, args.q, args.e, seed=n)
        t_store = time.perf_counter() - t0
        t0 = time.perf_counter()
        truth = exact_topk(store, n, queries, args.k)
        t_truth = time.perf_counter() - t0
        print(f"N={n}: store {t_store:.1f} s, brute-force truth {t_truth:.1f} s", file=sys.stderr)
        for kind in args.kinds:
            need = index_bytes(kind, n, args.q, args.e, args.e // 4) / 2**30
            row = {"photos": n, "kind": kind, "index_gb_estimate": round(need, 2)}
            if need > args.memory_gb:
                row["skipped"] = f"needs about {need:.1f} GB for the index alone (> {args.memory_gb} GB allowed)"
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
                continue
            rss0 = rss_gb()
            t0 = time.perf_counter()
            idx = build(kind, store, n, args.q, args.e)
            row["build_s"] = round(time.perf_counter() - t0, 2)
            row["rss_growth_gb"] = round(rss_gb() - rss0, 2)
            row["index_gb"] = round(idx.memory_bytes() / 2**30, 3)
            lat, rec = [], []
            top_photos(idx, store.read, queries[0], args.k)  # warm-up
            for qv, want in zip(queries, truth):
                t0 = time.perf_counter()
                got, _ = top_photos(idx, store.read, qv, args.k)
                lat.append(time.perf_counter() - t0)
                rec.append(recall_at_k(want, got, args.k))
            row.update(p50_ms=round(1e3 * float(np.percentile(lat, 50)), 1),
                       p95_ms=round(1e3 * float(np.percentile(lat, 95)), 1),
                       recall_at_50=round(float(np.mean(rec)), 4))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
            del idx
        store.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--kinds", nargs="+", default=["flat", "fp16", "sq8", "ivfpq"])
    p.add_argument("--q", type=int, default=32, help="tokens per photo")
    p.add_argument("--e", type=int, default=256, help="embedding size")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("-k", type=int, default=50)
    p.add_argument("--memory-gb", type=float, default=10.0, help="largest index to build")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/cirsearch-bench-search"))
    p.add_argument("--out", type=Path, help="append the rows as JSON lines here")
    args = p.parse_args()
    machine = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "load_before": round(os.getloadavg()[0], 2)}
    rows = run(args)
    machine["load_after"] = round(os.getloadavg()[0], 2)
    text = "\n".join(json.dumps({**machine, **r}) for r in rows)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
