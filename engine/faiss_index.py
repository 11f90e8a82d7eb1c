"""The FAISS index over target tokens (the one module that imports faiss).

Every photo (catalog content) contributes its Q target tokens, all under the photo's
id, so a token hit names the photo directly; a photo's relevance is the max over its
tokens (``engine.ranking`` aggregates). Kinds:

``fp16``   exact on the stored fp16 tokens (the scalar quantizer's fp16 decodes
           losslessly, and the token store keeps fp16 anyway); 2 * Q * E bytes per photo.
           The default.
``flat``   the same scores from fp32 copies (IndexFlatIP); twice the memory, no gain in
           precision since the tokens are stored in fp16; kept for comparison.
``sq8``    8-bit scalar quantizer: 1 byte per dimension; approximate, re-ranked exactly.
``ivfpq``  IVF with product quantization: a few dozen bytes per token; approximate,
           re-ranked exactly; needs training.

Deletions use ``remove_ids`` (no rebuild). The saved file carries a header with the kind,
the sizes, the bundle's target-side hash, the photo ids it holds and a SHA-256 of the
FAISS payload, and is written atomically; :func:`load_index` raises
:class:`IndexFileError` for anything unreadable, corrupt or built by another target side.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

from .atomic import atomic_write
from .errors import IndexFileError

KINDS = ("flat", "fp16", "sq8", "ivfpq")
EXACT_KINDS = frozenset({"flat", "fp16"})
MAGIC = b"CIRSIDX1"


@dataclass(frozen=True)
class IndexParams:
    kind: str = "fp16"
    nlist: int = 0  # ivfpq: inverted lists; 0 = from the data size
    pq_bytes: int = 0  # ivfpq: bytes per token code; 0 = E / 4
    nprobe: int = 32  # ivfpq: lists visited per query
    search_threads: int = 1  # OpenMP threads per search call (see TokenIndex.search)
    measured: bool = False  # chosen by "auto" after no compressed kind reached the recall target

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"index kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def exact(self) -> bool:
        return self.kind in EXACT_KINDS


def default_nlist(num_vectors: int) -> int:
    """About sqrt(n) lists, a power of two between 16 and 65536 (k-means training cost
    grows with the list count: 4096 lists train in minutes on two cores)."""
    want = max(num_vectors, 1) ** 0.5
    return int(min(65536, max(16, 2 ** round(np.log2(want)))))


class TokenIndex:
    """Target tokens of many photos, searched by inner product. Guarded by a lock."""

    def __init__(self, dim: int, num_tokens: int, params: IndexParams = IndexParams(), _index=None):
        self.dim = dim  # E
        self.num_tokens = num_tokens  # Q
        self.params = params
        self._index = _index if _index is not None else self._build(params)
        self._ids: set[int] = set()
        self._lock = threading.RLock()
        self._apply_search_params()

    def _build(self, p: IndexParams, num_vectors: int = 0):
        ip = faiss.METRIC_INNER_PRODUCT
        if p.kind == "flat":
            return faiss.IndexIDMap(faiss.IndexFlatIP(self.dim))
        if p.kind == "fp16":
            return faiss.IndexIDMap(faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_fp16, ip))
        if p.kind == "sq8":
            return faiss.IndexIDMap(faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, ip))
        nlist = p.nlist or default_nlist(num_vectors)
        m = p.pq_bytes or max(1, self.dim // 4)
        if self.dim % m:
            raise ValueError(f"pq_bytes {m} must divide the embedding size {self.dim}")
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(self.dim), self.dim, nlist, m, 8, ip)
        # FAISS prints a warning to stderr below 39 points per centroid; small libraries
        # never get this kind by choice (recall is measured first), so keep it quiet.
        index.cp.min_points_per_centroid = 1
        index.pq.cp.min_points_per_centroid = 1
        return index

    def _apply_search_params(self) -> None:
        if self.params.kind == "ivfpq":
            ivf = faiss.extract_index_ivf(self._index)
            ivf.nprobe = min(self.params.nprobe, ivf.nlist)

    @property
    def is_trained(self) -> bool:
        return bool(self._index.is_trained)

    def train(self, tokens: np.ndarray) -> None:
        """Train a quantizer on a sample of tokens (N, E) (sq8, ivfpq); rebuilt for its size."""
        x = np.ascontiguousarray(tokens.reshape(-1, self.dim), dtype=np.float32)  # (N, E)
        with self._lock:
            if self._ids:
                raise ValueError("train an index before adding photos to it")
            self._index = self._build(self.params, num_vectors=len(x))
            if self.params.kind == "ivfpq":
                nlist = faiss.extract_index_ivf(self._index).nlist
                if len(x) < nlist:
                    raise ValueError(f"{len(x)} training tokens for {nlist} lists")
            self._index.train(x)
            self._apply_search_params()

    def add(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        """``tokens`` (N, Q, E) for photo ``ids`` (N,); ids already present are replaced."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        t = np.ascontiguousarray(tokens, dtype=np.float32)  # (N, Q, E)
        if t.shape != (len(ids), self.num_tokens, self.dim):
            raise ValueError(f"tokens of shape {t.shape} for {len(ids)} photos of {self.num_tokens} x {self.dim}")
        with self._lock:
            if not self.is_trained:
                raise ValueError(f"a {self.params.kind} index must be trained before photos are added")
            present = [i for i in ids.tolist() if i in self._ids]
            if present:
                self._remove_locked(np.asarray(present, np.int64))
            tok_ids = np.repeat(ids, self.num_tokens)  # (N * Q,)
            self._index.add_with_ids(t.reshape(-1, self.dim), tok_ids)
            self._ids.update(ids.tolist())

    def remove(self, ids: np.ndarray) -> int:
        """Remove photos; returns how many were present."""
        with self._lock:
            present = [i for i in np.asarray(ids, np.int64).tolist() if i in self._ids]
            if present:
                self._remove_locked(np.asarray(present, np.int64))
            return len(present)

    def _remove_locked(self, ids: np.ndarray) -> None:
        self._index.remove_ids(np.ascontiguousarray(ids, np.int64))
        self._ids.difference_update(ids.tolist())

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(M, E) queries -> token scores (M, k) and photo ids (M, k), best first; -1 pads.

        Runs on ``params.search_threads`` OpenMP threads (1 by default): measured on two
        shared cores, one thread answered a 100k-photo fp16 search in 78 ms against
        99-109 ms for two, and a 10k one in 1 ms against 20 ms, since OpenMP's
        threads spin and wait whenever the cores are busy (as they are while indexing).
        The setting is per calling thread, so other threads keep their own.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)  # (M, E)
        with self._lock:
            k = max(1, min(k, self._index.ntotal))
            if self._index.ntotal == 0:
                return np.full((len(q), 1), -np.inf, np.float32), np.full((len(q), 1), -1, np.int64)
            before = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(self.params.search_threads or before)
            try:
                scores, ids = self._index.search(q, k)  # (M, k), (M, k)
            finally:
                faiss.omp_set_num_threads(before)
        return scores, ids

    @property
    def ids(self) -> np.ndarray:
        with self._lock:
            return np.asarray(sorted(self._ids), np.int64)

    def __contains__(self, photo_id: int) -> bool:
        return photo_id in self._ids

    @property
    def num_photos(self) -> int:
        return len(self._ids)

    @property
    def num_vectors(self) -> int:
        return int(self._index.ntotal)

    def memory_bytes(self) -> int:
        """What the codes and ids hold in RAM (excluding the IVF quantizer's centroids)."""
        with self._lock:
            top = faiss.downcast_index(self._index)
            base = faiss.downcast_index(top.index) if isinstance(top, faiss.IndexIDMap) else top
            return int(self._index.ntotal) * (int(base.code_size) + 8)

    def clear(self) -> None:
        with self._lock:
            if self._ids:
                self._remove_locked(np.asarray(sorted(self._ids), np.int64))


