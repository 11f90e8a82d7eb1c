"""Watched folders in the app: the engine's :class:`~engine.watch.FolderWatch` decides
when, the app's own :class:`~app.indexing.IndexJob` indexes.

One watch per open library, on its own thread (``cirsearch-watch``), which sets up the
watches (slow on big trees) and blocks in ``FolderWatch.wait``; each decision is posted
to the GUI thread, which starts the index job. Every run of that job (a watched change,
Rescan, a new folder, re-indexing for a model) tells the watch it started and ended, so
the watch never starts a run while one goes, a pause included, and changes seen during
a run queue one run after it. Stopping only asks the thread to end; :meth:`shutdown`
(quitting, window hidden) waits for it. GUI-thread-only, except ``_loop``.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QObject, Signal

from engine.library import LibraryStatus
from engine.watch import Coverage, Decision, FolderWatch, WatchConfig

from .host import LibraryHost, describe_error
from .indexing import IndexJob

log = logging.getLogger(__name__)


def watch_words(enabled: bool, coverage: Coverage | None, paused: bool) -> tuple[str, str]:
    """The library panel's line about watching, and its tooltip."""
    if not enabled:
        return "Not watching folders", "Turned off: Rescan picks up new, changed and deleted photos."
    if paused:
        return "Watching paused", "Indexing is paused: changes are gathered and indexed after it."
    if coverage is None or not coverage.roots:
        return "", ""
    n = coverage.roots
    text = f"Watching {n} folder{'s' if n != 1 else ''}"
    if not coverage.polled:
        return text, "New, changed, moved and deleted photos are indexed a few seconds after they appear."
    every = f"rescanned every {coverage.rescan_every_s / 60:g} min"
    why = "\n".join(f"{root}: {reason}" for root, reason in coverage.polled)
    return f"{text} · {len(coverage.polled)} {every}", f"Changes here may not be announced, so they are {every}:\n{why}"


class FolderWatcher(QObject):
    words_changed = Signal(str, str)  # the panel's line and its tooltip

    def __init__(self, host: LibraryHost, index_job: IndexJob, enabled: bool, rescan_minutes: int,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.host, self.index_job, self.enabled = host, index_job, enabled
        self.cfg = WatchConfig(fallback_every_s=rescan_minutes * 60.0)
        self._watch: FolderWatch | None = None
        self._threads: list[threading.Thread] = []
        self._coverage: Coverage | None = None
        host.opened.connect(self._opened)
        host.status_changed.connect(self._status)
        index_job.started.connect(self._run_started)
        index_job.finished.connect(self._run_ended)
        index_job.failed.connect(self._run_ended)
        index_job.paused_changed.connect(lambda _: self._say())

    @property
    def watching(self) -> bool:
        return self._watch is not None

    def set_enabled(self, on: bool) -> None:
        """Turn watching on (catching up on what changed meanwhile) or off."""
        self.enabled = on
        self._stop()
        if on:
            self._start(catch_up=True)
        self._say()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop and wait for the watch threads (quitting only: the window is hidden)."""
        self._stop()
        for t in self._threads:
            t.join(timeout_s)
        self._threads = [t for t in self._threads if t.is_alive()]

    # -- the library and its runs --------------------------------------------------------

    def _opened(self, _: LibraryStatus) -> None:
        self._stop()
        if self.enabled:
            self._start(catch_up=False)  # catching up is "index on open"'s to decide
        self._say()

    def _status(self, st: LibraryStatus) -> None:
        if self._watch is not None:
            self._watch.set_roots(st.roots)

    def _run_started(self) -> None:
        if self._watch is not None:
            self._watch.started()
        self._say()

    def _run_ended(self, _) -> None:
        if self._watch is not None:
            self._watch.finished()
        self._say()

    def _due(self, watch: FolderWatch, d: Decision) -> None:
        if watch is not self._watch or self.index_job.running:
            return  # a stale decision, or a run is going (its end is the watch's "finished")
        if not self.index_job.start():  # the library is being swapped: the next one gets a new watch
            watch.finished()

    # -- the watch thread ----------------------------------------------------------------

    def _start(self, catch_up: bool) -> None:
        lib, st = self.host.lib, self.host.status
        if lib is None:
            return
        relay = self.host.relay

        def covered(c: Coverage) -> None:
            relay.post(lambda: self._covered(watch, c))

        watch = FolderWatch(lib.folder, self.cfg, catch_up=catch_up, on_coverage=covered)
        watch.set_roots(st.roots if st is not None else ())
        if self.index_job.running:
            watch.started()
        thread = threading.Thread(target=self._loop, args=(watch,), name="cirsearch-watch", daemon=True)
        self._watch = watch
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _loop(self, watch: FolderWatch) -> None:
        """The watch thread: wait for decisions and post them, until stopped."""
        relay = self.host.relay
        try:
            while (d := watch.wait()) is not None:
                relay.post(lambda d=d: self._due(watch, d))
        except Exception as e:  # watching ends; the app goes on (Rescan still works)
            if not isinstance(e, OSError):
                log.error("watching the folders failed", exc_info=e)
            relay.post(lambda error=e: self._broken(watch, error))
        finally:
            watch.close()

    def _covered(self, watch: FolderWatch, c: Coverage) -> None:
        if watch is self._watch:
            self._coverage = c
            self._say()

    def _broken(self, watch: FolderWatch, e: Exception) -> None:
        if watch is self._watch:
            self._stop()
            self.words_changed.emit("Not watching folders", f"Watching stopped: {describe_error(e)}")

    def _stop(self) -> None:
        if self._watch is not None:
            self._watch.stop()
        self._watch, self._coverage = None, None

    def _say(self) -> None:
        self.words_changed.emit(*watch_words(self.enabled, self._coverage, self.index_job.paused))
