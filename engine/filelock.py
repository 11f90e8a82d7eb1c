"""An exclusive, non-blocking lock file held while a library is being indexed."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import LibraryBusyError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock still applies
    fcntl = None  # type: ignore[assignment]


class ProcessLock:
    """An exclusive, non-blocking lock file (flock) held while indexing."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = -1

    def __enter__(self) -> "ProcessLock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self.fd)
                raise LibraryBusyError("another cirsearch process is indexing this library") from None
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)
