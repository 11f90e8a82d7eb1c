"""Watched folders: notice new, changed, moved and deleted photos, and say when to index.

Three parts, each testable alone:

- :func:`is_photo_change`: whether a path seen in a file-system event can change the
  library (an image file, or a folder; never a hidden entry, a copy tool's temporary
  file or anything under the library's own folder). Pure.
- :class:`Batcher`: events and runs in, "index now" decisions out, on a clock the caller
  passes in (tests pass a fake one). It waits until no event came for ``settle_s``, but
  never longer than ``max_wait_s`` after the first one, so a camera import of thousands
  of photos is one indexing run; it holds back while a run is going (events then queue
  one run after it); and it asks for a rescan every so often, because
  events do not always arrive (network drives, a folder the system cannot watch).
- :class:`FolderWatch`: the watchdog observer over the library's roots, feeding a
  Batcher, with :meth:`FolderWatch.wait` blocking until a run is due. Thread-safe:
  events arrive on watchdog's thread; ``set_roots``, ``started``, ``finished`` and
  ``stop`` return at once from any thread; the thread that calls ``wait``
  does the slow part (setting up the watches) and, at the end, :meth:`FolderWatch.close`.

:func:`keep_indexed` joins a FolderWatch to a :class:`~engine.library.Library`
(``cirsearch watch``); the app starts its own indexing job instead (app/watching.py).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from .errors import LibraryBusyError
from .indexer import Control, IndexReport
from .scanner import IMAGE_EXTENSIONS

if TYPE_CHECKING:
    from .library import Library

# Names copy tools and browsers give a file while it is still being written; the final
# rename to the real name is the event that counts.
TEMP_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".temp", ".filepart", "~")
# Events that can change the library. Not opened / closed-without-writing (indexing reads
# every photo: those would start another run), not a folder's "modified" (a file in it
# changed: that file's own event says which).
CHANGE_EVENTS = [FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent,
                 FileAttribEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent]
# File systems whose changes made by other machines raise no event here.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ncpfs", "ceph", "glusterfs", "davfs",
    "fuse.sshfs", "fuse.rclone", "fuse.davfs2", "fuse.s3fs", "fuse.glusterfs",
})


@dataclass(frozen=True)
class WatchConfig:
    settle_s: float = 3.0  # index once no change came for this long ...
    max_wait_s: float = 60.0  # ... but at most this long after the first change of a batch
    rescan_every_s: float = 3600.0  # rescan anyway (events can be lost); 0: never
    fallback_every_s: float = 300.0  # rescan this often while a folder's changes may not be announced


@dataclass(frozen=True)
class Decision:
    """Index now. ``reason``: "catch-up" (watching began), "changes" (events settled),
    "rescan" (periodic) or "retry" (the last run found the library busy)."""

    reason: str
    events: int  # relevant file events since the last run began


class Batcher:
    """When to index, from events and runs. Pure: every method takes the time ``now``
    (seconds, any monotonic origin) and nothing reads a clock."""

    def __init__(self, cfg: WatchConfig, now: float, catch_up: bool = False):
        self.cfg = cfg
        self.rescan_every_s = cfg.rescan_every_s
        self._busy = False
        self._catch_up = catch_up
        self._changes = 0
        self._first = self._last = 0.0  # times of the first and the last change of the batch
        self._last_run = now  # when the last run ended (or watching began)
        self._retry_at: float | None = None

    def note(self, now: float) -> None:
        """A relevant change was seen (also while a run goes: it queues one run after)."""
        if self._changes == 0:
            self._first = now
        self._changes += 1
        self._last = now

    def decide(self, now: float) -> Decision | None:
        if self._busy:
            return None
        if self._catch_up:
            return Decision("catch-up", self._changes)
        if self._changes and (now - self._last >= self.cfg.settle_s or now - self._first >= self.cfg.max_wait_s):
            return Decision("changes", self._changes)
        if self._retry_at is not None and now >= self._retry_at:
            return Decision("retry", self._changes)
        if self.rescan_every_s > 0 and now - self._last_run >= self.rescan_every_s:
            return Decision("rescan", self._changes)
        return None

    def next_check(self, now: float) -> float | None:
        """Seconds until :meth:`decide` may say yes with no new input; None: only new input can."""
        if self._busy:
            return None
        times = []
        if self._catch_up:
            times.append(now)
        if self._changes:
            times.append(min(self._last + self.cfg.settle_s, self._first + self.cfg.max_wait_s))
        if self._retry_at is not None:
            times.append(self._retry_at)
        if self.rescan_every_s > 0:
            times.append(self._last_run + self.rescan_every_s)
        return max(0.0, min(times) - now) if times else None

    def begin(self) -> None:
        """A run starts: it scans every root, so the changes so far are its to find."""
        self._busy, self._catch_up, self._changes, self._retry_at = True, False, 0, None

    def end(self, now: float, retry: bool = False) -> None:
        """The run ended. ``retry``: it could not run (the library was busy): try again
        after ``max_wait_s``."""
        self._busy, self._last_run = False, now
        if retry:
            self._retry_at = now + self.cfg.max_wait_s


def is_photo_change(root: str, path: str, is_directory: bool, ignore: Sequence[str] = (),
                    extensions: frozenset[str] = IMAGE_EXTENSIONS) -> bool:
    """Whether an event at ``path`` (under the watched ``root``) can change the library.

    ``ignore``: folders whose events never count (the library's own: thumbnails, catalog).
    Hidden entries below the root are skipped as the scanner skips them."""
    path, root = os.path.abspath(path), os.path.abspath(root)
    if any(path == d or path.startswith(d.rstrip(os.sep) + os.sep) for d in map(os.path.abspath, ignore)):
        return False
    if path != root and not path.startswith(root.rstrip(os.sep) + os.sep):
        return False
    parts = Path(os.path.relpath(path, root)).parts if path != root else ()
    if any(p.startswith(".") for p in parts):
        return False
    name = os.path.basename(path).lower()
    if name.endswith(TEMP_SUFFIXES) or name.startswith("~$"):
        return False
    return is_directory or os.path.splitext(name)[1] in extensions


def network_filesystem(path: str, mounts: str) -> str | None:
    """The type of network file system ``path`` lies on, from the text of
    ``/proc/self/mounts`` (``mounts``); None for a local one or when unknown."""
    best, kind = "", None
    path = os.path.abspath(path)
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind if kind in NETWORK_FILESYSTEMS else None


def _read_mounts() -> str:
    try:
        return Path("/proc/self/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: no way to tell, events are trusted
        return ""


@dataclass(frozen=True)
class Coverage:
    """Which roots raise events and which are only rescanned, and why."""

    watched: tuple[str, ...] = ()  # events arrive
    polled: tuple[tuple[str, str], ...] = ()  # (root, why changes may go unannounced): rescanned
    rescan_every_s: float = 0.0  # the periodic rescan in force; 0: none

    @property
    def roots(self) -> int:
        return len({*self.watched, *(r for r, _ in self.polled)})


def why_unwatched(e: OSError) -> str:
    """Words for a failure to watch a folder."""
    if e.errno == errno.ENOSPC:
        return ("the system's limit on watched folders is reached "
                "(raise fs.inotify.max_user_watches to watch it)")
    if e.errno == errno.EMFILE:
        return "too many folder watchers are open (raise fs.inotify.max_user_instances to watch it)"
    if e.errno == errno.ENOENT:
        return "the folder is not there (an unplugged drive?)"
    return f"it cannot be watched ({e.strerror or type(e).__name__})"


class _Events(FileSystemEventHandler):
    """watchdog's thread: passes relevant events of one root on to the FolderWatch."""

    def __init__(self, root: str, watch: "FolderWatch"):
        self.root, self.watch = root, watch

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory and event.event_type == "modified":
            return
        paths = [os.fsdecode(event.src_path)] + ([os.fsdecode(event.dest_path)] if event.dest_path else [])
        if event.event_type == "deleted" and paths[0] == self.root:
            self.watch._lost(self.root)
        # Windows cannot tell what a deleted or moved-away path was: one with no extension may be a folder.
        folder = event.is_directory or (event.event_type in ("deleted", "moved") and not os.path.splitext(paths[0])[1])
        if any(is_photo_change(self.root, p, folder, self.watch.ignore) for p in paths if p):
            self.watch._note()


@dataclass
class _Wanted:
    roots: tuple[str, ...] = ()
    dirty: bool = False  # the watches differ from ``roots``: set them up (in the waiting thread)
    lost: set[str] = field(default_factory=set)  # watched roots whose watch ended (folder gone)


class FolderWatch:
    """Watch the roots of the library in ``library`` (whose own folder is ignored)."""

    def __init__(self, library: str | Path, cfg: WatchConfig = WatchConfig(), *, catch_up: bool = False,
                 on_coverage: Callable[[Coverage], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 observer: Callable[[], BaseObserver] = Observer, mounts: Callable[[], str] = _read_mounts):
        """``catch_up``: the first decision comes at once (changes made while nobody watched).
        ``on_coverage``: told, from the waiting thread, each time the watches are set up."""
        self.ignore = (os.path.abspath(library),)
        self.cfg, self.clock = cfg, clock
        self._on_coverage, self._make_observer, self._mounts = on_coverage, observer, mounts
        self._cond = threading.Condition()
        self._batcher = Batcher(cfg, clock(), catch_up)
        self._wanted = _Wanted()
        self._stopped = False
        self._observer: BaseObserver | None = None
        self._watches: dict[str, ObservedWatch] = {}
        self.coverage = Coverage()

    # -- any thread ----------------------------------------------------------------------

    def set_roots(self, roots: Iterable[str | Path]) -> None:
        """Watch these folders (set up by the thread in :meth:`wait`)."""
        roots = tuple(dict.fromkeys(os.path.abspath(r) for r in roots))
        with self._cond:
            if roots != self._wanted.roots or self._wanted.lost:
                self._wanted.roots, self._wanted.dirty = roots, True
                self._cond.notify_all()

    def started(self) -> None:
        """A run began (this watch's, or one started elsewhere): hold decisions until :meth:`finished`."""
        with self._cond:
            self._batcher.begin()
            self._cond.notify_all()

    def finished(self, retry: bool = False) -> None:
        """The run ended; ``retry``: it could not run, try again later."""
        with self._cond:
            self._batcher.end(self.clock(), retry)
            self._cond.notify_all()

    def stop(self) -> None:
        """Make :meth:`wait` return None, now and from now on."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def _note(self) -> None:
        with self._cond:
            self._batcher.note(self.clock())
            self._cond.notify_all()

    def _lost(self, root: str) -> None:
        with self._cond:
            self._wanted.lost.add(root)
            self._wanted.dirty = True
            self._cond.notify_all()

    # -- the waiting thread --------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> Decision | None:
        """Block until a run is due and return why (the run then counts as started: call
        :meth:`finished` when it ends); None after ``timeout`` seconds or :meth:`stop`.
        ``timeout=0`` only looks. Sets up the watches first whenever the roots changed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._set_up()
            with self._cond:
                if self._stopped:
                    return None
                if self._wanted.dirty:
                    continue
                now = self.clock()
                d = self._batcher.decide(now)
                if d is not None:
                    self._batcher.begin()
                    if d.reason == "rescan" and len(self.coverage.watched) < len(self._wanted.roots):
                        self._wanted.dirty = True  # try again to watch what could not be watched
                    return d
                wait_s = self._batcher.next_check(now)
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    wait_s = left if wait_s is None else min(wait_s, left)
                self._cond.wait(wait_s)

    def close(self) -> None:
        """Stop watching and end watchdog's threads (from the thread that called :meth:`wait`)."""
        self.stop()
        obs, self._observer = self._observer, None
        if obs is not None:
            obs.stop()
            obs.join()

    def _set_up(self) -> None:
        with self._cond:
            if not self._wanted.dirty or self._stopped:
                return
            roots, lost = self._wanted.roots, set(self._wanted.lost)
            self._wanted.dirty = False
            self._wanted.lost -= lost
        if self._observer is None:
            self._observer = self._make_observer()
            self._observer.start()
        for root in list(self._watches):
            if root not in roots or root in lost:
                self._unschedule(self._watches.pop(root))
        polled: dict[str, str] = {}
        mounts = self._mounts()
        for root in roots:
            if root not in self._watches:
                try:
                    self._watches[root] = self._observer.schedule(_Events(root, self), root, recursive=True,
                                                                  event_filter=CHANGE_EVENTS)
                except OSError as e:
                    polled[root] = why_unwatched(e)
                    continue
            net = network_filesystem(root, mounts)
            if net is not None:
                polled[root] = f"a network drive ({net}): changes made from other computers are not announced"
        cov = Coverage(tuple(r for r in roots if r in self._watches and r not in polled), tuple(polled.items()),
                       self.cfg.fallback_every_s if polled else self.cfg.rescan_every_s)
        with self._cond:
            self._batcher.rescan_every_s = cov.rescan_every_s
            self.coverage = cov
        if self._on_coverage is not None:
            self._on_coverage(cov)

    def _unschedule(self, w: ObservedWatch) -> None:
        try:
            self._observer.unschedule(w)
        except (KeyError, OSError):  # its emitter already ended (the folder went away)
            pass


def keep_indexed(lib: Library, watch: FolderWatch, on_run: Callable[[Decision, IndexReport], None],
                 on_busy: Callable[[str], None], control: Control | None = None) -> None:
    """Index ``lib`` each time ``watch`` says so, until ``watch.stop()`` or ``control.cancel()``.
    ``on_busy``: another indexer holds the library; the run is tried again later.
    ``control`` also stops a run in progress (between photos; what was committed stays):
    the command line cancels it from its Ctrl-C handler, which takes no lock."""
    control = control or Control()
    while not watch.stopped and not control.cancelled:
        d = watch.wait(1.0)  # wakes each second to see a cancel
        if d is None:
            continue
        try:
            report = lib.index(control=control)
        except LibraryBusyError as e:
            watch.finished(retry=True)
            on_busy(str(e))
            continue
        except BaseException:
            watch.finished()
            raise
        watch.finished()
        if not report.cancelled:
            on_run(d, report)
