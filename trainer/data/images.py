"""Image names -> preprocessed tensors, through ``engine.preprocess`` (one definition
of the inputs for trainer and engine).

An ``ImageBank`` maps an integer id (position in ``names``) to what the model's image
path takes:

- ``kind == "pixels"``: (3, S, S) float32, ready for ``model.vision_features``;
- ``kind == "vit_tokens"``: (T, Dv) ViT outputs *before* ``ln_vision`` (which QuRe
  trains), for a frozen vision tower; ``trainer.encode.cache_vit_tokens`` builds one.

``MemoryPixelBank`` decodes every image once and keeps the tensors (small models);
``LazyPixelBank`` decodes on access, inside DataLoader workers (large models, no cache).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from engine.preprocess import ImageSpec, preprocess

from .errors import DataError


def load_pixels(path: Path, spec: ImageSpec) -> np.ndarray:
    """Decode one file and prepare it: (3, S, S) float32."""
    try:
        with Image.open(path) as im:
            im.load()
            return preprocess(im, spec)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from None


class ImageBank(ABC):
    kind: str = "pixels"

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self._pos = {n: i for i, n in enumerate(self.names)}
        if len(self._pos) != len(self.names):
            raise ValueError("image names must be unique")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self._pos[name]

    def indices(self, names: Sequence[str]) -> np.ndarray:
        return np.asarray([self._pos[n] for n in names], dtype=np.int64)

    def __contains__(self, name: str) -> bool:
        return name in self._pos

    @abstractmethod
    def __getitem__(self, i: int) -> torch.Tensor:
        """What the model's image path takes for image ``i`` (see the module doc)."""

    def batch(self, ids: np.ndarray | Sequence[int]) -> torch.Tensor:
        return torch.stack([self[int(i)] for i in ids])


class MemoryPixelBank(ImageBank):
    """Every image decoded and preprocessed once, kept as one (N, 3, S, S) tensor."""

    def __init__(self, names: Sequence[str], pixels: torch.Tensor):
        super().__init__(names)
        if pixels.shape[0] != len(self.names):
            raise ValueError(f"{pixels.shape[0]} tensors for {len(self.names)} names")
        self.pixels = pixels  # (N, 3, S, S)

    @classmethod
    def load(cls, paths: dict[str, Path], names: Sequence[str], spec: ImageSpec, threads: int | None = None):
        names = list(names)
        out = torch.empty(len(names), 3, spec.size, spec.size)  # (N, 3, S, S)

        def fill(i: int) -> None:
            out[i] = torch.from_numpy(load_pixels(paths[names[i]], spec))

        workers = threads or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fill, range(len(names))))
        return cls(names, out)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.pixels[i]

    def batch(self, ids: np.ndarray | Sequence[int]) -> torch.Tensor:
        return self.pixels[torch.as_tensor(np.asarray(ids, dtype=np.int64))]


class LazyPixelBank(ImageBank):
    """Decodes on access; cheap to pickle into DataLoader worker processes."""

    def __init__(self, names: Sequence[str], paths: dict[str, Path], spec: ImageSpec):
        super().__init__(names)
        self.paths = [paths[n] for n in self.names]
        self.spec = spec

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(load_pixels(self.paths[i], self.spec))


class TokenBank(ImageBank):
    """Cached ViT tokens before ``ln_vision``: (N, T, Dv), in memory or a memory-mapped .npy.

    A file-backed bank pickles as its path (DataLoader workers reopen the memory map);
    pickling a ``np.memmap`` itself would copy the whole array into every worker."""

    kind = "vit_tokens"

    def __init__(self, names: Sequence[str], tokens: torch.Tensor | np.ndarray | None = None, path: Path | None = None):
        super().__init__(names)
        if (tokens is None) == (path is None):
            raise ValueError("give the tokens or the .npy path, not both")
        self.path = Path(path) if path is not None else None
        self._tokens = tokens
        if self.tokens.shape[0] != len(self.names):
            raise ValueError(f"{self.tokens.shape[0]} token rows for {len(self.names)} names")

    @property
    def tokens(self) -> torch.Tensor | np.ndarray:
        if self._tokens is None:
            self._tokens = np.load(self.path, mmap_mode="r")  # (N, T, Dv)
        return self._tokens

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self.path is not None:
            state["_tokens"] = None
        return state

    def __getitem__(self, i: int) -> torch.Tensor:
        row = self.tokens[i]
        return row if isinstance(row, torch.Tensor) else torch.from_numpy(np.array(row))

    def batch(self, ids: np.ndarray | Sequence[int]) -> torch.Tensor:
        ids = np.asarray(ids, dtype=np.int64)
        if isinstance(self.tokens, torch.Tensor):
            return self.tokens[torch.as_tensor(ids)]
        return torch.from_numpy(np.asarray(self.tokens[ids]))  # (B, T, Dv)


def make_pixel_bank(paths: dict[str, Path], names: Sequence[str], spec: ImageSpec, in_memory: bool) -> ImageBank:
    if in_memory:
        return MemoryPixelBank.load(paths, names, spec)
    return LazyPixelBank(names, paths, spec)
