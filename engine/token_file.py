"""Durable store of every photo's target tokens: one flat fp16 file, one slot per content.

Slot ``i`` holds the (Q, E) tokens of catalog content ``i`` at byte offset
``i * Q * E * 2``. The index (FAISS) is rebuilt from here without re-encoding, exact
re-ranking reads candidates from here, and personalization reads its targets from here.

Size: Q * E * 2 bytes per photo: 16 KiB at QuRe's 32 x 256 (1.6 GB per 100k photos,
16 GB per million), 2 KiB for the demo model (8 x 128). Reads use ``pread`` and writes
``pwrite`` on one descriptor, so any thread may read while one writes; ``flush`` makes
written slots durable (the indexer calls it before committing the catalog rows that
point at them).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np


class TokenStore:
    def __init__(self, path: str | Path, num_tokens: int, dim: int):
        self.path = Path(path)
        self.num_tokens = num_tokens  # Q
        self.dim = dim  # E
        self.slot_bytes = num_tokens * dim * 2
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def write(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        """Write ``tokens`` (N, Q, E) to slots ``ids`` (N,). Not durable until :meth:`flush`."""
        ids = np.asarray(ids, dtype=np.int64)
        t16 = np.ascontiguousarray(tokens, dtype=np.float16)  # (N, Q, E)
        if t16.shape != (len(ids), self.num_tokens, self.dim):
            raise ValueError(f"tokens of shape {t16.shape} for {len(ids)} slots of {self.num_tokens} x {self.dim}")
        with self._lock:
            for i, row in zip(ids.tolist(), t16):
                os.pwrite(self._fd, row.tobytes(), i * self.slot_bytes)

    def flush(self) -> None:
        os.fsync(self._fd)

    def read(self, ids: np.ndarray) -> np.ndarray:
        """(N,) slot ids -> (N, Q, E) float32. A slot never written reads as zeros."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(ids), self.num_tokens, self.dim), np.float16)
        for j, i in enumerate(ids.tolist()):
            b = os.pread(self._fd, self.slot_bytes, i * self.slot_bytes)
            if len(b) == self.slot_bytes:
                out[j] = np.frombuffer(b, np.float16).reshape(self.num_tokens, self.dim)
        return out.astype(np.float32)

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Slots [start, stop) in one read -> (stop - start, Q, E) float32 (for rebuilds)."""
        n = max(stop - start, 0)
        b = os.pread(self._fd, n * self.slot_bytes, start * self.slot_bytes)
        full = np.zeros(n * self.num_tokens * self.dim, np.float16)
        got = np.frombuffer(b, np.float16)
        full[: got.size] = got
        return full.reshape(n, self.num_tokens, self.dim).astype(np.float32)

    @property
    def capacity(self) -> int:
        return os.fstat(self._fd).st_size // self.slot_bytes

    def truncate(self) -> None:
        with self._lock:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
