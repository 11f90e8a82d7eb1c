"""Walking photo folders, and the diff between two listings.

``walk`` lists the image files under a root with their size and mtime. It never stops
on a bad folder: an unreadable folder, a symbolic-link loop or a broken link becomes a
:class:`ScanIssue` (an :class:`IssueKind` for code to decide on, a reason for people)
and the walk goes on; a file that vanishes between listing and ``stat`` is simply not
listed. Folders are followed through symbolic links, each real
folder (device, inode) at most once. Hidden entries (a leading dot) are skipped, and so
are the paths in ``exclude`` (the library's own folder, so thumbnails are never indexed).
Which files are photos: :mod:`engine.formats` (by extension; a file without one by its
first bytes). With ``raw_pairs="jpeg"`` a RAW file with a JPEG/HEIF of the same name in
its folder is not listed but kept in ``Listing.paired``: the shot is indexed once.

``diff`` is a pure function of two ``{path: (size, mtime_ns)}`` maps.
"""

from __future__ import annotations

import enum
import errno
import os
import stat as stat_mod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from .formats import IMAGE_EXTENSIONS, SNIFF_BYTES, find_raw_pairs, sniff


@dataclass(frozen=True)
class FileStat:
    path: str
    size: int
    mtime_ns: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.size, self.mtime_ns)


class IssueKind(enum.Enum):
    """What went wrong at a path. Code decides on this, never on a message's wording."""

    UNREADABLE_FOLDER = "unreadable_folder"  # a folder (or the root) could not be opened or listed
    NOT_A_FOLDER = "not_a_folder"  # the root exists but is not a folder
    UNREADABLE_ENTRY = "unreadable_entry"  # an entry could not be stat'ed (file or folder, unknown)
    BROKEN_LINK = "broken_link"  # a symbolic link with an image extension points nowhere
    LINK_LOOP = "link_loop"  # following a symbolic link loops (ELOOP)
    FOLDER_SEEN = "folder_seen"  # a symbolic link to a folder already scanned (a loop, or a second way in)
    ABSENT_DRIVE = "absent_drive"  # a root that had photos is empty now, or its drive is no longer mounted (indexer)


# Kinds whose path is a folder not listed under that path: files the catalog knows under
# it are kept, not removed (a scan never deletes what it cannot see). FOLDER_SEEN is one:
# its files were listed, but under the other path the folder was reached by.
FOLDER_KINDS = frozenset(
    {IssueKind.UNREADABLE_FOLDER, IssueKind.NOT_A_FOLDER, IssueKind.FOLDER_SEEN, IssueKind.ABSENT_DRIVE})


@dataclass(frozen=True)
class ScanIssue:
    path: str
    kind: IssueKind
    reason: str  # for people only: a short message, free to be reworded


@dataclass
class Listing:
    files: dict[str, FileStat] = field(default_factory=dict)
    issues: list[ScanIssue] = field(default_factory=list)
    paired: dict[str, str] = field(default_factory=dict)  # RAW file not listed -> its JPEG/HEIF sibling


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
    raw_pairs: str = "jpeg",
) -> Listing:
    """Image files under ``root`` (absolute paths, not resolved through links).
    ``raw_pairs``: "jpeg" lists a RAW+JPEG shot once (see above), "both" lists both files."""
    out = Listing()
    scandir = scandir or _os_scandir  # looked up per call, so tests can inject failures
    root = os.path.abspath(root)
    excluded = {os.path.abspath(p) for p in exclude}
    try:
        st = os.stat(root)
    except OSError as e:
        out.issues.append(ScanIssue(root, IssueKind.UNREADABLE_FOLDER, f"cannot open folder: {_reason(e)}"))
        return out
    if not stat_mod.S_ISDIR(st.st_mode):
        out.issues.append(ScanIssue(root, IssueKind.NOT_A_FOLDER, "not a folder"))
        return out
    seen = {(st.st_dev, st.st_ino)}
    stack = [root]
    while stack and not should_stop():
        folder = stack.pop()
        try:
            entries = sorted(scandir(folder), key=lambda e: e.name)
        except OSError as e:
            out.issues.append(ScanIssue(folder, IssueKind.UNREADABLE_FOLDER, f"cannot read folder: {_reason(e)}"))
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith(".") or entry.path in excluded:
                continue
            _visit(entry, extensions, seen, subdirs, out)
        if raw_pairs == "jpeg":
            for raw, sibling in find_raw_pairs(e.path for e in entries if e.path in out.files).items():
                del out.files[raw]
                out.paired[raw] = sibling
        stack.extend(reversed(subdirs))
    return out


def _visit(entry: os.DirEntry, extensions: frozenset[str], seen: set, subdirs: list, out: Listing) -> None:
    is_link = False
    try:
        is_link = entry.is_symlink()
        st = entry.stat(follow_symlinks=True)
    except FileNotFoundError:
        if is_link and os.path.splitext(entry.name)[1].lower() in extensions:
            out.issues.append(ScanIssue(entry.path, IssueKind.BROKEN_LINK, "broken symbolic link"))
        return  # vanished since the folder was listed, or a dangling link to a non-image
    except OSError as e:
        if getattr(e, "errno", None) == errno.ELOOP:
            out.issues.append(ScanIssue(entry.path, IssueKind.LINK_LOOP, "symbolic link loop"))
        else:
            out.issues.append(ScanIssue(entry.path, IssueKind.UNREADABLE_ENTRY, _reason(e)))
        return
    if stat_mod.S_ISDIR(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if key in seen:
            if is_link:
                out.issues.append(
                    ScanIssue(entry.path, IssueKind.FOLDER_SEEN, "symbolic link loop (folder already scanned)"))
            return
        seen.add(key)
        subdirs.append(entry.path)
    elif stat_mod.S_ISREG(st.st_mode) and _is_image(entry.path, extensions):
        out.files[entry.path] = FileStat(entry.path, st.st_size, st.st_mtime_ns)


def _is_image(path: str, extensions: frozenset[str]) -> bool:
    """By extension; a file without one by its first bytes (a file open: only those are read)."""
    ext = os.path.splitext(path)[1]
    if ext:
        return ext.lower() in extensions
    try:
        with open(path, "rb") as f:
            return sniff(f.read(SNIFF_BYTES)) is not None
    except OSError:
        return False


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
