"""The boundary between a library and the store of its photos' target tokens.

A library keeps two things per photo (catalog content): its Q x E target tokens, durably,
and whether the photo is *live* (searchable: it has a file in an indexed folder). A photo
that leaves the results keeps its tokens, so adding its folder back needs no encoding.
Two implementations of :class:`VectorStore`:

``PhotoIndex`` (``engine.faiss_store``, the default)
    tokens in a local fp16 file (``engine.token_file``); the live photos in a FAISS index
    (``engine.faiss_index``), a cache of that file, exact by default (``engine.exact_topk``
    widens its token window until the per-photo top-k is provably exact); its kind is
    chosen by ``engine.index_kind``.
``QdrantVectors`` (``engine.qdrant_store``, optional: ``pip install 'cirsearch[vectordb]'``)
    both in one Qdrant collection: one point per photo (point id = content id) holding
    its Q tokens as a multivector compared by MAX_SIM, and a ``live`` payload flag. Runs
    embedded in the library folder or against a Qdrant server (:class:`QdrantConfig`).

The library picks one from ``LibraryConfig.vector_db`` through :func:`open_vector_store`;
``None`` (the default) is ``PhotoIndex``. Nothing here imports a database client.

Contract, in the order the engine calls it:

1. ``store.truncate()`` when the library's model (target side) changed; then
   ``open(catalog)``: load, then make the live set equal ``catalog.live_ids()``.
2. Indexing a batch: ``store.write(ids, tokens)`` and ``store.flush()`` inside the
   catalog's transaction (a committed photo always has its tokens), then
   ``add(ids, tokens)`` makes them live; ``add_from_store(ids)`` makes photos live whose
   tokens are already stored (renamed, moved or re-added files).
3. ``sync(catalog)`` after indexing and after a folder is removed; ``save()`` now and then.
4. ``search(queries, k, keep, exclude)``: ``queries`` (M, E); a photo's score is the mean
   over the M query vectors of the max over its Q tokens of the inner product (M = 1:
   composed and text search; M = Q: "similar"). Returns the k best live photos (ids,
   scores), best first, ties by id; ``exclude`` ids and ids that ``keep`` rejects are
   left out.
5. Integrity (``engine.integrity``): ``store.damaged`` are the photos whose stored tokens
   were found damaged (on open, or by a read, which then raises ``DamagedStoreError``);
   ``store.verify(ids)`` checks every one of ``ids`` (None: this store cannot tell, e.g. a
   database that checks its own data); ``store.release(ids)`` forgets photos that left
   the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

import numpy as np

from .errors import LibraryError

if TYPE_CHECKING:
    from .catalog import Catalog
    from .index_kind import VectorConfig

# The one definition of a search filter; engine.exact_topk and both stores import it from here.
Keep = Callable[[np.ndarray], np.ndarray]  # (C,) photo ids -> (C,) bool: searchable


@runtime_checkable
class TokenStoreLike(Protocol):
    """Durable tokens by photo id. Tokens are kept at fp16 precision."""

    def write(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        """(N,) ids, (N, Q, E) tokens; an id already stored is overwritten."""

    def flush(self) -> None:
        """Make every write so far durable."""

    def read(self, ids: np.ndarray) -> np.ndarray:
        """(N,) ids -> (N, Q, E) float32; an id never written reads as zeros."""

    def truncate(self) -> None:
        """Forget every photo's tokens (a new model)."""

    @property
    def where(self) -> str:
        """Where the tokens are, for messages (a file, a collection)."""

    @property
    def damaged(self) -> frozenset[int]:
        """Ids whose stored tokens were found damaged and not written since."""

    def verify(self, ids: np.ndarray) -> np.ndarray | None:
        """Check the stored tokens of ``ids``; the damaged ones, or None: not applicable."""

    def release(self, ids: np.ndarray) -> None:
        """These ids left the catalog: forget what was found about them."""


@runtime_checkable
class VectorStore(Protocol):
    num_tokens: int  # Q
    dim: int  # E
    target_side: str  # the bundle target-side hash the tokens were made by
    rebuilt_because: str | None  # why the search structure was rebuilt at open, if it was

    @property
    def store(self) -> TokenStoreLike: ...

    @property
    def kind(self) -> str:
        """What answers searches, for ``status()``: an index kind, or the database's name."""

    @property
    def ids(self) -> np.ndarray:
        """The live photo ids, ascending."""

    @property
    def count(self) -> int:
        """How many photos are live."""

    def open(self, catalog: "Catalog") -> None: ...

    def sync(self, catalog: "Catalog") -> tuple[int, int]:
        """Make the live set equal the catalog's live photos. Returns (added, removed)."""

    def add(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        """Make photos live; ``tokens`` (N, Q, E) are what ``store.write`` was given."""

    def add_from_store(self, ids: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> int:
        """Take photos out of the results (their tokens stay); returns how many were live."""

    def tokens(self, ids: np.ndarray) -> np.ndarray:
        """(N,) ids -> (N, Q, E) float32 tokens, live or not."""

    def search(self, queries: np.ndarray, k: int, keep: Keep | None = None,
               exclude: frozenset[int] = frozenset()) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, if_older_than: float = 0.0) -> bool:
        """Persist what is not yet persisted; returns whether anything was written."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class QdrantConfig:
    """Where a library's tokens live in Qdrant. ``url`` None: embedded (Qdrant's local
    mode, in-process, brute force: for tests and small libraries); else a server."""

    url: str | None = None  # e.g. "http://vectors.example:6333"
    path: str | None = None  # embedded: the storage folder (default <library>/qdrant); ":memory:" keeps nothing
    collection: str = "cirsearch"  # one collection per library
    api_key: str | None = field(default=None, repr=False)  # server; pass it in from the environment
    exact: bool = False  # server: score every photo instead of walking the HNSW graph
    hnsw_ef: int = 0  # server: HNSW search breadth; 0 = the server's default
    on_disk: bool = False  # server: keep the vectors on disk (memory-mapped), not in RAM
    timeout_s: int = 60


def open_vector_store(folder: Path, num_tokens: int, dim: int, target_side: str, vectors: "VectorConfig",
                      db: QdrantConfig | None = None, owner: str = "") -> VectorStore:
    """The library's vector store: ``PhotoIndex`` (``db`` None) or a Qdrant collection.

    ``owner``: an id of the library, written into the collection so that a second library
    pointed at the same collection is refused instead of overwriting it.
    """
    if db is None:
        from .faiss_store import PhotoIndex

        return PhotoIndex(folder, num_tokens, dim, target_side, vectors)
    try:
        from .qdrant_store import QdrantVectors
    except ImportError as e:
        raise LibraryError(
            f"this library is configured to keep its vectors in Qdrant, but qdrant-client is not installed "
            f"({e}); install it with: pip install 'cirsearch[vectordb]'"
        ) from None
    return QdrantVectors(folder, num_tokens, dim, target_side, db, owner)
