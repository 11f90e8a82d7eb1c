"""Does QuRe's claim hold on the demo world? Same first stage, then each second stage.

    .venv/bin/python tools/demo_model/experiments.py --world /path/to/world --out /path/to/exp

1. A vocabulary from the world's text corpus (what users may type), deterministic.
2. Per seed: a first stage (contrastive, in-batch InfoNCE) from scratch.
3. Per seed and method: a second stage from that same checkpoint (``--init``), equal
   epochs, each method's own objective and negatives: contrastive (continued), QuRe
   (Bradley-Terry on steep-drop hard negatives), TRNS (mid-zone negatives), SPN (query
   side against the whole frozen bank).
4. Every run's best checkpoint (chosen on val) is evaluated on the *test* split:
   R@10, R@50 and relevance P@5 (against every image that satisfies the query).
Writes ``results.json`` and ``results.md`` (mean ± sd over seeds). Runs ``--parallel``
trainings at a time, each with ``--threads`` torch threads (on 2 shared cores, two
single-threaded runs beat one two-threaded run by far).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAIN = [sys.executable, "-m", "trainer.cli"]
METRICS = ("R@10", "R@50", "P@5", "agree@10")
# Second-stage variants: name -> (train --method, extra arguments).
VARIANTS = {
    "contrastive": ("contrastive", []),
    "qure": ("qure", []),  # the paper's schedule: a warm-up epoch of random negatives, then steep-drop sets
    "qure-nowarm": ("qure", ["--no-warmup"]),  # steep-drop sets from the first epoch (we start from a CIR model)
    "qure-w30": ("qure", ["--no-warmup", "--window", "30"]),  # drops searched among the 30 images after the target
    "trns": ("trns", ["--no-warmup"]),
    "above": ("above", ["--no-warmup"]),  # images ranked above the target, near-copies kept out
    "spn": ("spn", []),
}


def sh(cmd: list[str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    t = time.time()
    with open(log, "w") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    print(f"[{time.time() - t:6.0f}s] {'ok ' if rc == 0 else 'FAIL'} {log.parent.name}/{log.name}", flush=True)
    if rc:
        raise SystemExit(f"failed: {' '.join(cmd)} (see {log})")


def build_vocab(out: Path, size: int) -> Path:
    sys.path.insert(0, str(ROOT))
    from engine.world import vocabulary_corpus
    from trainer.vocab import build_wordpiece_vocab

    return build_wordpiece_vocab(vocabulary_corpus(), out / "vocab.txt", vocab_size=size)


def train(world: Path, run: Path, method: str, epochs: int, seed: int, threads: int, extra: list[str],
          init: Path | None = None, vocab: Path | None = None) -> Path:
    if (run / "best.pt").is_file() and (run / "done").is_file():
        return run
    cmd = TRAIN + ["train", "--dataset", "fashioniq", "--data-root", str(world), "--method", method,
                   "--model", "tiny", "--epochs", str(epochs), "--out", str(run), "--seed", str(seed),
                   "--threads", str(threads), *extra]
    if init is not None:
        cmd += ["--init", str(init)]
    if vocab is not None:
        cmd += ["--vocab", str(vocab)]
    if run.exists() and (run / "checkpoint.pt").is_file():
        cmd += ["--resume"]
    elif run.exists():  # stopped before its first checkpoint: nothing to resume, start it again
        shutil.rmtree(run)
    sh(cmd, run.parent / "logs" / f"{run.name}.train.log")
    (run / "done").write_text("")
    return run


def evaluate(world: Path, run: Path, threads: int) -> dict:
    out = run / "test.json"
    if not out.is_file():
        sh(TRAIN + ["eval", "--run", str(run), "--dataset", "fashioniq", "--data-root", str(world), "--split", "test",
                    "--json", str(out), "--threads", str(threads)], run.parent / "logs" / f"{run.name}.eval.log")
    return json.loads(out.read_text())["metrics"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--methods", default="contrastive,qure,qure-w30,trns,spn", help=f"of {sorted(VARIANTS)}")
    ap.add_argument("--stage1-epochs", type=int, default=20)
    ap.add_argument("--stage2-epochs", type=int, default=6)
    ap.add_argument("--stage2-lr", default="3e-4")
    ap.add_argument("--vocab-size", type=int, default=1000)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--extra", default="", help="extra train arguments for every second stage, e.g. '--window 30'")
    ap.add_argument("--stage1", type=Path, default=None,
                    help="one given first-stage run shared by every seed (e.g. pretrained, then CIR-trained), "
                         "instead of training a first stage per seed")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    pool = ThreadPoolExecutor(args.parallel)

    if args.stage1 is not None:
        stage1 = {s: args.stage1 for s in seeds}
    else:
        vocab = build_vocab(args.out, args.vocab_size)
        stage1 = {s: args.out / f"stage1-s{s}" for s in seeds}
        list(pool.map(lambda s: train(args.world, stage1[s], "contrastive", args.stage1_epochs, s, args.threads, [],
                                      vocab=vocab), seeds))
    jobs = [(m, s) for s in seeds for m in methods]
    stage2 = {(m, s): args.out / f"stage2-{m}-s{s}" for m, s in jobs}
    extra = ["--lr", args.stage2_lr] + (args.extra.split() if args.extra else [])
    list(pool.map(lambda j: train(args.world, stage2[j], VARIANTS[j[0]][0], args.stage2_epochs, j[1], args.threads,
                                  extra + VARIANTS[j[0]][1], init=stage1[j[1]]), jobs))
    runs = {**{("stage1", s): r for s, r in stage1.items()}, **stage2}
    unique = sorted(set(runs.values()))  # a shared first stage is evaluated once
    by_path = dict(zip(unique, pool.map(lambda r: evaluate(args.world, r, args.threads), unique)))
    results = {k: by_path[r] for k, r in runs.items()}
    metrics = METRICS + tuple(k for k in ("map@10",) if all(k in r for r in results.values()))

    table = {}
    for name in ["stage1"] + methods:
        rows = [results[(name, s)] for s in seeds]
        table[name] = {k: (statistics.mean(r[k] for r in rows),
                           statistics.stdev(r[k] for r in rows) if len(rows) > 1 else 0.0,
                           [r[k] for r in rows]) for k in metrics}
    (args.out / "results.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "table": table,
         "runs": {f"{k[0]}-s{k[1]}": v for k, v in results.items()}}, indent=2))
    head = ["R@10", "R@50", "relevance P@5", "attribute agreement @10", "mAP@10"][: len(metrics)]
    lines = ["| second stage | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    label = {"stage1": "(first stage only)", "contrastive": "contrastive, continued",
             "qure": "QuRe (paper schedule: 1 warm-up epoch)", "qure-nowarm": "QuRe, mined from epoch 0",
             "qure-w30": "QuRe, drops within 30 after the target", "trns": "TRNS (mid-zone)", "spn": "SPN stage 2",
             "above": "above the target, near-copies out"}
    for name, row in table.items():
        lines.append(f"| {label.get(name, name)} | " + " | ".join(f"{row[k][0]:.1f} ± {row[k][1]:.1f}" for k in metrics) + " |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
