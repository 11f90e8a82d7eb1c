"""The default vector store: one library's token file + FAISS index, kept in step.

:class:`PhotoIndex` is the default :class:`engine.vector_store.VectorStore`. Its parts:
the token file (``engine.token_file``), the FAISS index (``engine.faiss_index``), the
exact top-k over them (``engine.exact_topk``) and the index-kind policy
(``engine.index_kind``: which kind to build, and when a saved one no longer fits).

The catalog is the truth about which photos exist; the token store holds their tokens;
the FAISS index is a cache built from the store. On open the saved index is loaded if
it is sound and built by the same target side, then *synced*: photos the catalog has and
the index lacks are added from the store, photos the index holds and the catalog no
longer has are removed. A missing, corrupt or stale index file is rebuilt from the store
(no re-encoding) and the reason is kept in ``rebuilt_because``.

Before that, opening checks the token store cheaply (``TokenStore.check_on_open``: slots
the file no longer reaches, slots without a checksum, and ``OPEN_SAMPLE`` others). Damaged
slots found then, or by any later read, never enter the index; searches refuse while any
are known (``engine.integrity`` checks all and repairs).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from .catalog import Catalog
from .errors import IndexFileError
from .exact_topk import top_photos
from .faiss_index import IndexParams, TokenIndex, load_index, save_index
from .index_kind import VectorConfig, choose_params, kind_outdated, trainable_params
from .token_file import TokenStore
from .vector_store import Keep

log = logging.getLogger(__name__)
INDEX_FILE = "index.faiss"
STORE_FILE = "tokens.f16"
OPEN_SAMPLE = 256  # slots in a row, from a random place, checked against their checksums on open


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
        self._save_failed = False  # a save failed (said once)

    @property
    def path(self) -> Path:
        return self.folder / INDEX_FILE

    # -- open, sync, rebuild -------------------------------------------------------------

    def open(self, catalog: Catalog) -> None:
        """Check the token store cheaply, load the saved index (or rebuild it) and sync it with the catalog."""
        with self._lock:
            self.store.check_on_open(catalog.live_ids(), np.random.default_rng(), OPEN_SAMPLE)
            try:
                self.index = load_index(self.path, self.target_side, self.dim, self.num_tokens)
            except IndexFileError as e:
                self.rebuild(catalog, reason=str(e) if self.path.exists() else None)
                return
            self.sync(catalog)
            reason = kind_outdated(self.cfg, self.index, self.num_tokens, self.dim)
            if reason:
                self.rebuild(catalog, reason=reason)

    def sync(self, catalog: Catalog) -> tuple[int, int]:
        """Make the index hold exactly the catalog's live photos (but those whose stored
        tokens are damaged). Returns (added, removed)."""
        live = catalog.live_ids()
        with self._lock:
            have = self.index.ids
            missing = np.setdiff1d(live, have)
            extra = np.setdiff1d(have, live)
            self.index.remove(extra)
            for i in range(0, len(missing), 4096):
                self._add_sound(self.index, missing[i : i + 4096])
            if len(missing) or len(extra):
                self._dirty = True
            return len(missing), len(extra)

    def rebuild(self, catalog: Catalog, reason: str | None = None) -> None:
        """A new index from the store (choosing its kind when configured "auto") and save it.
        Photos whose stored tokens are damaged are left out (and remembered as damaged)."""
        live = catalog.live_ids()
        with self._lock:
            params = choose_params(self.cfg, _Lenient(self.store), live, self.num_tokens, self.dim)
            params, fallback = trainable_params(params, len(live), self.num_tokens)
            if fallback:
                reason = (reason + "; " if reason else "") + fallback
            index = TokenIndex(self.dim, self.num_tokens, params)
            if not index.is_trained:
                index.train(_training_sample(self.store, live, self.dim))
            for i in range(0, len(live), 4096):
                self._add_sound(index, live[i : i + 4096])
            self.index = index
            self.rebuilt_because = reason
            self._dirty = True
            self.save()

    def _add_sound(self, index: TokenIndex, ids: np.ndarray) -> None:
        tokens, ok = self.store.read_checked(ids)  # (N, Q, E), (N,)
        if ok.any():
            index.add(ids[ok], tokens[ok])

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
            try:
                save_index(self.index, self.path, self.target_side)
            except OSError as e:  # a cache of the token store: no command fails for it, the next open rebuilds it
                why = f"{self.path} is a folder: move or rename it" if self.path.is_dir() else e.strerror or str(e)
                if not self._save_failed:  # said once; later tries stay quiet
                    log.warning("%s was not saved (%s); it is rebuilt from %s when the library is next opened",
                                self.path.name, why, STORE_FILE)
                self._save_failed = True
                return False
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
    tokens, ok = store.read_checked(pick)  # (n, Q, E), (n,)
    return tokens[ok].reshape(-1, dim)  # (n' * Q, E)


class _Lenient:
    """The store as the index-kind policy samples it: a damaged slot reads as zeros
    (and is remembered) instead of stopping a rebuild."""

    def __init__(self, store: TokenStore):
        self._store = store

    def read(self, ids: np.ndarray) -> np.ndarray:
        return self._store.read_checked(ids)[0]
