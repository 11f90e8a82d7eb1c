"""Thumbnails, cached on disk under the library folder, keyed by content hash and size.

``thumbnail()`` may be called from any number of threads at once: each file is written
to a temporary name and renamed into place, so a reader sees either nothing or a
complete JPEG. The cache folder carries a ``CACHEDIR.TAG`` so backup tools skip it.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from .atomic import atomic_write
from .decode import DecodeConfig, decode, read_file

TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# cirsearch thumbnails; safe to delete.\n"


def thumbnail_path(cache: Path, sha256: str, size: int) -> Path:
    return Path(cache) / str(size) / sha256[:2] / f"{sha256}.jpg"


def thumbnail(src: str | Path, sha256: str, cache: Path, size: int = 256, cfg: DecodeConfig = DecodeConfig()) -> Path:
    """Path of a JPEG at most ``size`` x ``size`` showing ``src`` upright. Raises ImageDecodeError."""
    out = thumbnail_path(cache, sha256, size)
    if out.is_file():
        return out
    im = decode(read_file(src, cfg), str(src), target=size, cfg=cfg).image
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = Path(cache) / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text(TAG)
    # not durable: a cache, redrawn from the photo when missing
    atomic_write(out, lambda f: im.save(f, "JPEG", quality=85), durable=False)
    return out
