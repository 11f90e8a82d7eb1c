"""The run directory: everything one training run writes, and how to read it back.

    RUN/config.json      {"format": "cirsearch-run", "version": 1, "model": ModelConfig JSON,
                          "vocab_size", "split_query_side", "training": {...}, "data": {...},
                          "method", "seed", "git_commit", "init", "created"}
    RUN/vocab.txt        the WordPiece vocabulary the model was trained with
    RUN/checkpoint.pt    the last finished epoch: model, optimizer, scaler, epoch, step,
                         RNG states, negatives file, best metric (resumable)
    RUN/best.pt          model weights of the best epoch by the validation metric
    RUN/log.jsonl        one JSON object per logged step and per epoch
    RUN/plot.png         loss and validation metrics, redrawn each epoch
    RUN/negatives/epoch_NNN.npz   the negative tables mined at the start of epoch NNN

Checkpoints hold only tensors and JSON-able values and are read with
``torch.load(weights_only=True)``: loading one cannot run code. Weights load strictly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from engine.atomic import atomic_write, atomic_write_json

from .model import ModelConfig, QuReModel, build_model
from .torchfile import TorchFileError, load_weights_only

FORMAT = "cirsearch-run"
VERSION = 1
CONFIG, VOCAB, CHECKPOINT, BEST, LOG, PLOT = (
    "config.json",
    "vocab.txt",
    "checkpoint.pt",
    "best.pt",
    "log.jsonl",
    "plot.png",
)


class RunError(ValueError):
    """A run directory is missing, incomplete, or does not match what was asked."""


def git_commit(repo: Path | None = None) -> str | None:
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# Durable: the checkpoint, the best weights and config.json are what resuming and
# exporting read back; after a power cut they must be the old file or the whole new one.
def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save(obj)`` to ``path`` atomically and durably."""
    atomic_write(path, lambda f: torch.save(obj, f), durable=True)


def write_json(path: Path, obj: Any) -> None:
    atomic_write_json(path, obj, durable=True, indent=2, sort_keys=True)


def read_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunError(f"{run_dir}: not a run directory (no {CONFIG})")
    cfg = json.loads(path.read_text(encoding="utf-8"))
    if cfg.get("format") != FORMAT:
        raise RunError(f"{path}: not a {FORMAT} config")
    if cfg.get("version", 0) > VERSION:
        raise RunError(f"{path}: written by a newer cirsearch (version {cfg['version']})")
    return cfg


def write_config(
    run_dir: Path,
    model: QuReModel,
    vocab_size: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    cfg = {
        "format": FORMAT,
        "version": VERSION,
        "model": model.cfg.to_json(),
        "vocab_size": vocab_size,
        "split_query_side": model.has_split_query_side,
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }
    write_json(run_dir / CONFIG, cfg)
    return cfg


def weights_payload(model: QuReModel, epoch: int, step: int, metrics: dict[str, float] | None = None) -> dict:
    return {
        "model": model.state_dict(),
        "model_config": model.cfg.to_json(),
        "split_query_side": model.has_split_query_side,
        "epoch": epoch,
        "step": step,
        "metrics": dict(metrics or {}),
    }


def _measured_split(data: dict[str, Any]) -> str | None:
    """The split a run's checkpoint metrics come from: validation of a training run, the
    probe of a pretraining run."""
    return data.get("val_split") or data.get("probe_split")


def save_initial_run(run_dir: str | Path, model: QuReModel, vocab_path: str | Path, meta: dict[str, Any]) -> Path:
    """Write a run directory holding ``model``'s weights (e.g. imported from a QuRe or
    BLIP-2 checkpoint) so that ``train --init RUN``, ``eval`` and ``export`` can use it.
    ``meta`` goes into config.json (say where the weights came from)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(vocab_path, run_dir / VOCAB)
    from engine.text import Tokenizer

    vocab_size = Tokenizer(run_dir / VOCAB, model.cfg.text_spec()).vocab_size
    if vocab_size != model.cfg.qformer.vocab_size:
        raise RunError(
            f"the vocabulary has {vocab_size} tokens (with [DEC]) but the model {model.cfg.qformer.vocab_size}"
        )
    write_config(run_dir, model, vocab_size, {"method": "initial", "meta": meta})
    payload = weights_payload(model, epoch=0, step=0)
    atomic_save(payload, run_dir / BEST)
    atomic_save({**payload, "resumable": False}, run_dir / CHECKPOINT)
    return run_dir


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RunError(f"{path}: not found")
    try:
        return load_weights_only(path)
    except TorchFileError as e:
        raise RunError(f"{path}: {e}") from None


def model_from_payload(payload: dict[str, Any]) -> QuReModel:
    cfg = ModelConfig.from_json(payload["model_config"])
    model = build_model(cfg)
    if payload.get("split_query_side"):
        model.split_query_side()
    load_state_strict(model, payload["model"])
    return model


def load_state_strict(model: QuReModel, state: dict[str, torch.Tensor]) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RunError(
            f"weights do not match the model: missing {sorted(missing)[:8]}, unexpected {sorted(unexpected)[:8]}"
        )


def load_model(run_dir: str | Path, which: str = "best") -> tuple[QuReModel, Path, dict[str, Any]]:
    """(model in eval mode, strictly loaded; the run's vocab.txt; meta).

    ``meta`` is config.json plus, from the checkpoint read: ``epoch``, ``step``, ``metrics``
    (its validation metrics), ``checkpoint_sha256``; ``dataset`` and ``split`` (the split those
    metrics were measured on) from the data config.
    ``which``: "best" (best.pt) or "last" (checkpoint.pt)."""
    run_dir = Path(run_dir)
    meta = read_config(run_dir)
    if which not in ("best", "last"):
        raise ValueError("which must be 'best' or 'last'")
    path = run_dir / (BEST if which == "best" else CHECKPOINT)
    payload = load_checkpoint(path)
    model = model_from_payload(payload)
    model.eval()
    vocab = run_dir / VOCAB
    if not vocab.is_file():
        raise RunError(f"{run_dir}: no {VOCAB}")
    from engine.bundle import sha256_file

    meta = {
        **meta,
        **{k: payload.get(k) for k in ("epoch", "step", "metrics")},
        "dataset": (meta.get("data") or {}).get("dataset"),
        "split": _measured_split(meta.get("data") or {}),
        "checkpoint_sha256": sha256_file(path),
    }
    return model, vocab, meta


def append_log(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_log(run_dir: Path) -> Path:
    """Redraw RUN/plot.png from log.jsonl: training loss per step, validation metrics per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_log(run_dir)
    steps = [r for r in records if r.get("kind") == "step"]
    epochs = [r for r in records if r.get("kind") == "epoch"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if steps:
        ax1.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=0.8)
    ax1.set_xlabel("step")
    ax1.set_ylabel("training loss")
    ax1.set_yscale("log")
    keys = sorted({k for r in epochs for k in r.get("val", {}) if "/" not in k})
    for k in keys:
        xs = [r["epoch"] + 1 for r in epochs if k in r.get("val", {})]
        ax2.plot(xs, [r["val"][k] for r in epochs if k in r.get("val", {})], marker="o", label=k)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation (%)")
    if keys:
        ax2.legend(fontsize=8)
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    path = run_dir / PLOT
    # not durable: redrawn from the log every epoch
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=90), durable=False)
    plt.close(fig)
    return path
