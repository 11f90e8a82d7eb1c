"""Indexing throughput on camera-size JPEGs, against the encoder alone.

Generates ``--count`` JPEGs of 4000 x 3000 with EXIF (orientation, date) once into
``--workdir``, then measures, with the given bundle:

1. decode + preprocess alone, one thread (with JPEG draft decoding, and without);
2. the encoder alone: vision + target graphs on already-prepared pixels, batch 16;
3. the whole indexer (``Library.index`` into a fresh library): scan, read, hash,
   decode in the pool, encode, commit. If decoding is hidden behind encoding, (3) runs
   at the rate of (2) and the indexer's ``wait_s`` (time the encoder waited for
   decoded images) is small.

    python benchmarks/bench_index.py --bundle resources/demo-bundle
    python benchmarks/bench_index.py --make-tiny /tmp/tiny-bundle   # a random TINY export (needs torch)
    python benchmarks/bench_index.py --bundle /path/to/vitl-bundle --count 16
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

from engine.bundle import load_bundle  # noqa: E402
from engine.decode import decode, read_file  # noqa: E402
from engine.indexer import IndexConfig  # noqa: E402
from engine.library import Library, LibraryConfig  # noqa: E402
from engine.preprocess import preprocess  # noqa: E402
from engine.runtime import Encoders, RuntimeConfig  # noqa: E402


def camera_jpeg(path: Path, seed: int, size=(4000, 3000)) -> None:
    """A 12 MP photo-like JPEG: smooth colour fields, edges and sensor-like noise, with EXIF."""
    rng = np.random.default_rng(seed)
    w, h = size
    small = Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    a = np.asarray(small, np.int16)
    a = a + rng.integers(-12, 13, size=(h, w, 1), dtype=np.int16)
    exif = Image.Exif()
    exif[0x0112] = int(rng.choice([1, 1, 1, 6, 8, 3]))
    exif[0x010F], exif[0x0110] = "cirsearch", "bench camera"
    exif.get_ifd(0x8769)[0x9003] = "2024:06:01 12:00:00"
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=90, exif=exif.tobytes())


def make_photos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"IMG_{i:04d}.jpg" for i in range(count)]
    for i, p in enumerate(paths):
        if not p.exists():
            camera_jpeg(p, i)
    return paths


def make_tiny_bundle(out: Path) -> Path:
    """A random-weight TINY model exported as a bundle (same graphs and sizes as the demo model)."""
    import torch

    from engine.bundle import ModelInfo
    from engine.text import Tokenizer
    from trainer.export import export_bundle
    from trainer.model import TINY, build_model
    from trainer.vocab import build_wordpiece_vocab

    vocab = build_wordpiece_vocab(["same dress but red with long sleeves", "a blue striped shirt"] * 20,
                                  out.parent / "tiny-vocab.txt", vocab_size=200)
    torch.manual_seed(0)
    model = build_model(TINY, vocab_size=Tokenizer(vocab).vocab_size).eval()
    export_bundle(model, vocab, out, ModelInfo("tiny-random", "0", "tiny", "random weights, for benchmarks"))
    return out


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2) if seconds > 0 else float("inf")


def bench_decode(paths: list[Path], size: int, spec, draft: bool) -> dict:
    t0 = time.perf_counter()
    for p in paths:
        d = decode(read_file(p), str(p), target=size if draft else None)
        preprocess(d.image, spec)
    s = time.perf_counter() - t0
    return {"images": len(paths), "seconds": round(s, 2), "images_per_s": rate(len(paths), s)}


def bench_encoder(paths: list[Path], bundle, batch: int, runtime: RuntimeConfig) -> dict:
    spec = bundle.manifest.image
    enc = Encoders(bundle, runtime)
    pixels = np.stack([preprocess(decode(read_file(p), target=spec.size).image, spec) for p in paths])  # (N, 3, S, S)
    enc.target(enc.vision(pixels[:1]))  # load and warm up
    t0 = time.perf_counter()
    for i in range(0, len(pixels), batch):
        enc.target(enc.vision(pixels[i : i + batch]))
    s = time.perf_counter() - t0
    return {"images": len(paths), "seconds": round(s, 2), "images_per_s": rate(len(paths), s), "device": enc.device}


def bench_pipeline(folder: Path, bundle_path: Path, workdir: Path, batch: int, runtime: RuntimeConfig) -> dict:
    lib_dir = workdir / "library"
    shutil.rmtree(lib_dir, ignore_errors=True)
    cfg = LibraryConfig(runtime=runtime, index=IndexConfig(batch_size=batch))
    with Library.open(lib_dir, bundle=bundle_path, cfg=cfg) as lib:
        lib.encoders.load_all()  # session loading is not indexing time
        r = lib.index([folder])
    n = r.encoded
    return {"images": n, "seconds": round(r.elapsed_s, 2), "images_per_s": rate(n, r.elapsed_s),
            "encode_s": round(r.encode_s, 2), "encoder_waited_s": round(r.wait_s, 2), "skipped": len(r.failed)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path)
    p.add_argument("--make-tiny", type=Path, metavar="DIR", help="export a random TINY bundle there and use it")
    p.add_argument("--count", type=int, default=48)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/cirsearch-bench-index"))
    p.add_argument("--precision", default="fp32", choices=("auto", "fp32", "int8", "fp16"),
                   help="which of the bundle's graphs run (default fp32)")
    p.add_argument("--out", type=Path, help="append the result as a JSON line here")
    args = p.parse_args()
    runtime = RuntimeConfig(precision=args.precision)
    if args.make_tiny:
        made = (args.make_tiny / "manifest.json").exists()
        args.bundle = args.make_tiny if made else make_tiny_bundle(args.make_tiny)
    if args.bundle is None:
        p.error("give --bundle or --make-tiny")
    bundle = load_bundle(args.bundle)
    photos = make_photos(args.workdir / "photos", args.count)
    folder = args.workdir / f"photos-{args.count}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for ph in photos:
        os.link(ph, folder / ph.name)
    spec = bundle.manifest.image
    some = photos[: min(len(photos), 16)]
    load_before = os.getloadavg()[0]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "bundle": bundle.label,
        "image_size": spec.size,
        "photo": "4000x3000 JPEG q90 with EXIF",
        "mean_file_mb": round(float(np.mean([ph.stat().st_size for ph in photos])) / 2**20, 2),
        "decode_preprocess_draft": bench_decode(some, spec.size, spec, draft=True),
        "decode_preprocess_full": bench_decode(some[:4], spec.size, spec, draft=False),
        "precision": args.precision,
        "encoder_alone": bench_encoder(photos, bundle, args.batch, runtime),
        "indexer": bench_pipeline(folder, args.bundle, args.workdir, args.batch, runtime),
    }
    result["load_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # before, after
    text = json.dumps(result)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
