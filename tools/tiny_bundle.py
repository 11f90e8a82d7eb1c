"""Export the tiny QuRe architecture with random (seeded) weights as a model bundle.

    .venv/bin/python tools/tiny_bundle.py OUT_DIR

For benchmarks and screenshots on a machine where the demo bundle (resources/demo-bundle)
is not installed. The weights are random: rankings made with it mean nothing, and the
manifest says so (it is not marked as the demo model). Needs torch (the trainer).
"""

from __future__ import annotations

import sys
from pathlib import Path

SENTENCES = ["make it red with short sleeves", "same but striped", "darker and without sleeves",
             "is blue with polka dots", "a photo of a dress, a shirt or a top"]


def tiny_random_bundle(out: Path) -> Path:
    """``out`` holding the bundle (exported once; an existing one is reused)."""
    out = Path(out)
    if (out / "manifest.json").is_file():
        return out
    import torch

    from engine.bundle import ModelInfo
    from engine.text import Tokenizer
    from trainer.export import export_bundle
    from trainer.model import TINY, build_model
    from trainer.vocab import build_wordpiece_vocab

    out.parent.mkdir(parents=True, exist_ok=True)
    vocab = build_wordpiece_vocab(SENTENCES * 5, out.parent / f"{out.name}-vocab.txt", vocab_size=300)
    torch.manual_seed(0)
    model = build_model(TINY, vocab_size=Tokenizer(vocab).vocab_size).eval()
    export_bundle(model, vocab, out, ModelInfo("tiny-random", "0", "tiny", "random weights: for benchmarks only"))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(tiny_random_bundle(Path(sys.argv[1])))