TRAILER = b"CIRSEND1"


def save_index(index: TokenIndex, path: str | Path, target_side: str) -> None:
    """Write the index atomically (temp file, fsync, rename, fsync the folder), streaming
    the FAISS payload to disk so saving never holds a second copy of the index in memory.

    Layout: MAGIC, header length, JSON header, photo ids (int64), FAISS payload, SHA-256
    of the payload, TRAILER.
    """
    path = Path(path)
    with index._lock:
        ids = index.ids
        header = {
            "kind": index.params.kind,
            "params": {k: v for k, v in dataclasses.asdict(index.params).items() if k != "kind"},
            "dim": index.dim,
            "num_tokens": index.num_tokens,
            "target_side": target_side,
            "num_photos": int(len(ids)),
            "ids_sha256": hashlib.sha256(ids.tobytes()).hexdigest(),
        }
        hb = json.dumps(header).encode()

        def write(f: BinaryIO) -> None:
            f.write(MAGIC + struct.pack("<Q", len(hb)) + hb)
            f.write(ids.tobytes())
            digest = hashlib.sha256()

            def chunk(b: bytes) -> int:
                f.write(b)
                digest.update(b)
                return len(b)

            writer = faiss.PyCallbackIOWriter(chunk, 1 << 22)
            faiss.write_index(index._index, writer)
            del writer
            f.write(digest.digest() + TRAILER)

        # durable: the library's search index; after a power cut it must still be whole
        atomic_write(path, write, durable=True)


