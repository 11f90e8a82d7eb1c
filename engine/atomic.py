"""Atomic file writes: the one place that writes a file through a temporary and a rename.

A reader sees either the old file or the whole new one, never half of it, and a failed
write leaves the old file and no temporary behind. ``durable=True`` also survives a
power cut: the file is fsynced before the rename and its folder after it, so the new
name points at the new content on disk. Durable writes cost a disk flush each; use them
for what cannot be rebuilt (catalogs, indexes, votes, manifests, checkpoints) and
``durable=False`` for caches, logs and plots.

Torch-free and Qt-free, so the engine, the app and the trainer can all use it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], Any], durable: bool = True) -> Path:
    """Write ``path`` by calling ``write`` on a binary file opened for reading and writing.

    The temporary file ``<name>.<random>.tmp`` lives in the same folder (a rename is only
    atomic within one file system) and gets the permissions a plain ``open`` would give
    (0o666 less the umask). The folder must exist. Returns ``path``.
    """
    path = Path(path)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = True) -> Path:
    return atomic_write(path, lambda f: f.write(data), durable)


def atomic_write_text(path: str | Path, text: str, durable: bool = True) -> Path:
    """``text`` as UTF-8, newlines as given (no platform translation)."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable)


def atomic_write_json(path: str | Path, obj: Any, durable: bool = True, **dumps: Any) -> Path:
    """``json.dumps(obj, **dumps)`` plus a final newline."""
    return atomic_write_text(path, json.dumps(obj, **dumps) + "\n", durable)


def _create_temp(path: Path) -> tuple[int, Path]:
    # os.open with mode 0o666 lets the kernel apply the umask; mkstemp would make the
    # file 0o600, and reading the umask (os.umask) is not thread-safe.
    for _ in range(100):
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, _OPEN_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {path}")


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows cannot open a folder)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
