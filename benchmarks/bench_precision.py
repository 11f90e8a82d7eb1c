"""Precision: float32 vs int8 graphs of one bundle in ONNX Runtime (and PyTorch eager), side by side.

    .venv/bin/python benchmarks/bench_precision.py --bundle /tmp/vitl/bundle [--threads 2] [--skip-torch]

The bundle needs int8 graphs (``cirsearch-train quantize --bundle B``; a random-weight ``vitl``
bundle from a LAVIS-layout checkpoint: see README "Performance"). Per image or query, at
batch 1 and 8, through the engine's own sessions (``engine.runtime.Encoders``):

  - image path  = vision + target (indexing, once per photo)
  - query path  = the query graph on cached vision features (each edit of the text), and,
                  when the bundle has them, query_cached on cached cross-attention keys and
                  values (what a keystroke runs)

The variants of one measurement alternate, so that a change in the machine's load falls on
all of them alike. ORT's own MatMul at the same thread count gives each precision's
roofline: fp32 MatMul, and the same MatMul quantized as the bundle's int8 graphs are
(dynamic, int8 weights per channel). Prints a Markdown table, the int8 check's agreement
figures from the manifest, then the raw figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from bench_model import flops_image_path, flops_query_path

M, K, N = 2056, 1024, 4096  # 8 images x 257 tokens through a ViT-L MLP layer
TEXT = "same shirt but in green with long sleeves"


def interleaved(fns: dict[str, callable], repeat: int) -> dict[str, float]:
    """Median seconds of each function, run in turns (after one warm-up call each)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def flops_cached_query(cfg, text_len: int) -> float:
    """Multiply-adds x2 of query_cached: the query path without the keys and values over the
    image (cached per reference), the text at its real length."""
    q = cfg.qformer
    T, N, Q, H, F = cfg.vision.num_tokens, q.num_query_tokens + text_len, q.num_query_tokens, q.hidden, q.intermediate
    f = 0
    for i in range(q.layers):
        f += N * 4 * H * H + 2 * N * N * H + N * 2 * H * F
        if i % q.cross_attention_freq == 0:
            f += Q * 2 * H * H + 2 * Q * T * H  # q/out projections, attention over the cached keys and values
    return 2.0 * (f + Q * H * cfg.embed_dim)


def matmul_rooflines(threads: int, repeat: int) -> dict[str, float]:
    """GFLOP/s of one large MatMul in ORT, fp32 and dynamically quantized to int8: the best of
    ``repeat`` runs (an upper bound; the shared machine's speed varies from run to run)."""
    import tempfile

    import onnxruntime as ort
    from onnx import TensorProto, helper, save
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [M, K])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [M, N])],
        [helper.make_tensor("b", TensorProto.FLOAT, [K, N], rng.standard_normal((K, N), np.float32).ravel())],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    with tempfile.TemporaryDirectory() as tmp:
        save(model, f"{tmp}/fp32.onnx")
        logging.disable(logging.WARNING)  # the quantizer's advice on the root logger
        quantize_dynamic(f"{tmp}/fp32.onnx", f"{tmp}/int8.onnx", weight_type=QuantType.QInt8, per_channel=True)
        sess = {p: ort.InferenceSession(f"{tmp}/{p}.onnx", so, providers=["CPUExecutionProvider"])
                for p in ("fp32", "int8")}
    logging.disable(logging.NOTSET)
    a = rng.standard_normal((M, K), np.float32)
    best = {}
    for p, s in sess.items():
        s.run(None, {"a": a})  # warm-up
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            s.run(None, {"a": a})
            times.append(time.perf_counter() - t)
        best[p] = min(times)
    return {p: 2 * M * K * N / t / 1e9 for p, t in best.items()}


