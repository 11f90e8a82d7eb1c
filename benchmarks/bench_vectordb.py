"""The two vector stores behind the same interface: the default (token file + FAISS fp16)
and Qdrant embedded in the library folder (qdrant-client's local mode).

N photos of Q x E random unit tokens (QuRe's 32 x 256 by default) are committed in
batches of 16 the way the indexer commits them (``store.write`` + ``store.flush`` +
``add``); then 20 single-vector queries (composed / text search) and 5 multi-vector ones
("similar", a photo's own Q tokens) run with k = 50, and the answers of the two stores
are compared. Needs ``pip install 'cirsearch[vectordb]'``. A Qdrant *server* is not
measured here.

    python benchmarks/bench_vectordb.py --photos 2000 --workdir /tmp/bench-vectordb
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.index_kind import VectorConfig  # noqa: E402
from engine.vector_store import QdrantConfig, VectorStore, open_vector_store  # noqa: E402

BATCH = 16


class _Catalog:
    def live_ids(self) -> np.ndarray:
        return np.zeros(0, np.int64)

    def forget_contents(self, ids) -> None:
        raise AssertionError("nothing is lost in a fresh store")


def tokens(rng: np.random.Generator, n: int, q: int, e: int) -> np.ndarray:
    t = rng.standard_normal((n, q, e), dtype=np.float32)
    return (t / np.linalg.norm(t, axis=-1, keepdims=True)).astype(np.float16).astype(np.float32)  # (n, Q, E)


def run(v: VectorStore, data: np.ndarray, queries: list[np.ndarray]) -> dict:
    t0 = time.perf_counter()
    for i in range(0, len(data), BATCH):
        ids = np.arange(i, min(i + BATCH, len(data)))
        v.store.write(ids, data[ids])
        v.store.flush()
        v.add(ids, data[ids])
    v.save()
    commit_s = time.perf_counter() - t0
    answers, times = [], []
    for q in queries:
        t = time.perf_counter()
        answers.append(v.search(q, k=50))
        times.append(time.perf_counter() - t)
    one = np.asarray(times[:20]) * 1e3
    many = np.asarray(times[20:]) * 1e3
    return {
        "commit_ms_per_photo": round(commit_s / len(data) * 1e3, 2),
        "search_ms_p50": round(float(np.percentile(one, 50)), 1),
        "search_ms_p95": round(float(np.percentile(one, 95)), 1),
        "similar_ms_p50": round(float(np.percentile(many, 50)), 1),
        "answers": answers,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=2000)
    ap.add_argument("--tokens", type=int, default=32, help="Q")
    ap.add_argument("--dim", type=int, default=256, help="E")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-vectordb"))
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    data = tokens(rng, a.photos, a.tokens, a.dim)
    queries = list(tokens(rng, 20, 1, a.dim)[:, 0]) + [data[i] for i in rng.choice(a.photos, 5, replace=False)]
    out = {"machine": f"{platform.machine()}, {platform.processor() or '?'}", "photos": a.photos,
           "q": a.tokens, "e": a.dim}
    for name, db in [("faiss", None), ("qdrant-embedded", QdrantConfig())]:
        folder = a.workdir / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        v = open_vector_store(folder, a.tokens, a.dim, "bench", VectorConfig(), db, owner="bench")
        v.open(_Catalog())
        try:
            out[name] = run(v, data, queries)
        finally:
            v.close()
    same = [np.array_equal(x[0], y[0]) and np.allclose(x[1], y[1], atol=1e-4)
            for x, y in zip(out["faiss"].pop("answers"), out["qdrant-embedded"].pop("answers"))]
    out["same_answers"] = f"{sum(same)} / {len(same)}"
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
