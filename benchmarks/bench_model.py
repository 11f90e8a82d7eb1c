"""Model latency: PyTorch eager vs ONNX Runtime (CPU), real-size ViT-L QuRe, random weights.

    .venv/bin/python benchmarks/bench_model.py --bundle /tmp/vitl/bundle [--config vitl] [--threads 2]

Measures, per image, at batch 1 and 8:
  - image path  = vision + target (what indexing runs once per photo)
  - query path  = query graph only, vision features of the reference cached
                  (what each edit of the text re-runs)
and ORT's own fp32 MatMul throughput on this machine as the roofline, with the image
path's achieved FLOP/s as a fraction of it. The bundle must be exported from the same
config (``cirsearch-train import-qure`` on a random LAVIS-layout checkpoint makes one:
see README "Performance"). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def flops_image_path(cfg) -> float:
    """Multiply-adds x2 of vision + target for one image (matmuls only; the rest is <2%)."""
    v, q = cfg.vision, cfg.qformer
    T, W = v.num_tokens, v.width
    vit = v.layers * (T * (4 * W * W + 2 * W * W * v.mlp_ratio) + 2 * T * T * W)
    vit += T * 3 * v.patch_size**2 * W  # patch embedding
    Q, H, F = q.num_query_tokens, q.hidden, q.intermediate
    qf = 0
    for i in range(q.layers):
        qf += Q * 4 * H * H + 2 * Q * Q * H + Q * 2 * H * F  # self-attn + FFN (query path)
        if i % q.cross_attention_freq == 0:
            qf += Q * 2 * H * H + T * 2 * W * H + 2 * Q * T * H  # q/out + k/v over the image + attention
    qf += Q * H * cfg.embed_dim
    return 2.0 * (vit + qf)


def flops_query_path(cfg) -> float:
    v, q = cfg.vision, cfg.qformer
    T, W = v.num_tokens, v.width
    N = q.num_query_tokens + cfg.max_txt_len
    Q, H, F = q.num_query_tokens, q.hidden, q.intermediate
    f = 0
    for i in range(q.layers):
        f += N * 4 * H * H + 2 * N * N * H + N * 2 * H * F
        if i % q.cross_attention_freq == 0:
            f += Q * 2 * H * H + T * 2 * W * H + 2 * Q * T * H
    f += Q * H * cfg.embed_dim
    return 2.0 * f


def timeit(fn, repeat: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def matmul_roofline(threads: int) -> float:
    """GFLOP/s of one large fp32 MatMul in ORT with the same thread count."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    M, K, N = 2056, 1024, 4096  # 8 images x 257 tokens through a ViT-L MLP layer
    g = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "mm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [M, K])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [M, N])],
        [helper.make_tensor("b", TensorProto.FLOAT, [K, N], np.random.rand(K, N).astype(np.float32).ravel())],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    a = np.random.rand(M, K).astype(np.float32)
    t = timeit(lambda: s.run(None, {"a": a}), 5)
    return 2 * M * K * N / t / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--skip-torch", action="store_true")
    args = ap.parse_args()

    import onnxruntime as ort
    import torch

    from engine.bundle import load_bundle
    from trainer.model import ModelConfig, QuReModel

    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.bundle, verify=False)
    cfg = ModelConfig.from_json(bundle.manifest.extra["model_config"])
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    sess = {g: ort.InferenceSession(str(bundle.graph_path(g)), so, providers=["CPUExecutionProvider"])
            for g in ("vision", "target", "query")}
    load_s = time.perf_counter() - t0
    model = None if args.skip_torch else QuReModel(cfg).eval()

    S, T, Dv, L = cfg.vision.image_size, cfg.vision.num_tokens, cfg.vision.width, cfg.max_txt_len
    rows = []
    roof = matmul_roofline(args.threads)
    fi, fq = flops_image_path(cfg), flops_query_path(cfg)
    for B in [int(b) for b in args.batches.split(",")]:
        rng = np.random.default_rng(B)
        px = rng.standard_normal((B, 3, S, S), np.float32)
        feats = rng.standard_normal((B, T, Dv), np.float32)
        ids = rng.integers(1, 1000, (B, L)).astype(np.int64)
        mask = np.ones((B, L), np.int64)

        def ort_image():
            f = sess["vision"].run(None, {"pixels": px})[0]
            sess["target"].run(None, {"vision_feats": f})

        def ort_query():
            sess["query"].run(None, {"vision_feats": feats, "input_ids": ids, "attention_mask": mask})

        r = {"batch": B, "ort_image": timeit(ort_image, args.repeat) / B,
             "ort_query": timeit(ort_query, args.repeat) / B}
        if model is not None:
            tp, tf, ti, tm = (torch.from_numpy(x) for x in (px, feats, ids, mask))
            with torch.inference_mode():
                r["torch_image"] = timeit(lambda: model.encode_target(tp), args.repeat) / B
                r["torch_query"] = timeit(lambda: model.query_from_features(tf, ti, tm), args.repeat) / B
        rows.append(r)

    print(
        f"machine: {platform.processor() or platform.machine()}, {args.threads} threads; "
        f"ORT session load {load_s:.1f} s; ORT fp32 MatMul roofline {roof:.0f} GFLOP/s"
    )
    print(f"image path {fi / 1e9:.1f} GFLOP/image, query path {fq / 1e9:.2f} GFLOP/query\n")
    print("| batch | path | PyTorch eager ms/img | ORT CPU ms/img | ORT vs torch | ORT GFLOP/s | of roofline |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for path, fl in (("image (vision+target)", fi), ("query (cached vision)", fq)):
            key = "image" if path.startswith("image") else "query"
            o, t = r[f"ort_{key}"], r.get(f"torch_{key}")
            gf = fl / o / 1e9
            ts = f"{t * 1e3:.0f}" if t else "-"
            ratio = f"{t / o:.2f}x" if t else "-"
            print(f"| {r['batch']} | {path} | {ts} | {o * 1e3:.0f} | {ratio} | {gf:.0f} | {gf / roof:.0%} |")
    print("\n" + json.dumps(rows))


if __name__ == "__main__":
    main()
