"""Typed errors the engine raises. The engine never prints or exits; callers decide."""

from __future__ import annotations


class CirsearchError(Exception):
    """Base class of every error the engine raises on purpose."""


class BundleError(CirsearchError):
    """A model bundle is missing, incomplete, tampered with or of an unknown format.

    ``file`` names the offending file (relative to the bundle) when there is one.
    """

    def __init__(self, message: str, file: str | None = None):
        super().__init__(message)
        self.file = file


class ImageDecodeError(CirsearchError):
    """An image could not be decoded; ``reason`` is a short, user-facing cause."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class LibraryError(CirsearchError):
    """A photo library cannot be opened or used as asked (bad folder, no bundle, busy)."""


class LibraryBusyError(LibraryError):
    """Another process or thread is already indexing this library."""


class SchemaError(LibraryError):
    """The catalog was written by a newer cirsearch, or is not a cirsearch catalog."""


class BundleMismatchError(LibraryError):
    """A bundle's target side differs from the one that built the library's vectors.

    Searching with it would compare vectors from two different models; re-indexing
    (``Library.use_bundle(..., reindex=True)``) re-encodes every photo.
    """


class VectorStoreError(LibraryError):
    """The vector database a library is configured to use cannot be reached, is held by
    another process, or holds a collection that is not this library's."""


class QueryError(CirsearchError):
    """A search request cannot be answered as asked (empty query, no text graph, unknown photo)."""


class IndexFileError(CirsearchError):
    """The saved vector index is unreadable, corrupt or stale; the engine rebuilds it."""
