"""Indexing in the background: one thread runs ``Library.index`` with pause and cancel.

Progress comes from the indexer's thread after every photo; :class:`IndexJob` passes on
at most ten reports a second (and always the last) to the GUI thread. While paused the
indexer waits between photos, keeping what it has committed; cancel keeps it too. The
time paused is taken out of the reports (``app.state.progress.PausedTime``), so the rate
after Resume is that of the time it ran. While it runs, the library's status is read
again at the first report (the new folder is listed at once) and then about once a
second (``status``: the photo count grows as batches are committed).
GUI-thread-only, except ``_run`` and ``_progress`` (the indexing thread).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import QObject, Signal

from app.state.progress import PausedTime, Throttle
from engine.indexer import Control, IndexReport, Progress

from .host import LibraryHost


class IndexJob(QObject):
    started = Signal()
    progress = Signal(object)  # engine.indexer.Progress
    paused_changed = Signal(bool)
    finished = Signal(object)  # IndexReport
    failed = Signal(object)  # the exception
    status = Signal(object)  # LibraryStatus read while the run goes on

    def __init__(self, host: LibraryHost, parent: QObject | None = None, *,
                 clock: Callable[[], float] = time.monotonic, interval_s: float = 0.1, status_s: float = 1.0):
        super().__init__(parent)
        self.host = host
        # The throttle's clock: tests drive it (one report per tick) instead of racing it.
        self.clock, self.interval_s = clock, interval_s
        self._status_throttle = Throttle(status_s)  # by the same clock
        self._paused = PausedTime()  # by the indexer's own clock, time.monotonic
        self._run_id = 0  # statuses read for an earlier run are dropped
        self._thread: threading.Thread | None = None
        self._control: Control | None = None
        self.last: Progress | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def paused(self) -> bool:
        return self._control is not None and self._control.paused

    @property
    def parked(self) -> bool:
        """Paused and stopped between photos: no report comes until resume."""
        return self._control is not None and self._control.parked

    def start(self, paths: Sequence[str | Path] = ()) -> bool:
        """Add ``paths`` as folders and index; False if a run is already going or no library is open."""
        lib = self.host.lib
        if self._thread is not None or lib is None:
            return False
        self._control, self.last = Control(), None
        self._paused, self._status_throttle = PausedTime(), Throttle(self._status_throttle.interval_s)
        self._run_id += 1
        throttle = Throttle(self.interval_s)
        self._thread = threading.Thread(target=self._run, args=(lib, list(paths), self._control, throttle),
                                        name="cirsearch-index", daemon=True)
        self.started.emit()
        self._thread.start()
        return True

    def pause(self) -> None:
        if self._control is not None and not self._control.paused:
            self._control.pause()
            self._paused.pause(time.monotonic())
            self.paused_changed.emit(True)

    def resume(self) -> None:
        if self._control is not None and self._control.paused:
            self._control.resume()
            self._paused.resume(time.monotonic())
            self.paused_changed.emit(False)

    def cancel(self) -> None:
        if self._control is not None:
            self._control.cancel()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the run ends (quitting only)."""
        t = self._thread
        if t is not None:
            t.join(timeout)

    def _run(self, lib, paths: list, control: Control, throttle: Throttle) -> None:
        def progress(p: Progress) -> None:
            if throttle.ready(self.clock(), final=not p.current):
                made = time.monotonic()
                self.host.relay.post(lambda: self._show(p, made))

        # The end is posted while the gate is still held: a library opened after this run
        # (which waits for the gate) is announced after this run's end, never before it.
        with self.host.gate.shared():
            start = Progress(phase="scan", total=0, done=0, encoded=0, reused=0, failed=0, elapsed_s=0.0)
            self.host.relay.post(lambda: self._show(start))
            try:
                report = lib.index(paths, progress=progress, control=control)
            except BaseException as e:  # shown to the user; the name e is gone after this block
                self.host.relay.post(lambda error=e: self._end(None, error))
            else:
                self.host.relay.post(lambda: self._end(report, None))

    def _show(self, p: Progress, made: float | None = None) -> None:
        if made is not None:
            p = self._paused.running(p, made)
        self.last = p
        self.progress.emit(p)
        if made is not None and self._status_throttle.ready(self.clock()):  # the engine's report: roots added
            run = self._run_id
            self.host.call("read", lambda lib: lib.status(), lambda st: run == self._run_id and self.status.emit(st))

    def _end(self, report: IndexReport | None, error: BaseException | None) -> None:
        self._thread, self._control = None, None
        self._run_id += 1
        if error is not None:
            self.failed.emit(error)
        else:
            self.finished.emit(report)
        self.host.refresh()
