"""Walking photo folders, and the diff between two listings.

``walk`` lists the image files under a root with their size and mtime. It never stops
on a bad folder: an unreadable folder, a symbolic-link loop or a broken link becomes a
:class:`ScanIssue` and the walk goes on; a file that vanishes between listing and
``stat`` is simply not listed. Folders are followed through symbolic links, each real
folder (device, inode) at most once. Hidden entries (a leading dot) are skipped, and so
are the paths in ``exclude`` (the library's own folder, so thumbnails are never indexed).

``diff`` is a pure function of two ``{path: (size, mtime_ns)}`` maps.
"""

from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from PIL import features

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
    | ({".avif"} if features.check("avif") else set())
)


@dataclass(frozen=True)
class FileStat:
    path: str
    size: int
    mtime_ns: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.size, self.mtime_ns)


@dataclass(frozen=True)
class ScanIssue:
    path: str
    reason: str


@dataclass
class Listing:
    files: dict[str, FileStat] = field(default_factory=dict)
    issues: list[ScanIssue] = field(default_factory=list)


Scandir = Callable[[str], Iterator[os.DirEntry]]


def _os_scandir(path: str) -> Iterator[os.DirEntry]:
    with os.scandir(path) as it:
        yield from it


def walk(
    root: str | Path,
    *,
    exclude: Iterable[str | Path] = (),
    extensions: frozenset[str] = IMAGE_EXTENSIONS,
    scandir: Scandir | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Listing:
    """Image files under ``root`` (absolute paths, not resolved through links)."""
    out = Listing()
    scandir = scandir or _os_scandir  # looked up per call, so tests can inject failures
    root = os.path.abspath(root)
    excluded = {os.path.abspath(p) for p in exclude}
    try:
        st = os.stat(root)
    except OSError as e:
        out.issues.append(ScanIssue(root, f"cannot open folder: {_reason(e)}"))
        return out
    if not stat_mod.S_ISDIR(st.st_mode):
        out.issues.append(ScanIssue(root, "not a folder"))
        return out
    seen = {(st.st_dev, st.st_ino)}
    stack = [root]
    while stack and not should_stop():
        folder = stack.pop()
        try:
            entries = sorted(scandir(folder), key=lambda e: e.name)
        except OSError as e:
            out.issues.append(ScanIssue(folder, f"cannot read folder: {_reason(e)}"))
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith(".") or entry.path in excluded:
                continue
            _visit(entry, extensions, seen, subdirs, out)
        stack.extend(reversed(subdirs))
    return out


def _visit(entry: os.DirEntry, extensions: frozenset[str], seen: set, subdirs: list, out: Listing) -> None:
    is_link = False
    try:
        is_link = entry.is_symlink()
        st = entry.stat(follow_symlinks=True)
    except FileNotFoundError:
        if is_link and os.path.splitext(entry.name)[1].lower() in extensions:
            out.issues.append(ScanIssue(entry.path, "broken symbolic link"))
        return  # vanished since the folder was listed, or a dangling link to a non-image
    except OSError as e:
        reason = "symbolic link loop" if getattr(e, "errno", None) == 40 else _reason(e)
        out.issues.append(ScanIssue(entry.path, reason))
        return
    if stat_mod.S_ISDIR(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if key in seen:
            if is_link:
                out.issues.append(ScanIssue(entry.path, "symbolic link loop (folder already scanned)"))
            return
        seen.add(key)
        subdirs.append(entry.path)
    elif stat_mod.S_ISREG(st.st_mode) and os.path.splitext(entry.name)[1].lower() in extensions:
        out.files[entry.path] = FileStat(entry.path, st.st_size, st.st_mtime_ns)


def _reason(e: OSError) -> str:
    return e.strerror or type(e).__name__


@dataclass(frozen=True)
class Diff:
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]


def diff(old: Mapping[str, tuple[int, int]], new: Mapping[str, tuple[int, int]]) -> Diff:
    """What changed between two listings of ``{path: (size, mtime_ns)}``; each part sorted."""
    added = sorted(p for p in new if p not in old)
    removed = sorted(p for p in old if p not in new)
    both = [p for p in new if p in old]
    changed = sorted(p for p in both if tuple(old[p]) != tuple(new[p]))
    unchanged = sorted(p for p in both if tuple(old[p]) == tuple(new[p]))
    return Diff(tuple(added), tuple(changed), tuple(removed), tuple(unchanged))
