"""Evaluating a model bundle (``engine.bundle``) the way a run is evaluated: its ONNX
graphs (``engine.runtime.Encoders``) as a ``trainer.evaluate.Encoder``, images prepared
as its manifest's image spec says, captions through its own tokenizer. Ranking and
metrics are ``trainer.evaluate``'s, shared with ``--run``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.bundle import Bundle, load_bundle
from engine.errors import BundleError
from engine.runtime import Encoders, RuntimeConfig

from .data.images import ImageBank
from .encode import image_batches
from .run import RunError


@dataclass
class BundleEncoder:
    """A bundle's vision + target graphs for the corpus, vision + query graphs for the
    queries; float32 CPU tensors out."""

    encoders: Encoders
    batch_size: int = 128
    num_workers: int = 0

    @property
    def bundle(self) -> Bundle:
        return self.encoders.bundle

    def queries(
        self, bank: ImageBank, ref_ids: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> torch.Tensor:
        """(M, E) composed queries."""
        out = []
        b = self.batch_size
        for s, x in zip(range(0, len(ref_ids), b), image_batches(bank, ref_ids, b, self.num_workers)):
            feats = self.encoders.vision(x.numpy())  # (b, T, Dv)
            out.append(self.encoders.query(feats, input_ids[s : s + b], attention_mask[s : s + b]))  # (b, E)
        if not out:
            return torch.zeros(0, self.bundle.manifest.sizes.embed_dim)
        return torch.from_numpy(np.concatenate(out).astype(np.float32, copy=False))

    def targets(self, bank: ImageBank, ids: np.ndarray) -> torch.Tensor:
        """(N, Q, E) target tokens."""
        out = [self.encoders.target(self.encoders.vision(x.numpy())) for x in
               image_batches(bank, ids, self.batch_size, self.num_workers)]  # (b, Q, E) each
        if not out:
            z = self.bundle.manifest.sizes
            return torch.zeros(0, z.num_query_tokens, z.embed_dim)
        return torch.from_numpy(np.concatenate(out).astype(np.float32, copy=False))


def runtime_device(device: str) -> str:
    """A trainer ``--device`` (auto, cpu, cuda, cuda:N) as ONNX Runtime's choice (auto, cpu, cuda)."""
    return "cuda" if device.startswith("cuda") else device


def open_bundle(path: str | Path, device: str = "auto", threads: int = 0, batch_size: int = 128,
                num_workers: int = 0, precision: str = "auto") -> BundleEncoder:
    """Load and verify a bundle and create its vision, target and query sessions (``precision``:
    as the engine picks, or fp32, int8, fp16); a bad bundle is a ``RunError`` naming the file at fault."""
    try:
        bundle = load_bundle(path)
        enc = Encoders(bundle, RuntimeConfig(device=runtime_device(device), threads=threads or 0,
                                             precision=precision))
        for g in ("vision", "target", "query"):
            enc.session(g)
    except (BundleError, ValueError) as e:
        where = f" ({e.file})" if isinstance(e, BundleError) and e.file else ""
        raise RunError(f"cannot use bundle {path}{where}: {e}") from None
    return BundleEncoder(enc, batch_size, num_workers)