def machine() -> str:
    """The CPU's model name and the matrix instructions int8 gains from (Linux), else the platform."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?")
    flags = set(next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), []))
    has = [f for f in ("avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16") if f in flags]
    return f"{name} ({', '.join(has) or 'no VNNI/AMX'})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--skip-torch", action="store_true")
    args = ap.parse_args()

    from engine.bundle import load_bundle
    from engine.runtime import Encoders, RuntimeConfig
    from trainer.model import ModelConfig

    bundle = load_bundle(args.bundle, verify=False)
    if not bundle.manifest.int8_graphs:
        raise SystemExit(f"{args.bundle} has no int8 graphs: cirsearch-train quantize --bundle {args.bundle}")
    cfg = ModelConfig.from_json(bundle.manifest.extra["model_config"])
    enc = {p: Encoders(bundle, RuntimeConfig(device="cpu", threads=args.threads, precision=p))
           for p in ("fp32", "int8")}
    t0 = time.perf_counter()
    for e in enc.values():
        e.load_all()
    load_s = time.perf_counter() - t0
    model = None
    if not args.skip_torch:
        import torch

        from trainer.model import QuReModel

        torch.set_num_threads(args.threads)
        model = QuReModel(cfg).eval()
    roof = matmul_rooflines(args.threads, 10)
    S, T, Dv = cfg.vision.image_size, cfg.vision.num_tokens, cfg.vision.width
    cached = all(e.cached_query for e in enc.values())
    rows = []
    for B in [int(b) for b in args.batches.split(",")]:
        rng = np.random.default_rng(B)
        px = rng.standard_normal((B, 3, S, S), np.float32)
        feats = rng.standard_normal((B, T, Dv), np.float32)
        ids, mask = bundle.tokenizer().encode([TEXT] * B)
        image = {p: (lambda e=e: e.target(e.vision(px))) for p, e in enc.items()}
        query = {p: (lambda e=e: e.query(feats, ids, mask)) for p, e in enc.items()}
        if cached:
            kv = {p: e.query_kv(feats) for p, e in enc.items()}
            query |= {f"{p}_cached": (lambda e=e, p=p: e.query_cached(kv[p], ids, mask)) for p, e in enc.items()}
        if model is not None:
            import torch

            tp, tf, ti, tm = (torch.from_numpy(x) for x in (px, feats, ids, mask))

            def eager(fn):
                def run():
                    with torch.inference_mode():
                        fn()
                return run

            image["torch"] = eager(lambda: model.encode_target(tp))
            query["torch"] = eager(lambda: model.query_from_features(tf, ti, tm))
        for path, fns in (("image", image), ("query", query)):
            rows.append({"batch": B, "path": path, **{k: v / B for k, v in interleaved(fns, args.repeat).items()}})

    fi, fq = flops_image_path(cfg), flops_query_path(cfg)
    fc = flops_cached_query(cfg, int(bundle.tokenizer().encode([TEXT])[1].sum()))
    print(f"machine: {machine()}, {args.threads} threads; sessions loaded in "
          f"{load_s:.1f} s; ORT MatMul {M}x{K}x{N}: fp32 {roof['fp32']:.0f} GFLOP/s, int8 {roof['int8']:.0f} "
          f"GFLOP/s ({roof['int8'] / roof['fp32']:.2f}x)")
    print(f"image path {fi / 1e9:.1f} GFLOP/image, query path {fq / 1e9:.2f} GFLOP/query "
          f"(cached keys/values, the text's real length: {fc / 1e9:.2f})\n")
    print("| batch | path | PyTorch eager ms | ORT fp32 ms | ORT int8 ms | int8 vs fp32 | fp32 of roofline "
          "| int8 of roofline |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        variants = [("", "")] + ([("_cached", " (cached keys/values)")] if r["path"] == "query" and cached else [])
        for suffix, label in variants:
            fl = fi if r["path"] == "image" else fc if suffix else fq
            f32, i8 = r[f"fp32{suffix}"], r[f"int8{suffix}"]
            torch_ms = f"{r['torch'] * 1e3:.0f}" if "torch" in r and not suffix else "-"
            name = "image (vision+target)" if r["path"] == "image" else "query" + label
            print(f"| {r['batch']} | {name} | {torch_ms} | {f32 * 1e3:.0f} | {i8 * 1e3:.0f} | {f32 / i8:.2f}x "
                  f"| {fl / f32 / 1e9 / roof['fp32']:.0%} | {fl / i8 / 1e9 / roof['int8']:.0%} |")
    figures = bundle.manifest.int8_check.get("figures", {})
    print("\nint8 check (manifest): " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
    print("\n" + json.dumps({"rooflines": roof, "rows": rows, "int8_check": figures}))


if __name__ == "__main__":
    main()
