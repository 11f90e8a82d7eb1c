"""Personalization at QuRe's real size on the CPU: how long do a few hundred votes take?

    .venv/bin/python benchmarks/bench_personalize_vitl.py --workdir /tmp/bpv --votes 300

1. A real-size bundle (``vitl``: CLIP ViT-L/14 + BERT-base Q-Former) with random weights:
   a random checkpoint in LAVIS's layout (the test suite's generator), imported with the
   importer and exported with query-side weights, as ``cirsearch-train import-qure`` does.
   Made once in ``--workdir``.
2. A library of ``--photos`` demo shirts (256 px renders) indexed with it.
3. A simulated user votes on the results of composed queries (``--references``
   reference photos, many sentences each) until ``--votes`` votes: thumbs-up on the
   striped shirts among the first 10, thumbs-down on the others (at most 10 a query).
4. ``personalize_library`` end to end: read the votes, build pairs, fine-tune the query
   side (Bradley-Terry, early stopping on held-out queries), export ``query.onnx`` with
   its parity check, write and switch to the child bundle.

Prints the time of each step and the trainer's report (pairs, epochs, held-out accuracy;
random weights, so the accuracy says nothing about quality, only the time counts).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SENTENCES = ["same but in {c}", "make it {c}", "in {c} with long sleeves", "a {c} one without sleeves",
             "same shirt in {c} with short sleeves", "change the colour to {c}"]


def make_bundle(out: Path) -> Path:
    if (out / "manifest.json").is_file():
        return out
    import torch

    from engine.bundle import ModelInfo
    from tests.trainer.lavis_layout import LavisSizes, random_lavis_state_dict
    from trainer.export import ExportOptions, export_bundle
    from trainer.model import VITL
    from trainer.model.checkpoint import import_files

    t = time.perf_counter()
    ckpt = out.parent / "random-lavis.pth"
    torch.save(random_lavis_state_dict(LavisSizes(), seed=0), ckpt)
    model, report = import_files(checkpoint=ckpt, base=VITL)
    ckpt.unlink()
    if not report.ok:
        raise SystemExit(f"import failed: {report}")
    vocab = out.parent / "vocab.txt"
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    from engine.world.attributes import COLOURS

    words += sorted({w for s in SENTENCES for w in s.replace("{c}", "").split()} | set(COLOURS))
    words += [f"w{i}" for i in range(30522 - len(words))]
    vocab.write_text("\n".join(words) + "\n")
    export_bundle(model, vocab, out, ModelInfo("vitl-random", "0", "vitl"), options=ExportOptions(text_graph=False))
    print(f"bundle: imported and exported in {time.perf_counter() - t:.0f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--references", type=int, default=6)
    ap.add_argument("--votes", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import torch

    torch.set_num_threads(args.threads)
    from engine.library import Library
    from engine.world.attributes import COLOURS, PATTERNS, SLEEVES, Garment
    from engine.world.render import render_seeded
    from trainer.personalize.run import personalize_library

    args.workdir.mkdir(parents=True, exist_ok=True)
    bundle = make_bundle(args.workdir / "bundle")
    rng = np.random.default_rng(0)
    photos_dir = args.workdir / "photos"
    striped = {}
    if not photos_dir.is_dir():
        photos_dir.mkdir()
    for i in range(args.photos):
        g = Garment("shirt", COLOURS[i % len(COLOURS)], PATTERNS[(i // 2) % len(PATTERNS)], SLEEVES[i % len(SLEEVES)])
        p = photos_dir / f"shirt_{i:03d}.jpg"
        if not p.is_file():
            render_seeded(g, (9, i), (256, 256)).save(p, quality=90)
        striped[str(p.resolve())] = g.pattern == "striped"

    lib_dir = args.workdir / "library"
    shutil.rmtree(lib_dir, ignore_errors=True)
    t = time.perf_counter()
    with Library.open(lib_dir, bundle=bundle) as lib:
        lib.add_root(photos_dir)
        lib.index()
        t_index = time.perf_counter() - t
        refs = sorted(striped)[: args.references]
        cast, queries, t = 0, 0, time.perf_counter()
        while cast < args.votes:
            ref = refs[queries % len(refs)]
            text = SENTENCES[int(rng.integers(len(SENTENCES)))].format(c=COLOURS[int(rng.integers(len(COLOURS)))])
            res = lib.search(text=text, image=Path(ref), k=10)
            for h in res.hits[:10]:
                if cast >= args.votes:
                    break
                lib.vote(res, h.photo_id, striped[str(Path(h.path).resolve())])
                cast += 1
            queries += 1
        t_votes = time.perf_counter() - t
    t = time.perf_counter()
    res = personalize_library(lib_dir, args.workdir / "child")
    t_personalize = time.perf_counter() - t
    r = res.report
    out = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {args.threads}",
        "photos": args.photos, "index_s": round(t_index, 1), "votes": cast, "queries": queries,
        "voting_s": round(t_votes, 1), "personalize_s": round(t_personalize, 1),
        "train_s": round(r.seconds, 1), "pairs_train": r.pairs_train, "pairs_held_out": r.pairs_held_out,
        "epochs_run": r.epochs_run, "best_epoch": r.best_epoch, "held_before": r.before, "held_after": r.after,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
