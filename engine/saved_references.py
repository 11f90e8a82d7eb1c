"""Vision features of references that received votes, kept with the votes.

Votes outlive the reference files they were cast on, and personalization needs the
reference's vision features: the first vote on a reference saves them (fp16 ``.npy``)
under ``refs/<target side>/<sha256>.npy`` in the library folder, one folder per target
side (another vision graph gives other features).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .atomic import atomic_write
from .decode import DecodeConfig
from .errors import ImageDecodeError
from .feedback import QueryInfo
from .references import Reference, load_reference


class SavedReferences:
    def __init__(self, folder: Path):
        self.folder = folder  # the library's refs/ folder

    def path(self, target_side: str, sha256: str) -> Path:
        return self.folder / target_side[:16] / f"{sha256}.npy"

    def load(self, target_side: str, sha256: str) -> np.ndarray | None:
        """(T, Dv) float32 features saved for the reference with these bytes, or None."""
        saved = self.path(target_side, sha256)
        return np.load(saved).astype(np.float32) if saved.is_file() else None

    def find(self, target_side: str, sha256: str, paths: Sequence[str], decode: DecodeConfig,
             vision: Callable[[Reference], np.ndarray]) -> np.ndarray | None:
        """The features saved for ``sha256``, else ``vision`` of the first of ``paths`` whose
        bytes still hash to it; None when none does."""
        saved = self.load(target_side, sha256)
        if saved is not None:
            return saved
        for path in paths:
            try:
                ref = load_reference(path, decode)
            except ImageDecodeError:
                continue
            if ref.sha256 == sha256:
                return vision(ref)
        return None

    def keep(self, target_side: str, q: QueryInfo, decode: DecodeConfig,
             vision: Callable[[Reference], np.ndarray]) -> None:
        """Save ``vision`` of the reference of a query that received a vote, unless it has
        none or is saved already. Never raises for a reference that cannot be read or
        encoded: the vote is already safe, the features are a convenience."""
        if q.ref_sha256 is None or not q.ref_path:
            return
        out = self.path(target_side, q.ref_sha256)
        if out.is_file():
            return
        try:
            feats = vision(load_reference(q.ref_path, decode))
        except Exception:
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        # durable: kept with the votes, which outlive the reference file they were cast on
        atomic_write(out, lambda f: np.save(f, feats.astype(np.float16)), durable=True)
