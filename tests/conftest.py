"""Fixtures shared by every part of the suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Sentences the tiny test vocabulary is learned from (and that tests may query with).
TINY_TEXTS = [
    "is red and has short sleeves",
    "make it blue and striped",
    "same shirt but green with long sleeves",
    "a black dress without sleeves",
    "is white with polka dots and a v-neck",
    "darker colour, checked pattern",
    "yellow floral top, sleeveless",
    "change the colour to purple please",
    "more orange, less pink, same shape",
    "grey plain tee instead of the brown one",
]


@pytest.fixture(scope="session")
def tiny_vocab(tmp_path_factory) -> Path:
    from trainer.vocab import build_wordpiece_vocab

    return build_wordpiece_vocab(TINY_TEXTS * 3, tmp_path_factory.mktemp("vocab") / "vocab.txt", vocab_size=400)


@pytest.fixture(scope="session")
def tiny_model(tiny_vocab):
    """A tiny random-weight QuRe model (seeded) sized for ``tiny_vocab``."""
    import torch

    from engine.text import Tokenizer
    from trainer.model import TINY, build_model

    torch.manual_seed(0)
    return build_model(TINY, vocab_size=Tokenizer(tiny_vocab).vocab_size).eval()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_model, tiny_vocab) -> Path:
    """A real bundle exported from the tiny random-weight model: vision, target,
    query and text graphs, 96 px images, Q=8 target tokens of E=128. Read-only:
    copy it before changing anything."""
    from engine.bundle import ModelInfo
    from trainer.export import export_bundle

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    export_bundle(tiny_model, tiny_vocab, out, ModelInfo("tiny-test", "0", "tiny", "random weights, for tests"))
    return out
