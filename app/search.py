"""What the grid lists: a search as you type, or, with no query, the whole library.

Text edits restart a short timer (``AppSettings.debounce_ms``); a new reference, mode,
filter or order searches at once. Each search gets a request id; it runs on the single
``search`` worker, and a queued search that has not started is cancelled when a newer
one comes. An answer whose id is no longer the latest is dropped (counted in
``dropped``). The engine keeps each reference's vision features, so typing re-runs only
the query graph.

When no query can run (nothing dropped, nothing typed), ``idle`` says why and the
library is listed instead (``Library.browse``: newest first, or by name; ``browsed``).
Listed again in the same order and filter (after an indexing run, say), it is read as
far as it was loaded, without ``idle`` (``refreshed``), so that the grid keeps its place.
The folder and date filter (``set_filter``) narrows both. Either listing grows a page
at a time when the grid reaches its end (``fetch_more``; ``extended``): a search asks
again for more hits, the library for its next page (``app.state.browse.Paging``).
Every engine call runs on a worker. GUI-thread-only.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future

from PySide6.QtCore import QObject, QTimer, Signal

from app.state.browse import Paging, Sort, browse_sort
from app.state.query import Mode, Query, Requests, plan, run
from engine.browse import BrowsePage, PhotoFilter
from engine.library import Library, SearchResult
from engine.references import ImageRef

from .host import LibraryHost, describe_error

Dates = dict[int, tuple[float, bool]]


class SearchController(QObject):
    answered = Signal(object, object, str)  # SearchResult, stored votes (list[Vote]), note
    idle = Signal(str)  # no query can run; the note says what is missing (the library is listed next)
    browsed = Signal(object, str)  # BrowsePage: the library's first page; the note from idle
    extended = Signal(object, object)  # the next page: SearchResult (all hits so far) or BrowsePage; Dates
    failed = Signal(str)
    more_failed = Signal(str)  # a next page could not be read; what is listed stays
    busy_changed = Signal(bool)

    def __init__(self, host: LibraryHost, debounce_ms: int, k: int, parent: QObject | None = None):
        super().__init__(parent)
        self.host = host
        self.query = Query(k=k)
        self.sort = Sort.NEWEST  # the library's order (a search's is the model's)
        self.where = PhotoFilter()
        self.requests = Requests()
        self.paging = Paging(k)
        self.dates: Dates = {}  # of the first page's photos, with ``answered``
        self.refreshed = False  # the last ``browsed`` is the listing on screen read again
        self._listed_as: tuple[str, PhotoFilter] | None = None  # the library's listing on screen: order, filter
        self.dropped = 0  # stale answers dropped
        self.sent = 0  # searches handed to the worker
        self._shown: Query | None = None  # the query whose answer is listed (None: the library)
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

    def set_filter(self, where: PhotoFilter) -> None:
        if where != self.where:
            self.where = where
            self.submit()

    def set_sort(self, sort: Sort) -> None:
        """The library's order; listed again in it when the library is on screen (a search's
        hits are re-ordered where they are shown: ``ResultsModel.set_sort``)."""
        changed, self.sort = browse_sort(sort) != browse_sort(self.sort), sort
        if changed and self._shown is None and self.host.lib is not None:
            self.submit()

    def has_more(self) -> bool:
        return self.paging.can_fetch()

    def submit(self) -> None:
        """Search for the current query now (or say why nothing can run and list the library)."""
        self._timer.stop()
        q = self.query
        p = plan(q, self.has_text)
        rid = self.requests.next()
        if self._queued is not None:
            self._queued.cancel()  # a no-op once it runs; its answer is then stale
        again = not p.runs and self._listed_as == (browse_sort(self.sort), self.where) and not self.paging.asking
        loaded = self.paging.loaded if again else 0
        self.paging = Paging(q.k)
        self.paging.asking = True  # the first page is on its way
        if not p.runs or self.host.lib is None:
            self._queued = None
            self._shown = None
            self.busy_changed.emit(False)
            if not again:
                self._listed_as = None
                self.idle.emit(p.note if not p.runs else "Opening the library…")
            if self.host.lib is not None:
                self._browse(rid, p.note, loaded)
            return
        self._listed_as = None
        where = self.where

        def work(lib: Library) -> tuple[SearchResult, list, Dates]:
            r = run(lib, q, where)
            return r, lib.votes(), lib.photo_dates([h.photo_id for h in r.hits])

        self.sent += 1
        self.busy_changed.emit(True)
        self._queued = self.host.call("search", work, lambda r: self._answer(rid, q, r, p.note),
                                      lambda e: self._failed(rid, e))

    def _browse(self, rid: int, note: str, loaded: int) -> None:
        """The library's first page; read again (``loaded`` > 0), as far as it was loaded."""
        sort, where, page = browse_sort(self.sort), self.where, max(self.paging.size, loaded)
        self.paging.size = page  # the size asked for: fewer rows back is the end

        def listed(r: BrowsePage) -> None:
            self._listed(rid, r, note, (sort, where), loaded > 0)

        self._queued = self.host.call("search", lambda lib: lib.browse(sort, where, 0, page), listed,
                                      lambda e: self._failed(rid, e))

    def _answer(self, rid: int, q: Query, r: tuple[SearchResult, list, Dates], note: str) -> None:
        if not self.requests.is_current(rid):
            self.dropped += 1
            return
        self._queued = None
        self._shown = q
        self.paging.got(len(r[0].hits))
        self.dates = r[2]
        self.busy_changed.emit(False)
        self.answered.emit(r[0], r[1], note)

    def _listed(self, rid: int, page: BrowsePage, note: str, listed_as: tuple[str, PhotoFilter],
                again: bool) -> None:
        if not self.requests.is_current(rid):
            return  # a listing asked for before a newer request (``dropped`` counts searches)
        self._queued = None
        self.paging.got(len(page.photos), page.total)
        self._listed_as, self.refreshed = listed_as, again
        self.browsed.emit(page, note)

    def _failed(self, rid: int, e: BaseException) -> None:
        if not self.requests.is_current(rid):
            self.dropped += 1
            return
        self._queued = None
        self._listed_as = None
        self.paging.failed()
        self.busy_changed.emit(False)
        self.failed.emit(describe_error(e))

    # -- more pages ----------------------------------------------------------------------

    def fetch_more(self) -> None:
        """The grid reached the end of what it lists: ask for the next page on a worker."""
        ask = self.paging.ask()
        if ask is None or self.host.lib is None:
            if ask is not None:
                self.paging.failed()
            return
        offset, limit = ask
        rid, shown, where = self.requests.latest, self._shown, self.where
        if shown is None:
            sort = browse_sort(self.sort)
            self.host.call("search", lambda lib: (lib.browse(sort, where, offset, limit), {}),
                           lambda r: self._more(rid, r, len(r[0].photos)), lambda e: self._more_failed(rid, e))
            return
        q = dataclasses.replace(shown, k=offset + limit)

        def work(lib: Library) -> tuple[SearchResult, Dates]:
            r = run(lib, q, where)
            return r, lib.photo_dates([h.photo_id for h in r.hits[offset:]])

        self.host.call("search", work, lambda r: self._more(rid, r, len(r[0].hits) - offset),
                       lambda e: self._more_failed(rid, e))

    def _more(self, rid: int, r: tuple[SearchResult | BrowsePage, Dates], new: int) -> None:
        if rid != self.requests.latest:
            return  # another listing since: this page belongs to none
        self.paging.got(new)
        self.extended.emit(r[0], r[1])

    def _more_failed(self, rid: int, e: BaseException) -> None:
        if rid == self.requests.latest:
            self.paging.failed()
            self.more_failed.emit(f"No more photos could be listed: {describe_error(e)}")
