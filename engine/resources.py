"""Where things live by default: the user's library folder and the shipped demo model.

- ``default_library_dir()``: ``$CIRSEARCH_LIBRARY``, else ``<platformdirs user data
  dir>/library`` (``~/.local/share/cirsearch/library`` on Linux).
- ``demo_bundle_dir()``: the shipped demo model bundle (``$CIRSEARCH_DEMO_BUNDLE``
  overrides), or None when it is not installed.

Shipped resources live in ``resources/`` at the top of the source tree; an installed wheel
(and the PyInstaller build) carries the same files as package data, ``engine/_resources/``
(setup.py copies them there at build time).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "cirsearch"
DEMO_BUNDLE = "demo-bundle"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def default_library_dir() -> Path:
    env = os.environ.get("CIRSEARCH_LIBRARY")
    return Path(env).expanduser() if env else data_dir() / "library"


def default_demo_library_dir() -> Path:
    return data_dir() / "demo-library"


def resource_dirs() -> list[Path]:
    """Folders searched for shipped resources, first match wins: the installed package's
    data (a wheel, the frozen app), then the source tree's ``resources/`` (a checkout, an
    editable install)."""
    here = Path(__file__).resolve().parent
    return [here / "_resources", here.parent / "resources"]


def demo_bundle_dir() -> Path | None:
    """The shipped demo bundle's folder, or None if it is not installed."""
    env = os.environ.get("CIRSEARCH_DEMO_BUNDLE")
    if env:
        return Path(env).expanduser()
    for base in resource_dirs():
        if (base / DEMO_BUNDLE / "manifest.json").is_file():
            return base / DEMO_BUNDLE
    return None
