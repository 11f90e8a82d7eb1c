"""Reference photos of a query: resolving them, and caching their vision features.

A reference is a file path, raw image bytes (pasted or dragged from a browser), or a
library photo id. It is identified by the SHA-256 of its bytes; the vision features
(T, Dv) computed for it are kept in a small LRU keyed by that hash, so editing the text
of a query re-runs only the query graph. The cache is thread-safe.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import numpy as np

from .decode import DecodeConfig, content_hash, decode, read_file
from .errors import ImageDecodeError

ImageRef = Union[str, Path, bytes, int]  # a path, image bytes, or a library photo id


@dataclass(frozen=True)
class Reference:
    sha256: str
    path: str | None  # None for bytes
    data: bytes | None = None  # None: read from ``path`` when needed

    def decode(self, target: int | None, cfg: DecodeConfig = DecodeConfig()):
        data = self.data if self.data is not None else read_file(self.path, cfg)
        if self.data is None and content_hash(data) != self.sha256:
            raise ImageDecodeError(self.path, "the file changed while it was being used as the reference")
        return decode(data, self.path or "<pasted image>", target, cfg).image


class ReferenceResolver:
    """Path -> Reference, re-hashing a file only when its size or mtime changed (so each
    keystroke of a query does not re-read the reference photo). Thread-safe."""

    def __init__(self, cfg: DecodeConfig = DecodeConfig(), capacity: int = 256):
        self.cfg, self.capacity = cfg, capacity
        self._memo: OrderedDict[str, tuple[tuple[int, int], str]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, image: str | Path | bytes) -> Reference:
        if isinstance(image, (bytes, bytearray, memoryview)):
            return load_reference(image, self.cfg)
        path = str(Path(image).expanduser().absolute())
        try:
            st = os.stat(path)
        except OSError:
            return load_reference(path, self.cfg)  # raises with the right reason
        key = (st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._memo.get(path)
            if hit is not None and hit[0] == key:
                self._memo.move_to_end(path)
                return Reference(hit[1], path)
        ref = load_reference(path, self.cfg)
        with self._lock:
            self._memo[path] = (key, ref.sha256)
            while len(self._memo) > self.capacity:
                self._memo.popitem(last=False)
        return ref


def load_reference(image: str | Path | bytes, cfg: DecodeConfig = DecodeConfig()) -> Reference:
    """Read a path (raising ImageDecodeError) or take bytes, and hash them."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        return Reference(content_hash(data), None, data)
    path = str(Path(image).expanduser().absolute())
    if not os.path.lexists(path):
        raise ImageDecodeError(path, "no such file")
    data = read_file(path, cfg)
    return Reference(content_hash(data), path, data)


class FeatureCache:
    """LRU of arrays keyed by content hash (and a kind: "vision", "target")."""

    def __init__(self, capacity: int = 16):
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, kind: str, sha256: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        key = (kind, sha256)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()  # outside the lock: encoding takes long; a rare double compute is harmless
        value.setflags(write=False)
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value

    def __contains__(self, key: tuple[str, str]) -> bool:
        with self._lock:
            return key in self._items

    def clear(self, kind: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._items if kind is None or k[0] == kind]:
                del self._items[key]
