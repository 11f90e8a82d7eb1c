"""The results list model: one row per photo on screen, a search's hits or the library.

Rows are the engine's hits (photo id, path, score, content hash), or, with no query,
the library's photos in order (``engine.browse.Listed``: photo id, path, date); nothing
heavier. Both grow a page at a time: ``canFetchMore`` asks ``more()`` (the listing's
paging, ``app.search``) and ``fetchMore`` emits ``more_wanted``; the answer comes back
through :meth:`extend`. A search's hits can be re-ordered by date or name
(:meth:`set_sort`, with the dates each page brings); the divider is drawn only in the
order of the scores. The thumbnail (DecorationRole) comes from
:class:`app.thumbs.Thumbnails`, which queues a request the first time a row is painted
and answers with a placeholder until then. The vote shown on a tile comes from the
window's ``app.state.votes.VoteBook``; without a query there is nothing to vote on.
Dragging rows out gives file URLs (to the file manager, or to the reference well).
A name that is not UTF-8 is shown with escapes (``engine.fspath.shown``) and its URL is
made from its bytes (``app.reveal.file_url``): Qt would drop what it cannot decode.
GUI-thread-only.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Protocol

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QPixmap

from app.reveal import file_url
from app.state.browse import Sort, ordered, when
from app.state.votes import TileVote
from engine.browse import BrowsePage, Listed
from engine.fspath import shown
from engine.library import Hit, SearchResult

Index = QModelIndex | QPersistentModelIndex


class ThumbSource(Protocol):
    def pixmap(self, photo_id: int) -> QPixmap | None: ...
    def broken(self, photo_id: int) -> bool: ...


class VoteSource(Protocol):
    def tile(self, sha256: str) -> TileVote | None: ...


class Role:
    PHOTO_ID = Qt.ItemDataRole.UserRole + 1
    PATH = Qt.ItemDataRole.UserRole + 2
    SCORE = Qt.ItemDataRole.UserRole + 3
    RANK = Qt.ItemDataRole.UserRole + 4
    STRONG = Qt.ItemDataRole.UserRole + 5  # above the steep-drop cut-off
    VOTE = Qt.ItemDataRole.UserRole + 6  # TileVote or None
    SHA256 = Qt.ItemDataRole.UserRole + 7
    BROKEN = Qt.ItemDataRole.UserRole + 8  # the thumbnail could not be made
    DATE = Qt.ItemDataRole.UserRole + 9  # (date, taken from EXIF) or None (engine.browse)
    VOTABLE = Qt.ItemDataRole.UserRole + 10  # found by a search: a vote has a question to belong to


class ResultsModel(QAbstractListModel):
    more_wanted = Signal()  # the view scrolled to the end and more() says there is more

    def __init__(self, thumbs: ThumbSource | None = None, votes: VoteSource | None = None, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self.votes = votes
        self.more: Callable[[], bool] = lambda: False  # whether the listing has another page to ask for
        self.result: SearchResult | None = None  # the search on screen (None: the library's listing)
        self.listing: BrowsePage | None = None  # the library's first page, while it is on screen
        self.sort = Sort.BEST
        self.dates: dict[int, tuple[float, bool]] = {}
        self._hits: list[Hit | Listed] = []
        self._rows: dict[int, int] | None = None  # photo id -> row, built when first needed
        self._shas: dict[str, int] | None = None  # content hash -> row, likewise
        self.cutoff = 0

    def set_result(self, result: SearchResult | None, dates: dict[int, tuple[float, bool]] | None = None) -> None:
        """A search's first page (or nothing); ``dates`` of its photos for ordering by date."""
        self.beginResetModel()
        self.result, self.listing = result, None
        self.dates = dict(dates or {})
        self._hits = ordered(result.hits, self.sort, self.dates) if result is not None else []
        self.cutoff = result.cutoff if result is not None else 0
        self._rows = self._shas = None
        self.endResetModel()

    def set_listing(self, page: BrowsePage) -> None:
        """The library's first page, in the engine's order."""
        self.beginResetModel()
        self.result, self.listing = None, page
        self.dates = {p.photo_id: (p.date, p.taken) for p in page.photos}
        self._hits = list(page.photos)
        self.cutoff = 0
        self._rows = self._shas = None
        self.endResetModel()

    def extend(self, more: SearchResult | BrowsePage, dates: dict[int, tuple[float, bool]] | None = None) -> None:
        """The next page of what is on screen: a search asked again for more hits, or the
        library's next page. Rows on screen stay where they are (in the order of scores)."""
        if isinstance(more, SearchResult):
            if self.result is None or more.query != self.result.query:
                return  # another listing is on screen now
            have = {h.photo_id for h in self._hits}
            new: list[Hit | Listed] = [h for h in more.hits if h.photo_id not in have]
            self.result = dataclasses.replace(self.result, hits=self.result.hits + tuple(new))
            self.dates.update(dates or {})
        else:
            if self.listing is None:
                return
            new = list(more.photos)
            self.dates.update({p.photo_id: (p.date, p.taken) for p in more.photos})
        if not new:
            return
        n = len(self._hits)
        self.beginInsertRows(QModelIndex(), n, n + len(new) - 1)
        self._hits.extend(new)
        self._rows = self._shas = None
        self.endInsertRows()
        if self.result is not None and self.sort is not Sort.BEST:
            self._reorder()  # merged into the order on screen

    def set_sort(self, sort: Sort) -> None:
        """Order a search's hits by score, date or name (the library's listing is ordered
        by the engine: a new order there is a new listing)."""
        self.sort = sort
        if self.result is not None:
            self._reorder()

    def _reorder(self) -> None:
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        rows = [self._hits[i.row()].photo_id for i in old]
        hits = self.result.hits if self.sort is Sort.BEST else self._hits  # type: ignore[union-attr]
        self._hits = ordered(hits, self.sort, self.dates)
        self._rows = self._shas = None
        self.changePersistentIndexList(old, [self.index(self.row_of(pid)) for pid in rows])
        self.layoutChanged.emit()

    @property
    def by_score(self) -> bool:
        """Rows are a search's hits in the order of their scores (the divider means something)."""
        return self.result is not None and self.sort is Sort.BEST

    def hit(self, row: int) -> Hit | Listed:
        return self._hits[row]

    def row_of(self, photo_id: int) -> int | None:
        if self._rows is None:
            self._rows = {h.photo_id: i for i, h in enumerate(self._hits)}
        return self._rows.get(photo_id)

    # -- Qt's model contract -------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._hits)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.parent().isValid() or not 0 <= index.row() < len(self._hits):
            return None
        h = self._hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return shown(os.path.basename(h.path))
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbs.pixmap(h.photo_id) if self.thumbs is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tip(h)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            name = shown(os.path.basename(h.path))
            return f"{name}, score {h.score:.2f}" if isinstance(h, Hit) else name
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor(Qt.GlobalColor.gray) if isinstance(h, Hit) and h.rank >= self.cutoff else None
        return self._custom(h, role)

    def _tip(self, h: Hit | Listed) -> str:
        date = self.dates.get(h.photo_id)
        dated = f"\n{when(date[0])} ({'taken' if date[1] else 'file date'})" if date else ""
        if not isinstance(h, Hit):
            return shown(h.path) + dated
        side = "above" if h.rank < self.cutoff else "below"
        return f"{shown(h.path)}\nscore {h.score:.3f} · rank {h.rank + 1} · {side} the cut-off{dated}"

    def _custom(self, h: Hit | Listed, role: int) -> Any:
        if role == Role.PHOTO_ID:
            return h.photo_id
        if role == Role.PATH:
            return h.path
        if role == Role.SCORE:
            return h.score if isinstance(h, Hit) else None
        if role == Role.RANK:
            return h.rank if isinstance(h, Hit) else None
        if role == Role.STRONG:
            return h.rank < self.cutoff if isinstance(h, Hit) else True
        if role == Role.SHA256:
            return h.sha256
        if role == Role.VOTE:
            return self.votes.tile(h.sha256) if self.votes is not None and isinstance(h, Hit) else None
        if role == Role.BROKEN:
            return self.thumbs.broken(h.photo_id) if self.thumbs is not None else False
        if role == Role.DATE:
            return self.dates.get(h.photo_id)
        if role == Role.VOTABLE:
            return isinstance(h, Hit)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
                | Qt.ItemFlag.ItemNeverHasChildren)

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime.setUrls([file_url(self._hits[r].path) for r in rows])
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:
        return not parent.isValid() and bool(self._hits) and self.more()

    def fetchMore(self, parent: Index = QModelIndex()) -> None:
        if self.canFetchMore(parent):
            self.more_wanted.emit()

    # -- updates -------------------------------------------------------------------------

    def thumbnail_ready(self, photo_id: int) -> None:
        row = self.row_of(photo_id)
        if row is not None:
            i = self.index(row)
            self.dataChanged.emit(i, i, [Qt.ItemDataRole.DecorationRole, Role.BROKEN])

    def vote_changed(self, sha256: str) -> None:
        if self._shas is None:
            self._shas = {h.sha256: i for i, h in enumerate(self._hits)}
        row = self._shas.get(sha256)  # a photo is its bytes: one row at most
        if row is not None:
            i = self.index(row)
            self.dataChanged.emit(i, i, [Role.VOTE])
