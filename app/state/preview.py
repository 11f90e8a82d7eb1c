"""Small upright previews of a reference photo, for the query panel.

The window never decodes an image itself: a worker calls :func:`preview_png` (any format
the engine reads, EXIF orientation applied) and the window shows the PNG.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from engine.decode import decode, read_file


def preview_png(image: str | Path | bytes, size: int) -> bytes:
    """A PNG at most ``size`` x ``size`` of a path or image bytes. Raises ImageDecodeError."""
    data = image if isinstance(image, bytes) else read_file(image)
    name = "<pasted image>" if isinstance(image, bytes) else str(image)
    im = decode(data, name, target=size).image
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()
