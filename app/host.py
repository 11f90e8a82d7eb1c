"""The one object that holds the open library and hands it to workers.

Every engine call goes through :meth:`LibraryHost.call` (or :meth:`exclusive`), runs on
a worker of :class:`app.tasks.TaskRunner` inside the library gate, and reports back on
the GUI thread. Calls share the gate; opening, swapping the model and closing take it
alone (``Library.use_bundle`` and ``close`` must not overlap other calls).
GUI-thread-only, except what the workers run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, TypeVar

from PySide6.QtCore import QObject, Signal

from app.state.gate import Gate
from engine.bundle import Bundle, load_bundle
from engine.errors import CirsearchError
from engine.library import Library, LibraryConfig, LibraryStatus

from .tasks import Relay, TaskRunner

log = logging.getLogger(__name__)
T = TypeVar("T")


def describe_error(e: BaseException) -> str:
    """Words for the user: the engine's own message, or what kind of failure it was."""
    if isinstance(e, CirsearchError):
        return str(e)
    if isinstance(e, OSError):
        return f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
    return f"unexpected error ({type(e).__name__}: {e})"


class LibraryHost(QObject):
    opened = Signal(object)  # LibraryStatus of the library just opened
    open_failed = Signal(object)  # the exception (a BundleMismatchError offers re-indexing)
    status_changed = Signal(object)  # LibraryStatus
    error = Signal(str)  # an operation failed; the message says why

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.relay = Relay(self)
        self.tasks = TaskRunner(self.relay, self._report)
        self.gate = Gate()
        self.lib: Library | None = None
        self.status: LibraryStatus | None = None
        self.cfg = LibraryConfig()

    # -- opening -------------------------------------------------------------------------

    def open(self, folder: str | Path, bundle: str | Path | None = None, cfg: LibraryConfig = LibraryConfig(),
             reindex: bool = False) -> None:
        """Close the library in use (if any) and open ``folder``; emits opened or open_failed."""
        old, self.lib, self.status, self.cfg = self.lib, None, None, cfg

        def work() -> tuple[Library, LibraryStatus]:
            with self.gate.exclusive():
                if old is not None:
                    old.close()
                lib = Library.open(folder, bundle=bundle, cfg=cfg, reindex=reindex)
            try:
                return lib, lib.status()
            except BaseException:
                lib.close()
                raise

        def done(r: tuple[Library, LibraryStatus]) -> None:
            self.lib, self.status = r
            self.opened.emit(self.status)

        self.tasks.run("write", work, done, self.open_failed.emit)

    # -- calls ---------------------------------------------------------------------------

    def call(self, pool: str, fn: Callable[[Library], T], on_done: Callable[[T], None] | None = None,
             on_error: Callable[[BaseException], None] | None = None) -> Any:
        """Run ``fn(library)`` on ``pool`` inside the gate; None if no library is open."""
        lib = self.lib
        if lib is None:
            return None

        def work() -> T:
            with self.gate.shared():
                return fn(lib)

        return self.tasks.run(pool, work, on_done, on_error)

    def exclusive(self, fn: Callable[[Library], T], on_done: Callable[[T], None] | None = None,
                  on_error: Callable[[BaseException], None] | None = None) -> Any:
        """Run ``fn(library)`` alone (no other call in flight), in order with the writes."""
        lib = self.lib
        if lib is None:
            return None

        def work() -> T:
            with self.gate.exclusive():
                return fn(lib)

        return self.tasks.run("write", work, on_done, on_error)

    def refresh(self) -> None:
        """Read the status again (counts, skipped files, model, device); emits status_changed."""
        self.call("read", lambda lib: lib.status(), self._set_status)

    def _set_status(self, st: LibraryStatus) -> None:
        self.status = st
        self.status_changed.emit(st)

    def use_bundle(self, bundle: str | Path | Bundle, reindex: bool, on_done: Callable[[LibraryStatus], None],
                   on_error: Callable[[BaseException], None]) -> None:
        """Switch to ``bundle`` (a verified Bundle, or a folder verified here); see ``Library.use_bundle``."""

        def work(lib: Library) -> LibraryStatus:
            lib.use_bundle(bundle if isinstance(bundle, Bundle) else load_bundle(bundle), reindex=reindex)
            return lib.status()

        def done(st: LibraryStatus) -> None:
            self._set_status(st)
            on_done(st)

        self.exclusive(work, done, on_error)

    def _report(self, e: BaseException) -> None:
        if not isinstance(e, (CirsearchError, OSError)):
            log.error("a background task failed", exc_info=e)
        self.error.emit(describe_error(e))

    # -- closing -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Close the library and stop the workers. Blocks: only for quitting, window hidden."""
        lib, self.lib = self.lib, None
        if lib is not None:
            def close() -> None:
                with self.gate.exclusive():
                    lib.close()

            fut = self.tasks.run("write", close, on_error=lambda e: None)
            try:
                fut.result(timeout=60)
            except Exception as e:  # closing saves the index; a failure loses only that cache
                log.error("closing the library failed: %s", e)
        self.relay.close()
        self.tasks.shutdown(wait=True)
