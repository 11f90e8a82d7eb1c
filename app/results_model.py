"""The results list model: one row per hit of the search on screen.

Rows are the engine's hits (photo id, path, score, content hash); nothing heavier. The
thumbnail (DecorationRole) comes from :class:`app.thumbs.Thumbnails`, which queues a
request the first time a row is painted and answers with a placeholder until then. The
vote shown on a tile comes from the window's ``app.state.votes.VoteBook``.
Dragging rows out gives file URLs (to the file manager, or to the reference well).
A name that is not UTF-8 is shown with escapes (``engine.fspath.shown``) and its URL is
made from its bytes (``app.reveal.file_url``): Qt would drop what it cannot decode.
GUI-thread-only.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QPixmap

from app.reveal import file_url
from app.state.votes import TileVote
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


class ResultsModel(QAbstractListModel):
    def __init__(self, thumbs: ThumbSource | None = None, votes: VoteSource | None = None, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self.votes = votes
        self.result: SearchResult | None = None
        self._hits: tuple[Hit, ...] = ()
        self._rows: dict[int, int] | None = None  # photo id -> row, built when first needed
        self._shas: dict[str, int] | None = None  # content hash -> row, likewise
        self.cutoff = 0

    def set_result(self, result: SearchResult | None) -> None:
        self.beginResetModel()
        self.result = result
        self._hits = result.hits if result is not None else ()
        self.cutoff = result.cutoff if result is not None else 0
        self._rows = self._shas = None
        self.endResetModel()

    def hit(self, row: int) -> Hit:
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
            side = "above" if h.rank < self.cutoff else "below"
            return f"{shown(h.path)}\nscore {h.score:.3f} · rank {h.rank + 1} · {side} the cut-off"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{shown(os.path.basename(h.path))}, score {h.score:.2f}"
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor(Qt.GlobalColor.gray) if h.rank >= self.cutoff else None
        return self._custom(h, role)

    def _custom(self, h: Hit, role: int) -> Any:
        if role == Role.PHOTO_ID:
            return h.photo_id
        if role == Role.PATH:
            return h.path
        if role == Role.SCORE:
            return h.score
        if role == Role.RANK:
            return h.rank
        if role == Role.STRONG:
            return h.rank < self.cutoff
        if role == Role.SHA256:
            return h.sha256
        if role == Role.VOTE:
            return self.votes.tile(h.sha256) if self.votes is not None else None
        if role == Role.BROKEN:
            return self.thumbs.broken(h.photo_id) if self.thumbs is not None else False
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
