"""How the window was asked to start (built from the command line in ``app.main``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Options:
    library: Path  # the library folder (catalog, index, thumbnails)
    bundle: Path | None = None  # the model; None: the library's own, else the demo model
    demo: bool = False  # draw the demo photos on first run, index them, show an example query
    demo_photos: int = 300  # demo photos drawn on first run
    example: int = 0  # which demo example query to show
    settings_file: Path | None = None  # an INI file instead of the platform's settings store
    screenshot: Path | None = None  # save a picture of the window once results are shown, then quit
    index_on_open: bool | None = None  # None: as the settings say
