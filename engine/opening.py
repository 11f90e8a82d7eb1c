"""Opening a library folder: its catalog, the model and the vector store it is bound to, checked and recorded.

The catalog's meta table records the bundle last used (``bundle_path``), the target side
that encoded the stored tokens (``target_side``, ``store_target_side``), where the tokens
are (``vector_store``) and the library's random id (``library_id``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable

from .bundle import Bundle, load_bundle
from .catalog import Catalog
from .db import Database
from .errors import BundleMismatchError, DiskFullError, LibraryError, StorageError
from .faults import CATALOG
from .index_kind import VectorConfig
from .recovery import check_catalog_file
from .resources import demo_bundle_dir
from .vector_store import QdrantConfig, VectorStore

LOCAL = "local"  # catalog meta "vector_store": where the tokens are (absent: here, the default)
STORE_NAMES = {LOCAL: "this folder (token file + FAISS)", "qdrant": "a Qdrant collection"}


def open_catalog(folder: Path, create: bool, read_only: bool) -> Database:
    """The library's catalog, made if ``create``. A folder that cannot be written is opened
    read-only, and only when ``read_only`` is asked for; so is the catalog on a disk too full
    for SQLite's -shm file."""
    check_catalog_file(folder, create)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LibraryError(f"cannot create the library folder {folder}: {e.strerror or e}") from e
    writable = os.access(folder, os.W_OK)
    if not writable and not read_only:
        raise StorageError(f"the library folder {folder} is not writable: indexing and voting need write "
                           "access (status, search and similar work without it)", str(folder))
    try:
        return Database(folder / CATALOG, read_only=not writable)
    except DiskFullError:
        if not (read_only and writable):
            raise
        return Database(folder / CATALOG, read_only=True)  # as it is on disk, writing nothing


def resolve_bundle(db: Database, bundle: str | Path | Bundle | None) -> Bundle:
    if isinstance(bundle, Bundle):
        return bundle
    if bundle is not None:
        return load_bundle(bundle)
    recorded = db.get_meta("bundle_path")
    if recorded is None:
        raise LibraryError(no_model_message())
    return load_bundle(recorded)


def no_model_message() -> str:
    """What to say when a library has no model: where one comes from."""
    demo = demo_bundle_dir()
    return (
        "this library has no model yet: give a model bundle (--bundle PATH). For your own photos, convert "
        "QuRe's published checkpoint into one with `cirsearch-train import-qure` (README, \"Getting the real model\")"
        + (f"; the demo model (--bundle {demo}) knows only the generated dress images of `cirsearch demo`, "
           "not real photos" if demo is not None else "")
    )


def _has_vectors(db: Database) -> bool:
    return bool(db.query("SELECT 1 FROM contents WHERE state = 'encoded' LIMIT 1"))


def check_target_side(db: Database, b: Bundle, reindex: bool) -> None:
    old = db.get_meta("target_side")
    if old is not None and old != b.target_side and _has_vectors(db) and not reindex:
        raise BundleMismatchError(mismatch_message(b))


def _store_name(vector_db: QdrantConfig | None) -> str:
    return LOCAL if vector_db is None else "qdrant"


def check_vector_store(db: Database, vector_db: QdrantConfig | None, reindex: bool) -> None:
    """Opening a library with another vector store than the one holding its tokens would
    search an empty or stale store: refused unless ``reindex`` (every photo encoded again)."""
    old, new = db.get_meta("vector_store", LOCAL), _store_name(vector_db)
    if old != new and _has_vectors(db) and not reindex:
        raise LibraryError(
            f"this library keeps its photos' vectors in {STORE_NAMES.get(old, old)}, not in {STORE_NAMES[new]}: "
            "open it with the same vector store (LibraryConfig.vector_db), or re-index into the new one "
            "(every photo is encoded again)"
        )


def mismatch_message(b: Bundle) -> str:
    return (f"the model {b.label} encodes photos differently from the one that indexed this library; "
            "re-index with it (every photo is encoded again) or use the previous model")


def open_vectors(folder: Path, db: Database, catalog: Catalog, bundle: Bundle, vectors: VectorConfig,
                 vector_db: QdrantConfig | None, make: Callable[..., VectorStore],
                 read_only: bool = False) -> VectorStore:
    """Open the library's vector store with ``make`` (engine.vector_store.open_vector_store's
    arguments), emptied if it holds another target side's tokens or moved, and synced with the catalog.
    The catalog is written only when something changed, and never when ``read_only``."""
    s = bundle.manifest.sizes
    owner = _library_id(db) if vector_db is not None else ""
    v = make(folder, s.num_query_tokens, s.embed_dim, bundle.target_side, vectors, vector_db, owner)
    moved = db.get_meta("vector_store", LOCAL) != _store_name(vector_db)
    try:
        if not read_only and (db.get_meta("store_target_side") != bundle.target_side or moved):
            catalog.forget_vectors()
            v.store.truncate()
        meta = {"store_target_side": bundle.target_side, "target_side": bundle.target_side,
                "bundle_path": str(bundle.root.absolute())}
        if moved:
            meta["vector_store"] = _store_name(vector_db)
        changed = {k: x for k, x in meta.items() if db.get_meta(k) != x}
        if changed and not read_only:
            with db.write() as c:
                for k, x in changed.items():
                    db.set_meta(k, x, c)
        v.open(catalog)
    except BaseException:
        v.close()  # an embedded database holds a lock on its folder until closed
        raise
    return v


def _library_id(db: Database) -> str:
    """A random id of this library, made once (it marks the library's collection in a vector database)."""
    lid = db.get_meta("library_id")
    if lid is None:
        lid = uuid.uuid4().hex
        db.set_meta("library_id", lid)
    return lid
