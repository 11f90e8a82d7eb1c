"""Where the app's things are: the demo library and its photos, the model a library opens with.

``demo_places(library)`` follows ``cirsearch demo``: the photos live next to the library
folder in ``<library>-photos``. :func:`bundle_for` picks the model to open a library
with: the one asked for, else the one the library last used, else the demo model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.library import CATALOG
from engine.resources import default_demo_library_dir, demo_bundle_dir


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


def bundle_for(library: str | Path, requested: str | Path | None) -> Path | None:
    """The bundle to open ``library`` with; None lets the library use the one it recorded.

    A library that does not exist yet has no recorded model: it starts with the demo
    model (None if that is not installed either; opening then says a model is needed).
    """
    if requested is not None:
        return Path(requested).expanduser()
    if (Path(library).expanduser() / CATALOG).is_file():
        return None
    return demo_bundle_dir()
