"""Thumbnails, cached on disk under the library folder, keyed by content hash and size.

``thumbnail()`` may be called from any number of threads at once: each file is written
to a temporary name and renamed into place, so a reader sees either nothing or a
complete JPEG. The cache folder carries a ``CACHEDIR.TAG`` so backup tools skip it.

A photo with transparency (a PNG cut-out, a logo) is drawn on a grey checkerboard, as
image editors show it: the decoder puts it on white for the model, where a white shape
on a transparent ground would leave a blank tile.

``STYLE`` is in each file's name: when the way thumbnails are drawn changes (as it did for
transparency), it goes up and the old files are simply not found, so every photo gets a
new thumbnail without anyone deleting the cache.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

from .atomic import atomic_write
from .decode import DecodeConfig, decode, read_file

STYLE = 2  # 2: transparency on a checkerboard
TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# cirsearch thumbnails; safe to delete.\n"


def thumbnail_path(cache: Path, sha256: str, size: int) -> Path:
    return Path(cache) / str(size) / sha256[:2] / f"{sha256}.{STYLE}.jpg"


def thumbnail(src: str | Path, sha256: str, cache: Path, size: int = 256, cfg: DecodeConfig = DecodeConfig()) -> Path:
    """Path of a JPEG at most ``size`` x ``size`` showing ``src`` upright. Raises ImageDecodeError."""
    out = thumbnail_path(cache, sha256, size)
    if out.is_file():
        return out
    data = read_file(src, cfg)
    im = decode(data, str(src), target=size, cfg=cfg).image  # checks the file, on white
    clear = _transparent(data)
    if clear is not None:
        im = clear
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    if im.mode == "RGBA":
        im = Image.alpha_composite(checkerboard(im.size), im).convert("RGB")
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = Path(cache) / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text(TAG)
    # not durable: a cache, redrawn from the photo when missing
    atomic_write(out, lambda f: im.save(f, "JPEG", quality=85), durable=False)
    return out


ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _transparent(data: bytes) -> Image.Image | None:
    """The image as upright RGBA when it has transparency, else None (``decode`` has read
    these bytes already, so they open; a failure here keeps the image on white)."""
    try:
        im = Image.open(io.BytesIO(data))
        if im.mode not in ALPHA_MODES and not (im.mode == "P" and "transparency" in im.info):
            return None
        return ImageOps.exif_transpose(im).convert("RGBA")
    except Exception:  # Pillow's plugins raise many types; the white version stands
        return None


def checkerboard(size: tuple[int, int], square: int = 8, light: int = 204, dark: int = 153) -> Image.Image:
    """A grey checkerboard (RGBA) of ``size``: what shows through transparent pixels."""
    w, h = size
    cells = Image.new("L", ((w + square - 1) // square, (h + square - 1) // square))
    cells.putdata([light if (x + y) % 2 == 0 else dark for y in range(cells.height) for x in range(cells.width)])
    board = cells.resize((cells.width * square, cells.height * square), Image.Resampling.NEAREST).crop((0, 0, w, h))
    return Image.merge("RGBA", (board, board, board, Image.new("L", size, 255)))
