"""Reading a ``torch.save`` file safely, with a reason a person can act on when it fails.

``torch.load(weights_only=True)`` cannot run code, but its failures are an internal
miniz message for a truncated file, a pickle opcode number for a file that is not a
checkpoint at all, and for a pickle holding objects, advice to load it unsafely. Both
the checkpoint importer (``trainer.model.checkpoint``) and run folders (``trainer.run``)
read through :func:`load_weights_only`, which says which of these it is."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

ZIP_SIGNATURE = b"PK\x03\x04"  # torch.save's format since torch 1.6 is a zip archive
PICKLE_PROTO = 0x80  # before that, a pickle, which starts with the PROTO opcode


class TorchFileError(Exception):
    """The file cannot be loaded; ``str(e)`` is the reason, without the path."""


def load_weights_only(path: str | Path) -> Any:
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise TorchFileError(f"cannot be read ({e.strerror or e})") from None
    if size == 0:
        raise TorchFileError("empty file (0 bytes)")
    if head != ZIP_SIGNATURE and head[0] != PICKLE_PROTO:
        raise TorchFileError("not a PyTorch checkpoint (neither the zip archive nor the pickle torch.save writes)")
    is_zip = zipfile.is_zipfile(path)  # False for a truncated one: its central directory is at the end
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"WeightsUnpickler error: ([^\n]+)", str(e))
        what = f" ({found.group(1).split('. ')[0].strip()})" if found else ""  # not torch's advice to allowlist it
        raise TorchFileError(f"it holds Python objects other than tensors and plain values{what}; it is not loaded, "
                             "since unpickling them could run code") from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if not is_zip or "zip archive" in first:
            raise TorchFileError(f"truncated or damaged ({first.split('. ')[0]})") from None
        raise TorchFileError(f"cannot be read ({first})") from None
