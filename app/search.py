"""Search as you type: the query value, debouncing, request ids, stale answers dropped.

Text edits restart a short timer (``AppSettings.debounce_ms``); a new reference or mode
searches at once. Each search gets a request id; it runs on the single ``search``
worker, and a queued search that has not started is cancelled when a newer one comes.
An answer whose id is no longer the latest is dropped (counted in ``dropped``). The
engine keeps each reference's vision features, so typing re-runs only the query graph.
GUI-thread-only.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future

from PySide6.QtCore import QObject, QTimer, Signal

from app.state.query import Mode, Query, Requests, plan, run
from engine.library import Library, SearchResult
from engine.references import ImageRef

from .host import LibraryHost, describe_error


class SearchController(QObject):
    answered = Signal(object, object, str)  # SearchResult, stored votes (list[Vote]), note
    idle = Signal(str)  # nothing can run; the note says what is missing
    failed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, host: LibraryHost, debounce_ms: int, k: int, parent: QObject | None = None):
        super().__init__(parent)
        self.host = host
        self.query = Query(k=k)
        self.requests = Requests()
        self.dropped = 0  # stale answers dropped
        self.sent = 0  # searches handed to the worker
        self._queued: Future | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.submit)

    @property
    def has_text(self) -> bool:
        st = self.host.status
        return bool(st and st.has_text_search)

    def set_text(self, text: str) -> None:
        if text != self.query.text:
            self.query = dataclasses.replace(self.query, text=text)
            self._timer.start()

    def set_reference(self, ref: ImageRef | None) -> None:
        self.query = dataclasses.replace(self.query, reference=ref)
        self.submit()

    def set_mode(self, mode: Mode) -> None:
        if mode is not self.query.mode:
            self.query = dataclasses.replace(self.query, mode=mode)
            self.submit()

    def submit(self) -> None:
        """Search for the current query now (or say why nothing can run)."""
        self._timer.stop()
        q = self.query
        p = plan(q, self.has_text)
        rid = self.requests.next()
        if self._queued is not None:
            self._queued.cancel()  # a no-op once it runs; its answer is then stale
        if not p.runs or self.host.lib is None:
            self._queued = None
            self.busy_changed.emit(False)
            self.idle.emit(p.note if not p.runs else "Opening the library…")
            return

        def work(lib: Library) -> tuple[SearchResult, list]:
            return run(lib, q), lib.votes()

        self.sent += 1
        self.busy_changed.emit(True)
        self._queued = self.host.call("search", work, lambda r: self._answer(rid, r, p.note),
                                      lambda e: self._failed(rid, e))

    def _answer(self, rid: int, r: tuple[SearchResult, list], note: str) -> None:
        if not self.requests.is_current(rid):
            self.dropped += 1
            return
        self._queued = None
        self.busy_changed.emit(False)
        self.answered.emit(r[0], r[1], note)

    def _failed(self, rid: int, e: BaseException) -> None:
        if not self.requests.is_current(rid):
            self.dropped += 1
            return
        self._queued = None
        self.busy_changed.emit(False)
        self.failed.emit(describe_error(e))
