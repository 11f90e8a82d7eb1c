"""What the pretraining tests share: a small generated world and a short run through
``main(argv)`` (2 epochs of 3 steps at batch 8, one thread)."""

from __future__ import annotations

from pathlib import Path

from engine.world.layout import generate
from engine.world.plan import WorldConfig
from trainer.cli import main


def small_world(folder: Path, seed: int) -> Path:
    cfg = WorldConfig(seed=seed, train_images=90, train_triplets=24, eval_images=36, eval_triplets=6,
                      train_renders=2, eval_renders=2, image_size=64)
    return generate(cfg, folder / "world")


def short_pretrain(world: Path, out: Path, *extra: str) -> int:
    return main(["pretrain", "--data-root", str(world), "--out", str(out), "--batch-size", "8", "--epochs", "2",
                 "--max-steps-per-epoch", "3", "--log-every", "1", "--threads", "1", "--vocab-size", "400", *extra])
