"""Typed errors the engine raises. The engine never prints or exits; callers decide."""

from __future__ import annotations

from pathlib import Path


class CirsearchError(Exception):
    """Base class of every error the engine raises on purpose."""


class BundleError(CirsearchError):
    """A model bundle is missing, incomplete, tampered with or of an unknown format.

    ``file`` names the offending file (relative to the bundle) when there is one;
    ``bundle`` the bundle folder, which the message then starts with.
    """

    def __init__(self, message: str, file: str | None = None, bundle: str | Path | None = None):
        super().__init__(message)
        self.detail, self.file, self.bundle = message, file, None
        if bundle is not None:
            self.locate(bundle)

    def locate(self, bundle: str | Path) -> None:
        """Say which bundle folder this is about (once: a message naming one keeps it)."""
        if self.bundle is None:
            self.bundle = bundle
            self.args = (f"model bundle {bundle}: {self.detail}",)


class ManifestError(BundleError):
    """``manifest.json`` is malformed: ``field`` (dotted, e.g. ``sizes.embed_dim``) is missing or wrong."""

    def __init__(self, message: str, field: str | None = None):
        where = f"manifest.json field {field}" if field else "manifest.json"
        super().__init__(f"{where} {message}", "manifest.json")
        self.field = field


class GraphContractError(BundleError):
    """A graph of the bundle is unreadable, or its inputs and outputs disagree with the bundle
    contract or with the sizes its manifest records (``field``, when one does)."""

    def __init__(self, message: str, file: str, field: str | None = None, bundle: str | Path | None = None):
        super().__init__(message, file, bundle)
        self.field = field


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


class StorageError(LibraryError):
    """A file or folder of the library cannot be read or written: a folder where a file
    belongs, no permission, a read-only disk, an I/O error. ``path`` names it."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class DiskFullError(StorageError):
    """The disk holding the library is full (or the user's quota is used up). What was
    committed before stays; the same command continues once there is space."""


class CatalogDamagedError(SchemaError):
    """The catalog (``catalog.sqlite``) is damaged, truncated or missing while the library
    folder still holds vectors; ``engine.recovery`` salvages what can be read."""


class VectorStoreError(LibraryError):
    """The vector database a library is configured to use cannot be reached, is held by
    another process, or holds a collection that is not this library's."""


class QueryError(CirsearchError):
    """A search request cannot be answered as asked (empty query, no text graph, unknown photo)."""


class IndexFileError(CirsearchError):
    """The saved vector index is unreadable, corrupt or stale; the engine rebuilds it."""
