"""The demo library's places, and small reference previews, for the app's first run.

``demo_places(library)`` follows ``cirsearch demo``: the photos live next to the library
folder in ``<library>-photos``. :func:`preview_png` makes the small upright picture of a
reference photo that the query panel shows (any format the engine reads, EXIF
orientation applied), so the window never decodes an image itself.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..decode import decode, read_file
from ..resources import default_demo_library_dir, demo_bundle_dir


@dataclass(frozen=True)
class DemoPlaces:
    library: Path
    photos: Path
    bundle: Path | None  # None: the demo model is not installed

    @property
    def photos_ready(self) -> bool:
        return (self.photos / "demo.json").is_file()


def demo_places(library: str | Path | None = None) -> DemoPlaces:
    lib = Path(library).expanduser().absolute() if library else default_demo_library_dir()
    return DemoPlaces(lib, lib.parent / (lib.name + "-photos"), demo_bundle_dir())


def count_photos(folder: str | Path) -> int:
    """JPEG files under ``folder`` so far (how far the demo renderer has come)."""
    n = 0
    for _, _, files in os.walk(folder):
        n += sum(f.lower().endswith(".jpg") for f in files)
    return n


def preview_png(image: str | Path | bytes, size: int) -> bytes:
    """A PNG at most ``size`` x ``size`` of a path or image bytes. Raises ImageDecodeError."""
    data = image if isinstance(image, bytes) else read_file(image)
    name = "<pasted image>" if isinstance(image, bytes) else str(image)
    im = decode(data, name, target=size).image
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()
