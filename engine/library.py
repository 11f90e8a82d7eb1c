"""The engine's facade: one photo library in one folder. The CLI and the GUI use only this.

Folder layout::

    catalog.sqlite   roots, files, contents, votes, scan issues (SQLite, WAL)
    tokens.f16       every photo's target tokens (engine.token_file)
    tokens.crc       a checksum per photo of tokens.f16 (engine.token_file; checked by engine.integrity)
    index.faiss      the FAISS index, a cache of tokens.f16 (engine.faiss_index)
    qdrant/          instead of those two, with LibraryConfig.vector_db embedded (engine.qdrant_store)
    thumbs/          thumbnail cache (CACHEDIR.TAG)
    refs/            vision features of references that received votes (for personalization)
    index.lock       held while indexing (one indexer per library, across processes)

Threads: one ``Library`` may be shared by several threads. ``search``, ``similar``,
``vote``, ``thumbnail``, ``status`` and the accessors may run concurrently from any
threads; ``index`` runs in one thread at a time (a second caller gets
:class:`LibraryBusyError`) and searches may run while it does (they see each committed
batch). ``use_bundle`` and ``close`` must not overlap other calls.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from . import browse as browsing
from . import integrity
from .browse import BrowsePage, PhotoDetails, PhotoFilter
from .bundle import Bundle, load_bundle
from .catalog import Catalog, Photo
from .db import SCHEMA_VERSION, Database
from .errors import BundleMismatchError, LibraryBusyError, LibraryError, QueryError
from .faults import CATALOG, guarded, storage_errors
from .feedback import FeedbackStore, QueryInfo, Vote
from .filelock import ProcessLock
from .formats import RAW_PAIR_MODES
from .index_kind import VectorConfig
from .indexer import BatchFn, Control, IndexConfig, Indexer, IndexReport, ProgressFn
from .opening import check_target_side, check_vector_store, mismatch_message, open_catalog, open_vectors, resolve_bundle
from .preprocess import preprocess
from .ranking import relevance_cutoff
from .references import FeatureCache, ImageRef, Reference, ReferenceResolver
from .results import Hit, LibraryStatus, SearchResult
from .runtime import Encoders, RuntimeConfig
from .saved_references import SavedReferences
from .thumbnails import thumbnail
from .vector_store import QdrantConfig, VectorStore, open_vector_store

log = logging.getLogger(__name__)

# The values callers handle, importable from here with the Library itself.
__all__ = [
    "CATALOG", "BrowsePage", "Control", "Hit", "IndexConfig", "IndexReport", "Library", "LibraryConfig",
    "LibraryParts", "LibraryStatus", "Photo", "PhotoDetails", "PhotoFilter", "QdrantConfig", "QueryInfo",
    "RuntimeConfig", "SearchResult", "VectorConfig", "Vote",
]


@dataclass(frozen=True)
class LibraryConfig:
    runtime: RuntimeConfig = RuntimeConfig()
    vectors: VectorConfig = VectorConfig()
    index: IndexConfig = IndexConfig()
    reference_cache: int = 16  # references whose vision features stay in memory
    query_kv_cache: int = 4  # references whose cross-attention keys and values stay in memory (9.5 MB each at vitl)
    thumbnail_size: int = 256
    vector_db: QdrantConfig | None = None  # None: local token store + FAISS; else a Qdrant collection


@dataclass(frozen=True)
class LibraryParts:
    """How a :class:`Library` builds its collaborators. The defaults build the real ones;
    ``Library.open(..., parts=LibraryParts(encoders=Fake))`` hands in others (tests)."""

    encoders: Callable[[Bundle, RuntimeConfig], Encoders] = Encoders  # again on each use_bundle
    vector_store: Callable[..., VectorStore] = open_vector_store  # engine.vector_store.open_vector_store's arguments
    catalog: Callable[[Database], Catalog] = Catalog
    feedback: Callable[[Database], FeedbackStore] = FeedbackStore
    features: Callable[[int], FeatureCache] = FeatureCache  # reference features in memory (LRU of that size)


class Library:
    """Open with :meth:`Library.open`; close with :meth:`close` (or use ``with``)."""

    def __init__(self, folder: Path, db: Database, bundle: Bundle, cfg: LibraryConfig, *,
                 parts: LibraryParts | None = None, read_only: bool = False):
        self.folder, self.db, self.bundle, self.cfg = folder, db, bundle, cfg
        self.read_only = read_only or db.read_only
        self.parts = parts = parts or LibraryParts()
        self.catalog = parts.catalog(db)
        self.feedback = parts.feedback(db)
        self.encoders = parts.encoders(bundle, cfg.runtime)
        self.features = parts.features(cfg.reference_cache)
        self.query_kv = parts.features(cfg.query_kv_cache)  # they depend on the query side too: cleared with it
        self.saved_references = SavedReferences(folder / "refs")
        self._resolve = ReferenceResolver(cfg.index.decode)
        self._tokenizer = bundle.tokenizer()
        self._index_lock = threading.Lock()
        self.vectors = self._open_vectors()

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, folder: str | Path, bundle: str | Path | Bundle | None = None, cfg: LibraryConfig = LibraryConfig(),
             reindex: bool = False, create: bool = True, *, parts: LibraryParts | None = None,
             read_only: bool = False) -> "Library":
        """Open (or create) the library in ``folder``.

        ``bundle``: the model to use; by default the one the library last used. A bundle
        whose target side differs from the one that encoded the library is refused with
        :class:`BundleMismatchError` unless ``reindex`` (every photo is then re-encoded at
        the next :meth:`index`); so is another vector store (``cfg.vector_db``) than the one
        holding the library's vectors. ``create=False`` refuses a folder that holds no library yet.
        ``parts``: how to build the collaborators (default: the real ones; see :class:`LibraryParts`).
        ``read_only``: the catalog is not written (for status, search and similar; the index
        cache is still saved if it had to be rebuilt and can be); a library folder that is not
        writable is opened this way (and then only with ``read_only``).
        """
        folder = Path(folder).expanduser().absolute()
        with storage_errors(folder):
            db = open_catalog(folder, create, read_only)
            try:
                b = resolve_bundle(db, bundle)
                check_target_side(db, b, reindex)
                check_vector_store(db, cfg.vector_db, reindex)
                lib = cls(folder, db, b, cfg, parts=parts, read_only=read_only)
            except BaseException:
                db.close()
                raise
        return lib

    def _open_vectors(self) -> VectorStore:
        return open_vectors(self.folder, self.db, self.catalog, self.bundle, self.cfg.vectors, self.cfg.vector_db,
                            self.parts.vector_store, self.read_only)

    @guarded
    def use_bundle(self, bundle: str | Path | Bundle, reindex: bool = False) -> None:
        """Switch models. Same target side (e.g. a personalized query graph): instant, no
        re-indexing. Another target side: refused unless ``reindex``."""
        b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        if b.target_side == self.bundle.target_side:
            self.bundle, self.encoders, self._tokenizer = b, self.parts.encoders(b, self.cfg.runtime), b.tokenizer()
            self.query_kv.clear()
            self.db.set_meta("bundle_path", str(b.root.absolute()))
            return
        if not reindex:
            raise BundleMismatchError(mismatch_message(b))
        with self._index_lock:
            self.vectors.close()
            self.bundle, self.encoders, self._tokenizer = b, self.parts.encoders(b, self.cfg.runtime), b.tokenizer()
            self.features.clear()
            self.query_kv.clear()
            self.vectors = self._open_vectors()

    @guarded
    def close(self) -> None:
        try:
            if not self.db.read_only:  # the index is a cache of the token store: a failed save is only logged
                self.vectors.save()
        finally:
            self.vectors.close()
            self.db.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- folders and indexing ------------------------------------------------------------

    def roots(self) -> list[str]:
        return [r.path for r in self.catalog.roots()]

    @guarded
    def add_root(self, path: str | Path) -> str:
        p = Path(path).expanduser().absolute()
        if not p.is_dir():
            raise LibraryError(f"{p} is not a folder")
        return self.catalog.add_root(str(p)).path

    @guarded
    def remove_root(self, path: str | Path) -> bool:
        """Forget a folder: its photos leave the results (their tokens stay, so re-adding is instant)."""
        gone = self.catalog.remove_root(str(Path(path).expanduser().absolute()))
        if gone:
            self.vectors.sync(self.catalog)
            self.vectors.save()
        return gone

    @guarded
    def index(self, paths: Sequence[str | Path] = (), progress: ProgressFn | None = None,
              control: Control | None = None, on_batch: BatchFn | None = None) -> IndexReport:
        """Add ``paths`` as roots, scan every root and encode what is new or changed.
        ``on_batch``: called with ("encode", hashes) before each batch is encoded and
        ("commit", hashes) once it is committed (see :data:`engine.indexer.BatchFn`).
        The folders are added only once this run holds the library (no other indexer)."""
        with self._indexing():
            for p in paths:
                self.add_root(p)
            return self._index(progress, control or Control(), on_batch)

    @contextmanager
    def _indexing(self) -> Iterator[None]:
        """One indexing (or repair) at a time: in this process, then across processes."""
        if not self._index_lock.acquire(blocking=False):
            raise LibraryBusyError("this library is already being indexed in this process")
        try:
            with ProcessLock(self.folder / "index.lock"):
                yield
        finally:
            self._index_lock.release()

    def _indexer(self, on_batch: BatchFn | None = None) -> Indexer:
        return Indexer(self.catalog, self.vectors, self.encoders, self.bundle.manifest.image,
                       exclude=[self.folder], cfg=replace(self.cfg.index, raw_pairs=self.raw_pairs()),
                       on_batch=on_batch)

    def raw_pairs(self) -> str:
        """How RAW+JPEG shots are indexed ("jpeg" or "both"): ``cfg.index.raw_pairs`` when
        given (remembered in the catalog from then on), else the remembered choice."""
        remembered = self.db.get_meta("raw_pairs", "jpeg")
        wanted = self.cfg.index.raw_pairs
        if wanted is None or wanted == remembered:
            return remembered
        if wanted not in RAW_PAIR_MODES:
            raise LibraryError(f"raw_pairs must be one of {', '.join(RAW_PAIR_MODES)}, not {wanted!r}")
        self.db.set_meta("raw_pairs", wanted)
        return wanted

    def _index(self, progress: ProgressFn | None, control: Control, on_batch: BatchFn | None) -> IndexReport:
        t0 = time.monotonic()
        report = IndexReport(device=self.encoders.device)
        ix = self._indexer(on_batch)
        # Damage found on open or since: check every photo, and encode the damaged ones again below.
        damaged = integrity.check(self.catalog, self.vectors).damaged if self.vectors.store.damaged else ()
        integrity.forget(self.catalog, self.vectors, damaged)
        try:
            if ix.scan(self.catalog.roots(), report, control, progress):
                ix.encode_pending(report, control, progress)
            else:
                report.cancelled = True
        finally:
            self.vectors.sync(self.catalog)
            self.vectors.save()
            report.elapsed_s = time.monotonic() - t0
        report.repaired = len(damaged) - len(integrity.unrestored(self.catalog, damaged))
        return report

    def check(self, repair: bool = False, progress: ProgressFn | None = None,
              control: Control | None = None) -> integrity.CheckReport:
        """Read every stored photo's tokens and check them against their checksums.
        ``repair``: encode the damaged ones again from their files (the indexing pipeline:
        ``progress`` and ``control`` as for :meth:`index`), keeping votes and every other
        photo's tokens, and bring the index in step."""
        if not repair:
            return integrity.check(self.catalog, self.vectors)
        with self._indexing():
            report = integrity.check(self.catalog, self.vectors)
            if report.damaged:
                integrity.forget(self.catalog, self.vectors, report.damaged)
                try:
                    self._indexer().encode_pending(IndexReport(), control or Control(), progress)
                finally:
                    self.vectors.sync(self.catalog)
                    self.vectors.save()
            return integrity.after_repair(report, self.catalog)

    def damage(self) -> str | None:
        """A message when stored vectors are known to be damaged (searches refuse then), else None."""
        return integrity.damage(self.vectors)

    @guarded
    def status(self) -> LibraryStatus:
        c = self.catalog.counts()
        skipped = self.catalog.skipped()
        m = self.bundle.manifest.model
        return LibraryStatus(
            folder=str(self.folder), roots=tuple(self.roots()), indexed=c["ok"], photos=c["photos"],
            pending=c["pending"], skipped=len(skipped), skipped_files=tuple(skipped),
            bundle=self.bundle.label, bundle_path=str(self.bundle.root), demo_model=m.demo,
            device=self.encoders.device, precision=self.encoders.precision, has_text_search=self.encoders.has_text,
            index_kind=self.vectors.kind, index_rebuilt_because=self.vectors.rebuilt_because,
            votes=self.feedback.count(), schema_version=SCHEMA_VERSION,
        )

    # -- search --------------------------------------------------------------------------

    @guarded
    def search(self, text: str | None = None, image: ImageRef | None = None, k: int = 50,
               exclude_reference: bool = True, where: PhotoFilter | None = None) -> SearchResult:
        """Composed search (``image`` + ``text``), or text-only search (``text`` alone).

        ``image``: a path, image bytes or a library photo id. The reference photo itself
        is left out of the results unless ``exclude_reference`` is False. ``where``: only
        photos in that folder and date range (the best ``k`` of them).
        """
        times: dict[str, float] = {}
        if image is None:
            if not text or not text.strip():
                raise QueryError("type what you are looking for, or give a reference photo")
            if not self.encoders.has_text:
                raise QueryError(f"the model {self.bundle.label} has no text-only search: give a reference photo too")
            t = time.perf_counter()
            ids, mask = self._tokenizer.encode([text])  # (1, L), (1, L)
            q = self.encoders.text(ids, mask)  # (1, E)
            times["encode"] = time.perf_counter() - t
            return self._answer(self._query_info("text", text, None), q, k, frozenset(), times, where)
        ref = self._reference(image)
        t = time.perf_counter()
        cached = self.encoders.cached_query  # per keystroke, only what the text changes runs
        reference = self._cross_kv(ref) if cached else self._vision_features(ref)  # (C, 2, h, T, d) or (T, Dv)
        times["vision"] = time.perf_counter() - t
        t = time.perf_counter()
        ids, mask = self._tokenizer.encode([text or ""])
        q = (self.encoders.query_cached if cached else self.encoders.query)(reference[None], ids, mask)  # (1, E)
        times["query"] = time.perf_counter() - t
        return self._answer(self._query_info("composed", text or "", ref), q, k, self._excluded(ref, exclude_reference),
                            times, where)

    @guarded
    def similar(self, image: ImageRef, k: int = 50, exclude_reference: bool = True,
                where: PhotoFilter | None = None) -> SearchResult:
        """Photos that look like ``image``: mean over its target tokens of the best match in each photo."""
        ref = self._reference(image)
        t = time.perf_counter()
        tokens = self._reference_tokens(ref)  # (Q, E)
        times = {"encode": time.perf_counter() - t}
        return self._answer(self._query_info("similar", None, ref), tokens, k, self._excluded(ref, exclude_reference),
                            times, where)

    def _answer(self, info: QueryInfo, queries: np.ndarray, k: int, exclude: frozenset[int],
                times: dict[str, float], where: PhotoFilter | None = None) -> SearchResult:
        if k <= 0:
            raise QueryError("the number of results must be at least 1")
        integrity.refuse_if_damaged(self.vectors)
        t = time.perf_counter()
        live: dict[int, list[str]] = {}
        allowed = browsing.matching(self.db, where) if where is not None and where.narrows else None

        def keep(ids: np.ndarray) -> np.ndarray:
            live.update(self.catalog.paths(ids))
            return np.asarray([int(i) in live and (allowed is None or int(i) in allowed) for i in ids], bool)

        ids, scores = self.vectors.search(queries, k, keep=keep, exclude=exclude)
        times["search"] = time.perf_counter() - t
        photos = self.catalog.photos(ids)
        hits, rank = [], 0
        for i, s in zip(ids.tolist(), scores.tolist()):
            p = photos.get(i)
            if p is None:  # removed between the search and now
                continue
            hits.append(Hit(photo_id=i, path=p.path, score=float(s), rank=rank, sha256=p.sha256, paths=p.paths))
            rank += 1
        cutoff = relevance_cutoff(np.asarray([h.score for h in hits]))
        return SearchResult(info, tuple(hits), cutoff, self.encoders.device, times)

    def _query_info(self, mode: str, text: str | None, ref: Reference | None) -> QueryInfo:
        m = self.bundle.manifest.model
        return QueryInfo(mode=mode, text=text, ref_path=ref.path if ref else None,
                         ref_sha256=ref.sha256 if ref else None, bundle_name=m.name, bundle_version=m.version,
                         query_sha256=self.bundle.query_sha256,
                         target_side=self.vectors.target_side)  # Manifest.target_side re-hashes

    def _reference(self, image: ImageRef) -> Reference:
        if isinstance(image, (int, np.integer)) and not isinstance(image, bool):
            return self._resolve(self.photo(int(image)).path)
        return self._resolve(image)

    def _excluded(self, ref: Reference, exclude: bool) -> frozenset[int]:
        if not exclude:
            return frozenset()
        p = self.catalog.photo_by_sha(ref.sha256)
        return frozenset({p.id}) if p else frozenset()

    def _vision_features(self, ref: Reference) -> np.ndarray:
        def compute() -> np.ndarray:
            pixels = preprocess(ref.decode(self.bundle.manifest.image.size), self.bundle.manifest.image)
            return self.encoders.vision(pixels[None])[0]  # (T, Dv)

        return self.features.get_or_compute("vision", ref.sha256, compute)

    def _cross_kv(self, ref: Reference) -> np.ndarray:
        """The query path's cross-attention keys and values of a reference (C, 2, h, T, d), cached."""
        return self.query_kv.get_or_compute(
            "query_kv", ref.sha256, lambda: self.encoders.query_kv(self._vision_features(ref)[None])[0])

    def _reference_tokens(self, ref: Reference) -> np.ndarray:
        p = self.catalog.photo_by_sha(ref.sha256)
        if p is not None:
            return self.vectors.tokens(np.asarray([p.id]))[0]  # (Q, E), as indexed

        def compute() -> np.ndarray:
            t = self.encoders.target(self._vision_features(ref)[None])[0]  # (Q, E)
            return t.astype(np.float16).astype(np.float32)  # as the store would hold it

        return self.features.get_or_compute("target", ref.sha256, compute)

    # -- photos and features -------------------------------------------------------------

    def photo(self, photo_id: int) -> Photo:
        p = self.catalog.photos([photo_id]).get(photo_id)
        if p is None:
            raise QueryError(f"no photo with id {photo_id} in this library")
        return p

    def photo_at(self, path: str | Path) -> Photo | None:
        return self.catalog.photo_by_path(str(Path(path).expanduser().absolute()))

    def photo_tokens(self, photo_ids: Sequence[int]) -> np.ndarray:
        """(N,) photo ids -> (N, Q, E) float32 target tokens as indexed (fp16 precision)."""
        ids = np.asarray(photo_ids, np.int64)
        known = self.catalog.photos(ids)
        missing = [i for i in ids.tolist() if i not in known]
        if missing:
            raise QueryError(f"no indexed photo with id {missing[0]}")
        return self.vectors.tokens(ids)

    def reference_features(self, image: ImageRef) -> np.ndarray:
        """(T, Dv) float32 vision features of a reference (cached), for personalization."""
        ref = self._reference(image)
        saved = self.saved_references.load(self.bundle.target_side, ref.sha256)
        return saved if saved is not None else self._vision_features(ref)

    def reference_features_by_sha(self, sha256: str, path: str | Path | None = None) -> np.ndarray | None:
        """(T, Dv) features of a reference known by its content hash (as votes record it):
        the copy kept with its votes, else computed from ``path`` or from an indexed photo
        with these bytes; None when neither exists any more."""
        p = self.catalog.photo_by_sha(sha256)
        candidates = ([str(path)] if path else []) + (list(p.paths) if p is not None else [])
        return self.saved_references.find(self.bundle.target_side, sha256, candidates, self.cfg.index.decode,
                                          self._vision_features)

    def tokens_by_sha(self, shas: Sequence[str]) -> dict[str, np.ndarray]:
        """Target tokens (Q, E) as indexed, for those of ``shas`` (content hashes) that are
        indexed photos of this library; the others are left out."""
        found = [(s, p.id) for s in dict.fromkeys(shas) if (p := self.catalog.photo_by_sha(s)) is not None]
        if not found:
            return {}
        tokens = self.vectors.tokens(np.asarray([i for _, i in found], np.int64))
        return {s: tokens[j] for j, (s, _) in enumerate(found)}

    @guarded
    def thumbnail(self, photo_id: int, size: int | None = None) -> Path:
        p = self.photo(photo_id)
        return thumbnail(p.path, p.sha256, self.folder / "thumbs", size or self.cfg.thumbnail_size,
                         self.cfg.index.decode)

    # -- browsing (engine.browse) --------------------------------------------------------

    @guarded
    def browse(self, sort: str = "newest", where: PhotoFilter | None = None, offset: int = 0,
               limit: int = 300) -> BrowsePage:
        """Every photo without a query, a page at a time: ``sort`` is "newest" (by the date
        taken, else the file's time; then by folder), "oldest" or "name"; ``where`` narrows."""
        return browsing.browse(self.db, self.catalog, sort, where, offset, limit)

    @guarded
    def folders(self) -> list[tuple[str, int]]:
        """(folder, photo files directly in it) for every folder holding an indexed photo."""
        return browsing.folders(self.db)

    @guarded
    def photo_dates(self, photo_ids: Sequence[int]) -> dict[int, tuple[float, bool]]:
        """Photo id -> (its date as browsing sorts by it, whether EXIF gave it)."""
        return browsing.dates(self.db, photo_ids)

    @guarded
    def details(self, photo_id: int) -> PhotoDetails:
        """Path, date, size and camera (read from the file's EXIF) of one photo."""
        return browsing.details(self.db, self.catalog, photo_id)

    # -- feedback ------------------------------------------------------------------------

    @guarded
    def vote(self, result: SearchResult, photo_id: int, up: bool) -> Vote:
        """Record a thumbs-up/down on a photo of ``result``; committed when this returns."""
        ranked = [h.photo_id for h in result.hits]
        if photo_id in ranked:
            h = result.hits[ranked.index(photo_id)]
            rank, score, path, sha = h.rank, h.score, h.path, h.sha256
            above = tuple(x.sha256 for x in result.hits[: h.rank])
        else:
            p = self.photo(photo_id)
            rank, score, path, sha, above = None, None, p.path, p.sha256, tuple(x.sha256 for x in result.hits)
        vote = self.feedback.add(result.query, sha, path, up, rank, score, above)
        # votes outlive reference files: keep the reference's vision features with them
        try:
            self.saved_references.keep(self.bundle.target_side, result.query, self.cfg.index.decode,
                                       self._vision_features)
        except OSError as e:  # the vote is committed; without the copy the features come from the file again
            log.warning("the reference features of vote %d could not be kept: %s", vote.id, e)
        return vote

    @guarded
    def undo_vote(self, vote_id: int) -> Vote:
        return self.feedback.undo(vote_id)

    @guarded
    def votes(self, include_undone: bool = False) -> list[Vote]:
        return self.feedback.votes(include_undone)