def load_index(path: str | Path, target_side: str, dim: int, num_tokens: int) -> TokenIndex:
    """Read a saved index, checking everything; :class:`IndexFileError` says what is wrong."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise IndexFileError(f"{path.name} does not exist") from None
    except OSError as e:
        raise IndexFileError(f"{path.name} cannot be read: {e}") from None
    with f:
        try:
            return _read_index(f, path.name, target_side, dim, num_tokens)
        except OSError as e:
            raise IndexFileError(f"{path.name} cannot be read: {e}") from None


def _read_index(f, name: str, target_side: str, dim: int, num_tokens: int) -> TokenIndex:
    head = f.read(len(MAGIC) + 8)
    if len(head) < len(MAGIC) + 8 or not head.startswith(MAGIC):
        raise IndexFileError(f"{name} is not a cirsearch index file")
    (hlen,) = struct.unpack("<Q", head[len(MAGIC) :])
    try:
        header = json.loads(f.read(min(hlen, 1 << 20)))
        n = int(header["num_photos"])
        params = IndexParams(header["kind"], **header["params"])
    except (ValueError, KeyError, TypeError) as e:
        raise IndexFileError(f"{name} has a damaged header: {e}") from None
    if header.get("target_side") != target_side:
        raise IndexFileError(f"{name} was built by another model (target side differs)")
    if (header.get("dim"), header.get("num_tokens")) != (dim, num_tokens):
        raise IndexFileError(f"{name} holds {header.get('num_tokens')} x {header.get('dim')} tokens")
    ids_b = f.read(8 * n)
    if hashlib.sha256(ids_b).hexdigest() != header.get("ids_sha256"):
        raise IndexFileError(f"{name} is corrupt (checksum mismatch in the photo ids)")
    digest = hashlib.sha256()

    def read(size: int) -> bytes:
        b = f.read(size)
        digest.update(b)
        return b

    try:
        reader = faiss.PyCallbackIOReader(read, 1 << 22)
        raw = faiss.read_index(reader)
        del reader
    except RuntimeError:
        raise IndexFileError(f"{name} is corrupt (FAISS cannot read it)") from None
    if f.read(32 + len(TRAILER)) != digest.digest() + TRAILER:
        raise IndexFileError(f"{name} is corrupt (checksum mismatch)")
    index = TokenIndex(dim, num_tokens, params, _index=raw)
    index._ids = set(np.frombuffer(ids_b, np.int64).tolist())
    if raw.ntotal != len(index._ids) * num_tokens:
        raise IndexFileError(f"{name} holds {raw.ntotal} tokens for {len(index._ids)} photos")
    return index
