"""The grid as a place to work in: the library listed without a query, more pages as it
scrolls, the order and filter bar, the viewer, thumbnail sizes and the View menu.

:class:`Browsing` connects the window's parts for all of this (the window builds the
widgets: ``browse_bar`` over the grid, ``pages`` holding the grid and the ``viewer``);
every engine call it makes goes through ``LibraryHost.call`` (a worker). The order and
filter logic is ``app.state.browse``; the listing and its pages are
``app.search.SearchController``'s. GUI-thread-only.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu

from app.state.browse import TILE_STEPS, Sort, browse_header, filter_words, folder_choices, thumb_px, zoom_tile
from app.state.window import header_words
from engine.browse import BrowsePage
from engine.library import LibraryStatus, SearchResult

if TYPE_CHECKING:
    from .main_window import MainWindow


class Browsing(QObject):
    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.w = w = window
        m, v, s = w.model, w.view, w.search
        self._folders_for: tuple | None = None  # (roots, photos) the folder list was read for
        self._note = ""  # the search's note, kept for the header as more pages come
        m.more = s.has_more
        m.more_wanted.connect(s.fetch_more)
        s.browsed.connect(self._browsed)
        s.extended.connect(self._extended)
        s.answered.connect(self._answered)  # after the window's own slot: the header says more
        s.more_failed.connect(w.say)
        bar = w.browse_bar
        bar.sort_changed.connect(self._sort)
        bar.filter_changed.connect(s.set_filter)
        bar.tile_changed.connect(self.set_tile)
        v.zoom_requested.connect(self.zoom)
        v.view_requested.connect(self.open_viewer)
        viewer = w.viewer
        viewer.closed.connect(self.close_viewer)
        viewer.vote_requested.connect(w.votes.vote)
        viewer.open_requested.connect(lambda r: w.open_with_system(m.hit(r).path))
        w.host.opened.connect(self._status)
        w.host.status_changed.connect(self._status)
        w.index_job.status.connect(self._status)
        w.index_job.finished.connect(lambda _: self._read_folders())
        w.thumbs.resize(thumb_px(v.tile_px))
        self._menu()

    def _menu(self) -> None:
        bar = self.w.menuBar()
        before = next((a for a in bar.actions() if a.text() == "&Library"), None)
        menu = QMenu("&View", bar)
        if before is None:
            bar.addMenu(menu)
        else:
            bar.insertMenu(before, menu)
        self.larger_action = menu.addAction("Larger thumbnails", lambda: self.zoom(1))
        self.larger_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.ZoomIn), QKeySequence("Ctrl+=")])
        self.smaller_action = menu.addAction("Smaller thumbnails", lambda: self.zoom(-1))
        self.smaller_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.ZoomOut)])
        menu.addSeparator()
        menu.addAction("View the selected photo (Space)", self._view_current)
        menu.addAction("Select all photos listed (Ctrl+A in the grid)", self._select_all)

    # -- listings ------------------------------------------------------------------------

    def _browsed(self, page: BrowsePage, note: str) -> None:
        w, s, v = self.w, self.w.search, self.w.view
        w.browse_bar.set_searching(False)
        w.result = None
        place = v.verticalScrollBar().value()
        current = w.model.hit(v.currentIndex().row()).photo_id if v.currentIndex().isValid() else None
        w.model.set_listing(page)
        w.header.setText(browse_header(page.total, s.sort, s.where) + (f" — {note}" if note else ""))
        if page.total == 0:
            v.set_message(note or "No photos in this library yet.")
        if s.refreshed:  # the same listing read again (new photos indexed): the grid keeps its place
            row = w.model.row_of(current) if current is not None else None
            v.keep_place(place, row)
        else:
            v.scrollToTop()

    def _answered(self, result: SearchResult, _stored, note: str) -> None:
        self.w.browse_bar.set_searching(True)
        if result.hits:
            self._search_header(note)

    def _extended(self, more: SearchResult | BrowsePage, dates) -> None:
        w = self.w
        w.model.extend(more, dates)
        if isinstance(more, SearchResult) and w.model.result is not None:
            w.result = w.model.result
            self._search_header(self._note)

    def _search_header(self, note: str) -> None:
        """The window's header words, with the filter and whether more come as the grid scrolls."""
        w, s = self.w, self.w.search
        self._note = note
        r = w.model.result
        if r is None:
            return
        n, more = len(r.hits), s.has_more()
        st = w.host.status
        total = st.photos if st is not None and not s.where.narrows else None
        head = header_words(n, r.cutoff, n if more else n + 1, total)
        if more and total is None:
            head += " · more as you scroll"
        narrowed = filter_words(s.where)
        w.header.setText(head + (f" · {narrowed}" if narrowed else "") + (f" — {note}" if note else ""))

    def _sort(self, sort: Sort, searching: bool) -> None:
        w = self.w
        if searching:
            w.model.set_sort(sort)  # the hits on screen, re-ordered
        else:
            w.search.set_sort(sort)  # the library, listed again
        current = w.view.currentIndex()
        if current.isValid():
            w.view.scrollTo(current)
        else:
            w.view.scrollToTop()

    # -- folders -------------------------------------------------------------------------

    def _status(self, st: LibraryStatus) -> None:
        if self.w.model.result is not None and self.w.model.result.hits:
            self._search_header(self._note)  # the library's size may have been unknown when the answer came
        if (st.roots, st.photos) != self._folders_for:
            self._folders_for = (st.roots, st.photos)
            self._read_folders()

    def _read_folders(self) -> None:
        self.w.host.call("read", lambda lib: (lib.roots(), lib.folders()),
                         lambda r: self.w.browse_bar.set_folders(folder_choices(*r)))

    # -- the viewer ----------------------------------------------------------------------

    def open_viewer(self, row: int) -> None:
        w = self.w
        if 0 <= row < w.model.rowCount():
            w.pages.setCurrentWidget(w.viewer)
            w.viewer.show_row(row)

    def close_viewer(self, row: int) -> None:
        w = self.w
        w.pages.setCurrentWidget(w.view)
        if 0 <= row < w.model.rowCount():
            w.view.setCurrentIndex(w.model.index(row))
            w.view.scrollTo(w.model.index(row))
        w.view.setFocus()

    def viewing(self) -> bool:
        return self.w.pages.currentWidget() is self.w.viewer

    def _view_current(self) -> None:
        rows = self.w.view.selected_rows()
        if rows and not self.viewing():
            self.open_viewer(rows[0])

    def _select_all(self) -> None:
        if not self.viewing():
            self.w.view.selectAll()
            self.w.view.setFocus()

    # -- thumbnail size ------------------------------------------------------------------

    def zoom(self, steps: int) -> None:
        """Ctrl+plus/minus and Ctrl+wheel: the photo in the viewer, else the thumbnails."""
        if self.viewing():
            self.w.viewer.photo.zoom_by(steps)
        else:
            self.set_tile(zoom_tile(self.w.view.tile_px, steps))

    def set_tile(self, px: int) -> None:
        """Thumbnails of ``px`` pixels: the grid, the thumbnails asked for, the slider, remembered."""
        w = self.w
        px = min(TILE_STEPS[-1], max(TILE_STEPS[0], int(px)))
        w.view.set_tile_px(px)
        w.thumbs.resize(thumb_px(px))
        w.browse_bar.set_tile(px)
        if px != w.prefs.tile_px:
            w.prefs = dataclasses.replace(w.prefs, tile_px=px)
            w.settings.setValue("prefs/tile_px", px)
