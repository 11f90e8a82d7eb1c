"""Mining cost against corpus size: time and peak memory of scoring every training query
against its corpus in chunks and building the negative sets (``trainer.mining.build_table``),
next to what QuRe's unchunked (M, N, Q) float32 score tensor would need.

Inputs are random unit vectors of the real model's sizes (Q=32 target tokens of E=256;
``--tiny`` for Q=8, E=128): encoding the corpus is the model's cost, not mining's, and is
timed separately by training runs. Each size runs in its own process; the peak RSS (Linux VmHWM) is reset just before
mining, so ``peak+MiB`` is what mining adds on top of its inputs: the (chunk, N*Q) score buffer,
the table it returns (``table MiB``; random scores give large sets), sorting temporaries.

    python benchmarks/bench_mining.py                      # N = 1000, 4000, 16000; M = N
    python benchmarks/bench_mining.py --sizes 2000 --queries-per-image 1.7 --chunk 64
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def one(n: int, m: int, q: int, e: int, chunk: int, method: str, window: int | None) -> dict:
    import numpy as np
    import torch

    from trainer.data.queries import Queries
    from trainer.mining import MiningConfig, build_table

    g = torch.Generator().manual_seed(0)
    tokens = torch.nn.functional.normalize(torch.randn(n, q, e, generator=g), dim=-1)  # (N, Q, E)
    qv = torch.nn.functional.normalize(torch.randn(m, e, generator=g), dim=-1)  # (M, E)
    rng = np.random.default_rng(0)
    target = rng.integers(0, n, size=m)
    qs = Queries(("all",), (np.arange(n),), target, target, np.zeros(m, np.int64), target,
                 np.zeros((m, 1), np.int64), np.ones((m, 1), np.int64))
    names = [str(i) for i in range(n)]
    cfg = MiningConfig(method=method, chunk=chunk, window=window)
    from trainer.model import score

    score(qv[:2], tokens[:2])  # first-use allocations of the math libraries are not mining's
    _reset_peak()
    base = _status_mib("VmRSS")
    t0 = time.perf_counter()
    table = build_table(qv, tokens, np.arange(n), qs, cfg, names)
    seconds = time.perf_counter() - t0
    return {
        "corpus": n, "queries": m, "Q": q, "E": e, "chunk": chunk, "method": method, "window": window,
        "seconds": round(seconds, 2), "queries_per_s": round(m / seconds, 1),
        "extra_peak_mib": round(_status_mib("VmHWM") - base, 1),
        "chunk_scores_mib": round(chunk * n * q * 4 / 2**20, 1),
        "unchunked_mib": round(m * n * q * 4 / 2**20, 1),
        "mean_set_size": round(float(table.sizes().mean()), 1),
        "table_mib": round(table.items.nbytes / 2**20, 1),
        "fallback_rate": round(float(table.fallback.mean()), 4),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    p.add_argument("--queries-per-image", type=float, default=1.0)
    p.add_argument("--chunk", type=int, default=256)
    p.add_argument("--method", choices=["qure", "trns"], default="qure")
    p.add_argument("--window", type=int, default=None)
    p.add_argument("--tiny", action="store_true", help="Q=8, E=128 (the tiny model)")
    p.add_argument("--one", type=str, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(**json.loads(args.one))))
        return
    q, e = (8, 128) if args.tiny else (32, 256)
    print(f"{'corpus':>7} {'queries':>8} {'seconds':>8} {'q/s':>8} {'peak+MiB':>9} {'chunk MiB':>10} "
          f"{'unchunked MiB':>14} {'mean set':>9} {'table MiB':>10}")
    for n in args.sizes:
        spec = dict(n=n, m=int(n * args.queries_per_image), q=q, e=e, chunk=args.chunk, method=args.method,
                    window=args.window)
        out = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout)
        print(f"{r['corpus']:7d} {r['queries']:8d} {r['seconds']:8.2f} {r['queries_per_s']:8.1f} "
              f"{r['extra_peak_mib']:9.1f} {r['chunk_scores_mib']:10.1f} {r['unchunked_mib']:14.1f} "
              f"{r['mean_set_size']:9.1f} {r['table_mib']:10.1f}", flush=True)


if __name__ == "__main__":
    main()
