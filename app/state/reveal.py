"""How to show a photo selected in the system's file manager, per platform.

- macOS: ``open -R PATH``; Windows: ``explorer /select,PATH``;
- Linux and other freedesktop systems: the ``org.freedesktop.FileManager1.ShowItems``
  D-Bus call when a file manager offers it (Nautilus, Dolphin, Nemo, Caja, Thunar...),
  else open the folder that holds the photo (the file itself is then not selected).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import quote


@dataclass(frozen=True)
class Reveal:
    how: str  # "run": start ``command``; "dbus": ShowItems([uri]); "open": open ``target`` (a folder)
    command: tuple[str, ...] = ()
    target: str = ""


def reveal_plan(path: str, platform: str, has_file_manager1: bool) -> Reveal:
    """What to do to show ``path`` (absolute) in its folder on ``platform`` (sys.platform)."""
    if platform == "darwin":
        return Reveal("run", ("open", "-R", path))
    if platform.startswith("win"):
        return Reveal("run", ("explorer", f"/select,{PureWindowsPath(path)}"))
    if has_file_manager1:
        return Reveal("dbus", target="file://" + quote(os.fsencode(PurePosixPath(path))))  # also a non-UTF-8 name
    return Reveal("open", target=os.path.dirname(path))
