"""The searchable photo vectors of one library: token store + FAISS index, kept in step.

The default :class:`engine.vectorstore.VectorStore`.

The catalog is the truth about which photos exist; the token store holds their tokens;
the FAISS index is a cache built from the store. On open the saved index is loaded if
it is sound and built by the same target side, then *synced*: photos the catalog has and
the index lacks are added from the store, photos the index holds and the catalog no
longer has are removed. A missing, corrupt or stale index file is rebuilt from the store
(no re-encoding) and the reason is kept in ``rebuilt_because``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .catalog import Catalog
from .errors import IndexFileError
from .indexkind import MIN_IVFPQ_TOKENS, choose_params
from .search import Keep, top_photos
from .store import TokenStore
from .vectors import IndexParams, TokenIndex, load_index, save_index

INDEX_FILE = "index.faiss"
STORE_FILE = "tokens.f16"


@dataclass(frozen=True)
class VectorConfig:
    kind: str = "auto"  # "auto" (exact unless too big, then measured), or one of vectors.KINDS
    exact_budget_bytes: int = 4 << 30  # auto: exact while its index fits in this much RAM
    recall_target: float = 0.95  # auto: recall@50 a compressed index must reach after re-ranking


class PhotoIndex:
    def __init__(self, folder: Path, num_tokens: int, dim: int, target_side: str, cfg: VectorConfig = VectorConfig()):
        self.folder = Path(folder)
        self.num_tokens, self.dim, self.target_side, self.cfg = num_tokens, dim, target_side, cfg
        self.store = TokenStore(self.folder / STORE_FILE, num_tokens, dim)
        self.index: TokenIndex | None = None
        self.rebuilt_because: str | None = None
        self._lock = threading.RLock()
        self._last_save = time.monotonic()
        self._dirty = False

    @property
    def path(self) -> Path:
        return self.folder / INDEX_FILE

    # -- open, sync, rebuild -------------------------------------------------------------

    def open(self, catalog: Catalog) -> None:
        """Load the saved index (or rebuild it) and sync it with the catalog."""
        with self._lock:
            try:
                self.index = load_index(self.path, self.target_side, self.dim, self.num_tokens)
            except IndexFileError as e:
                self.rebuild(catalog, reason=str(e) if self.path.exists() else None)
                return
            self.sync(catalog)
            reason = self._kind_outdated()
            if reason:
                self.rebuild(catalog, reason=reason)

    def _kind_outdated(self) -> str | None:
        """Why the index's kind no longer fits the configuration or the library's size."""
        kind, cfg = self.index.params.kind, self.cfg
        if cfg.kind != "auto":
            too_small = cfg.kind == "ivfpq" and kind == "fp16" and self.index.num_vectors < MIN_IVFPQ_TOKENS
            return None if kind == cfg.kind or too_small else f"index kind changed to {cfg.kind}"
        exact_bytes = self.index.num_photos * self.num_tokens * self.dim * 2
        if self.index.params.exact and exact_bytes > cfg.exact_budget_bytes and not self.index.params.measured:
            return "the library outgrew the memory budget of an exact index"
        if not self.index.params.exact and exact_bytes <= cfg.exact_budget_bytes:
            return "the library is small enough for an exact index again"
        return None

    def sync(self, catalog: Catalog) -> tuple[int, int]:
        """Make the index hold exactly the catalog's live photos. Returns (added, removed)."""
        live = catalog.live_ids()
        with self._lock:
            have = self.index.ids
            missing = np.setdiff1d(live, have)
            extra = np.setdiff1d(have, live)
            self.index.remove(extra)
            for i in range(0, len(missing), 4096):
                ids = missing[i : i + 4096]
                self.index.add(ids, self.store.read(ids))
            if len(missing) or len(extra):
                self._dirty = True
            return len(missing), len(extra)

    def rebuild(self, catalog: Catalog, reason: str | None = None) -> None:
        """A new index from the store (choosing its kind when configured "auto") and save it."""
        live = catalog.live_ids()
        with self._lock:
            params = choose_params(self.cfg, self.store, live, self.num_tokens, self.dim)
            if params.kind == "ivfpq" and len(live) * self.num_tokens < MIN_IVFPQ_TOKENS:
                params = IndexParams("fp16")  # too few tokens to train on: exact instead
                reason = (reason + "; " if reason else "") + "too few photos for ivfpq, exact index used"
            index = TokenIndex(self.dim, self.num_tokens, params)
            if not index.is_trained:
                index.train(_training_sample(self.store, live, self.dim))
            for i in range(0, len(live), 4096):
                ids = live[i : i + 4096]
                index.add(ids, self.store.read(ids))
            self.index = index
            self.rebuilt_because = reason
            self._dirty = True
            self.save()

    # -- changes -------------------------------------------------------------------------

    def add(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        """Newly committed photos; ``tokens`` (N, Q, E) as written to the store."""
        with self._lock:
            self.index.add(ids, np.asarray(tokens, np.float16).astype(np.float32))
            self._dirty = True

    def remove(self, ids: np.ndarray) -> int:
        """Take photos out of the index (their tokens stay in the store); returns how many were in it."""
        with self._lock:
            n = self.index.remove(np.asarray(ids, np.int64))
            self._dirty = self._dirty or n > 0
            return n

    def add_from_store(self, ids: np.ndarray) -> None:
        with self._lock:
            ids = np.asarray([i for i in np.asarray(ids, np.int64).tolist() if i not in self.index], np.int64)
            if len(ids):
                self.index.add(ids, self.store.read(ids))
                self._dirty = True

    def save(self, if_older_than: float = 0.0) -> bool:
        """Save if changed (and, with ``if_older_than``, if the last save is that old)."""
        with self._lock:
            if not self._dirty or time.monotonic() - self._last_save < if_older_than:
                return False
            save_index(self.index, self.path, self.target_side)
            self._dirty = False
            self._last_save = time.monotonic()
            return True

    def reset(self) -> None:
        """Forget every vector (a new target side): empty store and index."""
        with self._lock:
            self.store.truncate()
            self.index = TokenIndex(self.dim, self.num_tokens, IndexParams("fp16"))
            self._dirty = True

    # -- reading -------------------------------------------------------------------------

    def tokens(self, ids: np.ndarray) -> np.ndarray:
        """(N,) photo ids -> (N, Q, E) float32 target tokens, from the store."""
        return self.store.read(np.asarray(ids, np.int64))

    def search(self, queries: np.ndarray, k: int, keep: Keep | None = None, exclude=frozenset()):
        return top_photos(self.index, self.store.read, queries, k, keep=keep, exclude=exclude)

    @property
    def kind(self) -> str:
        return self.index.params.kind if self.index is not None else "none"

    @property
    def ids(self) -> np.ndarray:
        return self.index.ids

    @property
    def count(self) -> int:
        return self.index.num_photos

    def close(self) -> None:
        self.store.close()


def _training_sample(store: TokenStore, live: np.ndarray, dim: int, max_tokens: int = 262_144) -> np.ndarray:
    """Up to ``max_tokens`` tokens (N, E) from photos spread evenly over the library."""
    if len(live) == 0:
        raise IndexFileError("a compressed index needs photos to train on")
    per = store.num_tokens
    n = min(len(live), max(1, max_tokens // per))
    pick = live[np.linspace(0, len(live) - 1, n).astype(np.int64)]
    return store.read(pick).reshape(-1, dim)  # (n * Q, E)
