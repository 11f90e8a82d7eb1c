"""Work off the GUI thread, answers back on it (Anki's task manager, in small).

:class:`Relay` runs callables on the GUI thread, posted from any thread through a queued
signal. :class:`TaskRunner` holds three executors:

- ``search``: one thread. Searches run one at a time; a newer request cancels a queued
  older one (see ``app.search``), and stale answers are dropped by request id.
- ``write``: one thread, in submission order: votes, undo, folders, model swaps, close.
- ``read``: two threads for independent reads: status, previews, loading a bundle.

``run`` returns the ``Future``; ``on_done(result)`` or ``on_error(exception)`` then runs
on the GUI thread. Every method here is GUI-thread-only except :meth:`Relay.post`.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

POOLS = {"search": 1, "write": 1, "read": 2}


class Relay(QObject):
    """Runs posted callables on the thread this object lives in (the GUI thread)."""

    _posted = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._closed = False
        self._posted.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[[], Any]) -> None:
        """Any thread: run ``fn()`` soon on the GUI thread (dropped once closed)."""
        if self._closed:
            return
        try:
            self._posted.emit(fn)
        except RuntimeError:  # the window is gone while a worker finished: nothing to tell
            pass

    def close(self) -> None:
        self._closed = True

    @Slot(object)
    def _run(self, fn: Callable[[], Any]) -> None:
        if not self._closed:
            fn()


class TaskRunner:
    def __init__(self, relay: Relay, on_error: Callable[[BaseException], None]):
        self.relay = relay
        self.on_error = on_error
        self._pools = {name: ThreadPoolExecutor(n, thread_name_prefix=f"cirsearch-{name}") for name, n in POOLS.items()}

    def run(self, pool: str, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[BaseException], None] | None = None) -> Future:
        fut = self._pools[pool].submit(fn)
        fail = on_error or self.on_error

        def finished(f: Future) -> None:  # a worker thread (or this one, if already done)
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                self.relay.post(lambda: fail(exc))
            elif on_done is not None:
                result = f.result()
                self.relay.post(lambda: on_done(result))

        fut.add_done_callback(finished)
        return fut

    def shutdown(self, wait: bool = True) -> None:
        for p in self._pools.values():
            p.shutdown(wait=wait, cancel_futures=True)
