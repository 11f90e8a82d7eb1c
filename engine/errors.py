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
