"""Opening a library folder: the model and the vector store it is bound to, checked and recorded.

The catalog's meta table records the bundle last used (``bundle_path``), the target side
that encoded the stored tokens (``target_side``, ``store_target_side``), where the tokens
are (``vector_store``) and the library's random id (``library_id``).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Callable

from .bundle import Bundle, load_bundle
from .catalog import Catalog
from .db import Database
from .errors import BundleMismatchError, LibraryError
from .index_kind import VectorConfig
from .vector_store import QdrantConfig, VectorStore

LOCAL = "local"  # catalog meta "vector_store": where the tokens are (absent: here, the default)
STORE_NAMES = {LOCAL: "this folder (token file + FAISS)", "qdrant": "a Qdrant collection"}


def resolve_bundle(db: Database, bundle: str | Path | Bundle | None) -> Bundle:
    if isinstance(bundle, Bundle):
        return bundle
    if bundle is not None:
        return load_bundle(bundle)
    recorded = db.get_meta("bundle_path")
    if recorded is None:
        raise LibraryError("this library has no model yet: give a model bundle (--bundle PATH)")
    return load_bundle(recorded)


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
                 vector_db: QdrantConfig | None, make: Callable[..., VectorStore]) -> VectorStore:
    """Open the library's vector store with ``make`` (engine.vector_store.open_vector_store's
    arguments), emptied if it holds another target side's tokens or moved, and synced with the catalog."""
    s = bundle.manifest.sizes
    owner = _library_id(db) if vector_db is not None else ""
    v = make(folder, s.num_query_tokens, s.embed_dim, bundle.target_side, vectors, vector_db, owner)
    moved = db.get_meta("vector_store", LOCAL) != _store_name(vector_db)
    try:
        if db.get_meta("store_target_side") != bundle.target_side or moved:
            catalog.forget_vectors()
            v.store.truncate()
        with db.write() as c:
            if moved:
                db.set_meta("vector_store", _store_name(vector_db), c)
            db.set_meta("store_target_side", bundle.target_side, c)
            db.set_meta("target_side", bundle.target_side, c)
            db.set_meta("bundle_path", str(bundle.root.absolute()), c)
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
