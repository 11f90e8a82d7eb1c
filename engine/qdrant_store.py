"""A library's vectors in Qdrant (the one module that imports qdrant_client; optional).

One collection per library. Each encoded photo is one point: id = catalog content id,
vector ``tokens`` = its Q target tokens as a multivector (Q x E, inner product, MAX_SIM
comparator, fp16 on a server), payload ``live`` = whether it is searchable. The
collection is both the token store and the index: there is no ``tokens.f16`` and no
``index.faiss`` in the library folder, only the catalog.

Qdrant's MAX_SIM scores a query of M vectors as ``sum_i max_k <q_i, t_k>``; the engine's
score is the mean, so scores are divided by M. Embedded (``QdrantConfig.url`` None) the
client scores every live photo (brute force, exact); on a server the search walks an
HNSW graph over the multivectors unless ``QdrantConfig.exact`` (approximate candidates,
exact scores for those it returns).

Writes return once the database has applied them (``wait=True``), so ``store.flush`` has
nothing left to do and ``save`` never writes. The collection's metadata names the
library that owns it, the target side and the sizes; a collection of another library, or
of the same library's previous model, is refused or cleared, never mixed in.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ApiException

from .errors import VectorStoreError
from .ranking import rank
from .vector_store import Keep, QdrantConfig

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the client's own check still refuses
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .catalog import Catalog

VECTOR = "tokens"
FORMAT = 1
BATCH = 256  # points per upsert / retrieve request
PAGE = 10_000  # ids per scroll page
LIVE = qm.Filter(must=[qm.FieldCondition(key="live", match=qm.MatchValue(value=True))])
MIN_SERVER = (1, 16)  # collection metadata; multivectors with MAX_SIM since 1.10
T = TypeVar("T")


class QdrantVectors:
    """The :class:`engine.vector_store.VectorStore` kept in a Qdrant collection."""

    def __init__(self, folder: Path, num_tokens: int, dim: int, target_side: str, cfg: QdrantConfig,
                 owner: str = ""):
        self.num_tokens, self.dim, self.target_side, self.cfg, self.owner = num_tokens, dim, target_side, cfg, owner
        self.name = cfg.collection
        self.rebuilt_because: str | None = None
        self._lock = threading.RLock()
        self._closed = False
        self.client = self._call(f"cannot open the vector database {_where(cfg, folder)}", _connect, cfg, folder)
        self.store = _CollectionTokens(self)

    # -- calls into the client -----------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run a client call under the lock; its failures become :class:`VectorStoreError`."""
        with self._lock:
            try:
                return fn(*args, **kwargs)
            except (ApiException, OSError, RuntimeError, ValueError) as e:
                raise VectorStoreError(f"{what}: {e}") from e

    def _metadata(self) -> dict:
        return {"cirsearch": FORMAT, "owner": self.owner, "target_side": self.target_side,
                "num_tokens": self.num_tokens, "dim": self.dim}

    def _create(self) -> None:
        on_server = self.cfg.url is not None
        params = qm.VectorParams(
            size=self.dim, distance=qm.Distance.DOT, on_disk=self.cfg.on_disk or None,
            datatype=qm.Datatype.FLOAT16,  # the tokens are fp16 already: exact, half the memory
            multivector_config=qm.MultiVectorConfig(comparator=qm.MultiVectorComparator.MAX_SIM),
        )
        self.client.create_collection(self.name, vectors_config={VECTOR: params}, metadata=self._metadata())
        if on_server:  # embedded mode has no payload indexes (it warns and ignores them)
            self.client.create_payload_index(self.name, "live", qm.PayloadSchemaType.BOOL)

    def _check_owner(self) -> None:
        """Refuse a collection that another library (or something else) wrote."""
        meta = self.client.get_collection(self.name).config.metadata or {}
        if meta.get("cirsearch") != FORMAT or meta.get("owner") != self.owner:
            raise VectorStoreError(
                f"the Qdrant collection {self.name!r} holds another library's photos (or something else); "
                "give this library its own collection name"
            )

    # -- open and sync -------------------------------------------------------------------

    def open(self, catalog: "Catalog") -> None:
        """Create the collection if there is none, check it is this library's, then sync."""
        def ensure() -> None:
            if not self.client.collection_exists(self.name):
                self._create()
                return
            self._check_owner()
            meta = self.client.get_collection(self.name).config.metadata
            if (meta.get("target_side"), meta.get("num_tokens"), meta.get("dim")) != (
                    self.target_side, self.num_tokens, self.dim):
                raise VectorStoreError(
                    f"the Qdrant collection {self.name!r} was filled by another model than this library's; "
                    "re-index the library with its model (every photo is encoded again)"
                )

        self._call(f"cannot open the Qdrant collection {self.name!r}", ensure)
        self.sync(catalog)

    def sync(self, catalog: "Catalog") -> tuple[int, int]:
        """Make the live points exactly the catalog's live photos. Photos the catalog has
        but the collection lacks (a new or emptied database) cannot be searched: they go
        back to pending in the catalog, so the next index run encodes them again."""
        live = catalog.live_ids()
        with self._lock:
            have = self.ids
            missing = np.setdiff1d(live, have)
            extra = np.setdiff1d(have, live)
            self._set_live(extra, False)
            stored = self._stored(missing)
            self._set_live(stored, True)
            lost = np.setdiff1d(missing, stored)
        if len(lost):
            catalog.forget_contents(lost.tolist())
            self.rebuilt_because = (f"the vector database had no tokens for {len(lost)} indexed photos: "
                                    "they are encoded again at the next index run")
        return len(stored), len(extra)

    def _stored(self, ids: np.ndarray) -> np.ndarray:
        """Those of ``ids`` that have a point (tokens), ascending."""
        found: list[int] = []
        for i in range(0, len(ids), BATCH):
            chunk = [int(x) for x in ids[i : i + BATCH]]
            pts = self._call("cannot read from the vector database", self.client.retrieve, self.name, ids=chunk,
                             with_payload=False, with_vectors=False)
            found += [int(p.id) for p in pts]
        return np.asarray(sorted(found), np.int64)

    def _set_live(self, ids: np.ndarray, live: bool) -> None:
        for i in range(0, len(ids), PAGE):
            chunk = [int(x) for x in ids[i : i + PAGE]]
            self._call("cannot write to the vector database", self.client.set_payload, self.name,
                       payload={"live": live}, points=chunk, wait=True)

    # -- changes -------------------------------------------------------------------------

    def _upsert(self, ids: np.ndarray, tokens: np.ndarray, live: bool) -> None:
        ids = np.asarray(ids, np.int64)
        t16 = np.asarray(tokens, np.float16)  # (N, Q, E): what the database keeps
        if t16.shape != (len(ids), self.num_tokens, self.dim):
            raise ValueError(f"tokens of shape {t16.shape} for {len(ids)} photos of {self.num_tokens} x {self.dim}")
        t = t16.astype(np.float32)
        for i in range(0, len(ids), BATCH):
            points = [qm.PointStruct(id=int(p), vector={VECTOR: t[j].tolist()}, payload={"live": live})
                      for j, p in enumerate(ids[i : i + BATCH].tolist(), start=i)]
            self._call("cannot write to the vector database", self.client.upsert, self.name, points=points,
                       wait=True)

    def add(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        """Newly committed photos, live. The tokens are sent again (``store.write`` sent them
        not live, before the catalog committed): one upsert, right whatever came before."""
        self._upsert(ids, tokens, live=True)

    def add_from_store(self, ids: np.ndarray) -> None:
        """Known photos become live again; one without a point is left to the next sync."""
        self._set_live(self._stored(np.unique(np.asarray(ids, np.int64))), True)

    def remove(self, ids: np.ndarray) -> int:
        with self._lock:
            present = np.intersect1d(np.asarray(ids, np.int64), self.ids)
            self._set_live(present, False)
            return len(present)

    def save(self, if_older_than: float = 0.0) -> bool:
        return False  # every write is applied before it returns

    def close(self) -> None:
        """Release the client (an embedded database's folder lock with it). Idempotent."""
        if not self._closed:
            self._closed = True
            self._call("cannot close the vector database", self.client.close)

    # -- reading -------------------------------------------------------------------------

    def tokens(self, ids: np.ndarray) -> np.ndarray:
        """(N,) photo ids -> (N, Q, E) float32; an id without a point reads as zeros."""
        ids = np.asarray(ids, np.int64)
        out = np.zeros((len(ids), self.num_tokens, self.dim), np.float32)
        for i in range(0, len(ids), BATCH):
            pts = self._call("cannot read from the vector database", self.client.retrieve, self.name,
                             ids=[int(x) for x in np.unique(ids[i : i + BATCH])], with_payload=False,
                             with_vectors=[VECTOR])
            for p in pts:
                out[ids == int(p.id)] = np.asarray(p.vector[VECTOR], np.float32)  # (Q, E)
        return out

    def search(self, queries: np.ndarray, k: int, keep: Keep | None = None,
               exclude: frozenset[int] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
        """(M, E) query vectors -> (ids, scores) of the k best live photos, best first.

        ``exclude`` goes to the database as a filter; ``keep`` runs here on what comes
        back, and the request grows fourfold until k are kept or nothing more is left.
        """
        q = np.atleast_2d(np.asarray(queries, np.float32))  # (M, E)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        flt = LIVE
        if exclude:
            flt = qm.Filter(must=LIVE.must, must_not=[qm.HasIdCondition(has_id=sorted(int(i) for i in exclude))])
        params = None
        if self.cfg.url is not None:
            params = qm.SearchParams(exact=self.cfg.exact, hnsw_ef=self.cfg.hnsw_ef or None)
        limit = k
        while True:
            res = self._call("the vector database search failed", self.client.query_points, self.name,
                             query=q.tolist(), using=VECTOR, limit=limit, query_filter=flt, search_params=params,
                             with_payload=False, with_vectors=False)
            ids = np.asarray([int(p.id) for p in res.points], np.int64)
            scores = np.asarray([p.score for p in res.points], np.float64) / len(q)  # MAX_SIM sums over M
            if keep is not None and len(ids):
                kept = np.asarray(keep(ids), bool)
                ids, scores = ids[kept], scores[kept]
            if len(ids) >= k or len(res.points) < limit:
                return rank(ids, scores, k)
            limit *= 4

    @property
    def ids(self) -> np.ndarray:
        """The live photo ids, ascending (one scroll over the collection)."""
        out: list[int] = []
        offset = None
        while True:
            pts, offset = self._call("cannot read from the vector database", self.client.scroll, self.name,
                                     scroll_filter=LIVE, limit=PAGE, offset=offset, with_payload=False,
                                     with_vectors=False)
            out += [int(p.id) for p in pts]
            if offset is None:
                return np.asarray(sorted(out), np.int64)

    @property
    def count(self) -> int:
        return int(self._call("cannot read from the vector database", self.client.count, self.name,
                              count_filter=LIVE, exact=True).count)

    @property
    def kind(self) -> str:
        return "qdrant" if self.cfg.url is None else "qdrant-server"


class _CollectionTokens:
    """The token-store face of the collection (what the catalog writes through)."""

    def __init__(self, owner: QdrantVectors):
        self._v = owner

    def write(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        """Stored, not live: the catalog commits these photos after this returns."""
        self._v._upsert(ids, tokens, live=False)

    def flush(self) -> None:
        pass  # writes were applied before they returned

    def read(self, ids: np.ndarray) -> np.ndarray:
        return self._v.tokens(ids)

    def truncate(self) -> None:
        """Drop and re-create the collection (a new model). Another library's is refused."""
        v = self._v

        def recreate() -> None:
            if v.client.collection_exists(v.name):
                v._check_owner()
                v.client.delete_collection(v.name)
            v._create()

        v._call(f"cannot clear the Qdrant collection {v.name!r}", recreate)

    # The database checks its own data: nothing to verify or repair from here.
    damaged: frozenset[int] = frozenset()

    @property
    def where(self) -> str:
        return f"the Qdrant collection {self._v.name!r}"

    def verify(self, ids: np.ndarray) -> None:
        return None

    def release(self, ids: np.ndarray) -> None:
        pass


def _where(cfg: QdrantConfig, folder: Path) -> str:
    return cfg.url or cfg.path or str(Path(folder) / "qdrant")


def _connect(cfg: QdrantConfig, folder: Path) -> QdrantClient:
    if cfg.url is not None:
        return _connect_server(cfg)
    if cfg.path == ":memory:":
        return QdrantClient(location=":memory:")
    path = Path(cfg.path or Path(folder) / "qdrant")
    _check_not_held(path)
    return QdrantClient(path=str(path))


def _connect_server(cfg: QdrantConfig) -> QdrantClient:
    """A client of a server that answers and is new enough. (The client's own version check
    only warns, from a thread: the engine asks itself and raises.)"""
    client = QdrantClient(url=cfg.url, api_key=cfg.api_key, timeout=cfg.timeout_s, check_compatibility=False)
    try:
        version = client.info().version
        m = re.match(r"(\d+)\.(\d+)", version)
        if m is None or (int(m[1]), int(m[2])) < MIN_SERVER:
            raise VectorStoreError(f"the Qdrant server at {cfg.url} is version {version}; cirsearch needs "
                                   f"{MIN_SERVER[0]}.{MIN_SERVER[1]} or newer (collection metadata)")
    except BaseException:
        client.close()
        raise
    return client


def _check_not_held(path: Path) -> None:
    """An embedded database is one process's at a time (its client locks ``.lock`` with
    flock). Ask first: the client's own refusal leaves its lock file open."""
    lock = path / ".lock"
    if fcntl is None or not lock.is_file():
        return
    with open(lock, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VectorStoreError(
                f"the vector database in {path} is open in another process (another cirsearch window or "
                "command); close that first, or use a Qdrant server for shared access"
            ) from None
        fcntl.flock(f, fcntl.LOCK_UN)
