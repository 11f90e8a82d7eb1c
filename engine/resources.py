"""Where things live by default: the user's library folder and the shipped demo model.

- ``default_library_dir()``: ``$CIRSEARCH_LIBRARY``, else ``<platformdirs user data
  dir>/library`` (``~/.local/share/cirsearch/library`` on Linux).
- ``demo_bundle_dir()``: the demo model bundle shipped in ``resources/demo-bundle``
  (``$CIRSEARCH_DEMO_BUNDLE`` overrides), or None when it is not installed.
"""

from __future__ import annotations

import os
import sys
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
    """Folders searched for shipped resources, first match wins."""
    here = Path(__file__).resolve().parent
    return [here.parent / "resources", Path(sys.prefix) / "share" / APP / "resources"]


def demo_bundle_dir() -> Path | None:
    """The shipped demo bundle's folder, or None if it is not installed."""
    env = os.environ.get("CIRSEARCH_DEMO_BUNDLE")
    if env:
        return Path(env).expanduser()
    for base in resource_dirs():
        if (base / DEMO_BUNDLE / "manifest.json").is_file():
            return base / DEMO_BUNDLE
    return None
